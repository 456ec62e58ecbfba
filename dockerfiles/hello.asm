; The floor: a static x86-64 ELF of 91 bytes that prints "Hello world!" and exits 0.
; Assemble with `nasm -f bin -o app hello.asm`.
;
; An ELF header is 64 bytes and a program header 56, but Linux reads only some of their fields.
; Here the program header starts 24 bytes into the ELF header, so the two share 40 bytes, and the
; 21 bytes of code and the 13 of text sit in fields that the kernel ignores, joined by short
; jumps. Each field below says what the kernel makes of it. docs/floor.md draws the byte map.
;
; What the kernel checks, and no more: the magic, e_type (an executable), e_machine (x86-64),
; e_phentsize (56), e_phnum, and one loadable segment whose file size is at most its memory size
; and whose address and offset agree modulo the page size. It never reads e_ident past the magic,
; e_version, the section header fields, p_paddr, or (for a fixed-address executable) p_align.
;
; Where the program starts: e_entry and the program header's first 8 bytes are the same bytes,
; so the entry is (p_flags << 32) + p_type = 0x5_0000_0001. The segment maps the file's first
; page at 0x5_0000_0000, so the entry is the file's byte 1: the "ELF" of the magic, which x86-64
; reads as three REX prefixes of the instruction after them. Every register but rsp starts at 0.
;
; Not for emulators: qemu-user (an amd64 image on an arm64 machine) checks e_ident's class and
; refuses this file; the kernel, natively and in every container, loads it.
BITS 64
page    equ     0x5_0000_0000
        org     page

        db      0x7F, "ELF"             ; 0x00 e_ident: the magic; "ELF" is 3 REX prefixes
start:  mov     al, 1                   ; 0x04 e_ident (ignored): rax = 1, write
        lea     rsi, [rel message]      ; 0x06   rsi = the text
        jmp     short set_length        ; 0x0D   on in e_flags
        db      0                       ; 0x0F   the one byte no one uses
        dw      2                       ; 0x10 e_type: an executable
        dw      0x3E                    ; 0x12 e_machine: x86-64
write:  syscall                         ; 0x14 e_version (ignored): write(1, text, 13)
        jmp     short exit              ; 0x16   on after the text
program_header:
        dd      1                       ; 0x18 e_entry, low half = p_type: PT_LOAD
        dd      5                       ; 0x1C e_entry, high half = p_flags: read, execute
        dq      program_header - $$     ; 0x20 e_phoff = p_offset: 24, where this header is
        dq      page + (program_header - $$) ; 0x28 e_shoff (ignored) = p_vaddr
set_length:                             ; 0x30 e_flags, e_ehsize (ignored) = p_paddr (ignored)
        inc     edi                     ;   rdi = 1, standard output
        mov     dl, message_size        ;   rdx = 13, the text's length
        jmp     short write             ;   back to e_version
        dw      56                      ; 0x36 e_phentsize: the size of a program header
        dw      1                       ; 0x38 e_phnum: 1 = p_filesz: 1 byte, mapped as the
        dw      0, 0, 0                 ; 0x3A   whole first page (e_sh*: ignored)
        dq      1                       ; 0x40 p_memsz = p_filesz, so nothing is zeroed
message:
        db      "Hello world!", 10      ; 0x48 p_align (ignored), and on past the headers
message_size equ $ - message
exit:   mov     al, 60                  ; 0x55 rax = 60, exit (write returned 13)
        xor     edi, edi                ;   status 0
        syscall                         ;   exit(0)
