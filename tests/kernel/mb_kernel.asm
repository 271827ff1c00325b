; A Multiboot v1 kernel with the a.out kludge (nasm -f bin), for
; `nomad86 -kernel mb_kernel.bin -m 32M -initrd "MODULE modarg" -append "..."`.
; Checks the boot loader's hand-over: EAX magic, the info structure (memory
; sizes against -m 32M, the mmap, its command line, one module's bytes and
; command line), the flat segments; prints "multiboot: ok" and exits 0x10.
bits 32
org 0x100000
%include "lib.inc"

MB_MAGIC equ 0x1badb002
MB_FLAGS equ 0x00010003     ; page-align modules, memory info, a.out kludge
EXPECT_MEM_UPPER equ (32 - 1) * 1024

header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd header               ; header_addr
    dd 0x100000             ; load_addr
    dd load_end             ; load_end_addr
    dd bss_end              ; bss_end_addr
    dd start                ; entry_addr

start:
    mov esp, stack_top
    cmp eax, 0x2badb002
    FAIL_UNLESS e, msg_magic
    mov ax, cs
    cmp ax, 0x10
    FAIL_UNLESS e, msg_cs
    mov ax, ds
    cmp ax, 0x18
    FAIL_UNLESS e, msg_ds
    pushfd
    pop eax
    test eax, 0x200
    FAIL_UNLESS z, msg_if
    mov eax, cr0
    and eax, 0x80000001
    cmp eax, 1
    FAIL_UNLESS e, msg_cr0
    ; bss zeroed
    cmp dword [bss_probe], 0
    FAIL_UNLESS e, msg_bss

    mov eax, [ebx]          ; flags: MEM | CMDLINE | MODS | MMAP
    and eax, 0x4d
    cmp eax, 0x4d
    FAIL_UNLESS e, msg_flags
    cmp dword [ebx + 4], 640
    FAIL_UNLESS e, msg_lower
    cmp dword [ebx + 8], EXPECT_MEM_UPPER
    FAIL_UNLESS e, msg_upper

    ; command line (QEMU prepends the kernel's file name)
    mov esi, [ebx + 16]
    mov edi, want_cmdline
    call contains
    FAIL_UNLESS e, msg_cmdline

    ; mmap: 4 entries of 24 bytes; the last one usable from 1 MiB to 32 MiB
    cmp dword [ebx + 44], 4 * 24
    FAIL_UNLESS e, msg_mmap
    mov esi, [ebx + 48]
    cmp dword [esi + 0], 20
    FAIL_UNLESS e, msg_mmap
    cmp dword [esi + 3 * 24 + 4], 0x100000
    FAIL_UNLESS e, msg_mmap
    cmp dword [esi + 3 * 24 + 12], 31 * 1024 * 1024
    FAIL_UNLESS e, msg_mmap
    cmp dword [esi + 3 * 24 + 20], 1
    FAIL_UNLESS e, msg_mmap

    ; one module, page-aligned above the kernel, starting with "MODULE-OK"
    cmp dword [ebx + 20], 1
    FAIL_UNLESS e, msg_mods
    mov edx, [ebx + 24]
    mov eax, [edx]
    test eax, 0xfff
    FAIL_UNLESS z, msg_mod_align
    cmp eax, bss_end
    FAIL_UNLESS ae, msg_mod_align
    mov ecx, [edx + 4]
    sub ecx, eax
    cmp ecx, 4096 + 17      ; the size the test writes
    FAIL_UNLESS e, msg_mod_size
    cmp dword [eax], 'MODU'
    FAIL_UNLESS e, msg_mod_data
    cmp dword [eax + 4], 'LE-O'
    FAIL_UNLESS e, msg_mod_data
    mov esi, [edx + 8]
    mov edi, want_modarg
    call contains
    FAIL_UNLESS e, msg_mod_cmdline
    jmp pass

LIB_ROUTINES

msg_pass: db "multiboot: ok", 10, 0
msg_fail: db "multiboot: FAIL ", 0
msg_magic: db "EAX is not 0x2BADB002", 0
msg_cs: db "CS is not 0x10", 0
msg_ds: db "DS is not 0x18", 0
msg_if: db "IF is set", 0
msg_cr0: db "CR0 is not PE without PG", 0
msg_bss: db "bss not zeroed", 0
msg_flags: db "info flags", 0
msg_lower: db "mem_lower", 0
msg_upper: db "mem_upper does not match -m 32M", 0
msg_cmdline: db "command line", 0
msg_mmap: db "mmap", 0
msg_mods: db "mods_count", 0
msg_mod_align: db "module start", 0
msg_mod_size: db "module size", 0
msg_mod_data: db "module bytes", 0
msg_mod_cmdline: db "module command line", 0
want_cmdline: db "hello-multiboot", 0
want_modarg: db " modarg", 0

load_end:

section .bss                ; not in the file: the loader zeroes it
    alignb 4
bss_probe: resd 1
    resb 4096
stack_top:
bss_end:
