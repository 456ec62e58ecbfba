; The floor: a static x86-64 ELF that prints "Hello world!" and exits 0. No libc, no sections,
; no padding: one ELF header, one program header, the code and the text. Assemble with
; `nasm -f bin -o app hello.asm`.
BITS 64
        org     0x400000

elf_header:
        db      0x7F, "ELF", 2, 1, 1, 0         ; 64-bit, little-endian, ELF version 1, System V
        times 8 db 0
        dw      2                               ; e_type: an executable
        dw      0x3E                            ; e_machine: x86-64
        dd      1                               ; e_version
        dq      start                           ; e_entry
        dq      program_header - $$             ; e_phoff
        dq      0                               ; e_shoff: no section headers
        dd      0                               ; e_flags
        dw      elf_header_size                 ; e_ehsize
        dw      program_header_size             ; e_phentsize
        dw      1                               ; e_phnum
        dw      0, 0, 0                         ; e_shentsize, e_shnum, e_shstrndx
elf_header_size equ $ - elf_header

program_header:
        dd      1                               ; p_type: PT_LOAD, the whole file
        dd      5                               ; p_flags: read and execute
        dq      0                               ; p_offset
        dq      $$                              ; p_vaddr
        dq      $$                              ; p_paddr
        dq      file_size                       ; p_filesz
        dq      file_size                       ; p_memsz
        dq      0x1000                          ; p_align
program_header_size equ $ - program_header

start:
        mov     eax, 1                          ; write(
        mov     edi, eax                        ;   1, standard output,
        lea     rsi, [rel message]              ;   the message,
        mov     edx, message_size               ;   its length)
        syscall
        mov     eax, 60                         ; exit(
        xor     edi, edi                        ;   0)
        syscall

message:
        db      "Hello world!", 10
message_size equ $ - message

file_size equ $ - $$
