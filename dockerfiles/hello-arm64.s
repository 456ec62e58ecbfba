// The floor on arm64: a static AArch64 ELF of 145 bytes that prints "Hello world!" and exits 0.
// Assemble with `aarch64-linux-gnu-as -o hello.o hello-arm64.s` and keep only the bytes:
// `aarch64-linux-gnu-objcopy -O binary hello.o app`.
//
// One ELF header, one program header, and 8 instructions: 4 bytes each, aligned to 4, so the
// x86-64 floor's tricks (code from byte 1, headers overlapped at byte 24) don't apply. Three of
// them sit in fields no loader reads (e_shoff and e_flags, p_paddr), joined by branches.
// e_ident stays whole: QEMU (which runs arm64 programs on other machines) checks its class,
// data and version, and binfmt_misc only hands it a file whose e_ident padding is zero.
        .set    base, 0x400000
        .text
ehdr:   .byte   0x7F, 'E', 'L', 'F', 2, 1, 1, 0 // e_ident: 64-bit, little-endian, version 1
        .quad   0                               //   padding: binfmt_misc wants it zero
        .hword  2                               // 0x10 e_type: an executable
        .hword  183                             // 0x12 e_machine: AArch64
        .word   1                               // 0x14 e_version
        .quad   base + (start - ehdr)           // 0x18 e_entry
        .quad   phdr - ehdr                     // 0x20 e_phoff
start:  movz    x0, #1                          // 0x28 e_shoff (ignored): x0 = 1, stdout
        adr     x1, message                     //   x1 = the text
        b       length                          // 0x30 e_flags (ignored)
        .hword  64                              // 0x34 e_ehsize: QEMU checks it
        .hword  56                              // 0x36 e_phentsize
        .hword  1                               // 0x38 e_phnum
        .hword  0, 0, 0                         // 0x3A e_shentsize, e_shnum, e_shstrndx
phdr:   .word   1                               // 0x40 p_type: PT_LOAD, the whole file
        .word   5                               // 0x44 p_flags: read, execute
        .quad   0                               // 0x48 p_offset
        .quad   base                            // 0x50 p_vaddr
length: movz    x2, #(message_end - message)    // 0x58 p_paddr (ignored): x2 = 13
        b       write
        .quad   end - ehdr                      // 0x60 p_filesz
        .quad   end - ehdr                      // 0x68 p_memsz
write:  movz    x8, #64                         // 0x70 p_align (ignored): write(1, text, 13)
        svc     #0
        movz    x0, #0                          // exit(0)
        movz    x8, #93
        svc     #0
message: .ascii "Hello world!\n"
message_end:
end:
