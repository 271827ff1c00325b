; A fake Linux bzImage (nasm -f bin): a boot sector and one setup sector
; holding a 2.15 setup header, then a 32-bit "kernel" loaded at 1 MiB that
; checks the 32-bit boot protocol's hand-over for
; `nomad86 -kernel bzimage.bin -m 32M -initrd INITRD -append "console=ttyS0 hello-linux"`:
; ESI = boot_params with the header copied, type_of_loader, the command
; line, the initrd (page-aligned, its bytes, its size), the e820 map, the
; flat boot segments 0x10/0x18, EBX=EBP=EDI=0, IF=0, CR0.PE without PG.
; Prints "linux: ok" and exits 0x10.
%include "lib.inc"

SETUP_SECTS equ 1
EXPECT_INITRD_SIZE equ 8192 + 100
EXPECT_RAM equ 32 * 1024 * 1024

section setup start=0
bits 16
    times 0x1f1 - ($ - $$) db 0
    db SETUP_SECTS          ; 0x1f1 setup_sects
    dw 0                    ; 0x1f2 root_flags
    dd 0                    ; 0x1f4 syssize
    dw 0                    ; 0x1f8 ram_size
    dw 0                    ; 0x1fa vid_mode
    dw 0                    ; 0x1fc root_dev
    dw 0xaa55               ; 0x1fe boot_flag
    db 0xeb, hdr_end - 0x202 ; 0x200 jump over the header
    db "HdrS"               ; 0x202
    dw 0x020f               ; 0x206 version 2.15
    dd 0                    ; 0x208 realmode_swtch
    dw 0                    ; 0x20c start_sys_seg
    dw 0                    ; 0x20e kernel_version
    db 0                    ; 0x210 type_of_loader
    db 0x01                 ; 0x211 loadflags: LOADED_HIGH
    dw 0                    ; 0x212 setup_move_size
    dd 0x100000             ; 0x214 code32_start
    dd 0                    ; 0x218 ramdisk_image
    dd 0                    ; 0x21c ramdisk_size
    dd 0                    ; 0x220 bootsect_kludge
    dw 0                    ; 0x224 heap_end_ptr
    db 0                    ; 0x226 ext_loader_ver
    db 0                    ; 0x227 ext_loader_type
    dd 0                    ; 0x228 cmd_line_ptr
    dd 0x37ffffff           ; 0x22c initrd_addr_max
    dd 0x200000             ; 0x230 kernel_alignment
    db 0                    ; 0x234 relocatable_kernel
    db 0                    ; 0x235 min_alignment
    dw 0                    ; 0x236 xloadflags
    dd 255                  ; 0x238 cmdline_size
    dd 0                    ; 0x23c hardware_subarch
    dq 0                    ; 0x240 hardware_subarch_data
    dd 0                    ; 0x248 payload_offset
    dd 0                    ; 0x24c payload_length
    dq 0                    ; 0x250 setup_data
    dq 0x100000             ; 0x258 pref_address
    dd 0x40000              ; 0x260 init_size
    dd 0                    ; 0x264 handover_offset
    dd 0                    ; 0x268 kernel_info_offset
hdr_end:
    times (SETUP_SECTS + 1) * 512 - ($ - $$) db 0

section kernel start=1024 vstart=0x100000  ; (SETUP_SECTS + 1) * 512
bits 32
start:
    mov [saved_esi], esi
    mov [saved_ebx], ebx
    mov [saved_ebp], ebp
    mov [saved_edi], edi
    mov esp, stack_top
    mov ax, cs
    cmp ax, 0x10
    FAIL_UNLESS e, msg_cs
    mov ax, ds
    cmp ax, 0x18
    FAIL_UNLESS e, msg_ds
    mov ax, ss
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
    mov eax, [saved_ebx]
    or eax, [saved_ebp]
    or eax, [saved_edi]
    FAIL_UNLESS z, msg_regs

    mov ebx, [saved_esi]    ; boot_params
    cmp dword [ebx + 0x202], 'HdrS'
    FAIL_UNLESS e, msg_hdr
    cmp word [ebx + 0x206], 0x020f
    FAIL_UNLESS e, msg_hdr
    cmp byte [ebx + 0x1f1], SETUP_SECTS
    FAIL_UNLESS e, msg_hdr
    cmp byte [ebx + 0x210], 0
    FAIL_UNLESS ne, msg_loader
    test byte [ebx + 0x211], 0x01
    FAIL_UNLESS nz, msg_hdr

    ; command line
    mov esi, [ebx + 0x228]
    mov edi, want_cmdline
    call contains
    FAIL_UNLESS e, msg_cmdline

    ; initrd: page-aligned, inside RAM, its size and first bytes
    mov eax, [ebx + 0x218]
    test eax, 0xfff
    FAIL_UNLESS z, msg_initrd
    cmp eax, 0x100000 + 0x40000
    FAIL_UNLESS ae, msg_initrd
    cmp dword [ebx + 0x21c], EXPECT_INITRD_SIZE
    FAIL_UNLESS e, msg_initrd_size
    mov ecx, eax
    add ecx, [ebx + 0x21c]
    cmp ecx, EXPECT_RAM
    FAIL_UNLESS be, msg_initrd
    cmp dword [eax], 'INIT'
    FAIL_UNLESS e, msg_initrd_data
    cmp dword [eax + 4], 'RD-O'
    FAIL_UNLESS e, msg_initrd_data

    ; e820: 4 entries, the first usable 0-0x9fc00, the last usable 1M-32M
    cmp byte [ebx + 0x1e8], 4
    FAIL_UNLESS e, msg_e820
    cmp dword [ebx + 0x2d0], 0
    FAIL_UNLESS e, msg_e820
    cmp dword [ebx + 0x2d0 + 8], 0x9fc00
    FAIL_UNLESS e, msg_e820
    cmp dword [ebx + 0x2d0 + 16], 1
    FAIL_UNLESS e, msg_e820
    cmp dword [ebx + 0x2d0 + 3 * 20], 0x100000
    FAIL_UNLESS e, msg_e820
    cmp dword [ebx + 0x2d0 + 3 * 20 + 8], EXPECT_RAM - 0x100000
    FAIL_UNLESS e, msg_e820
    cmp dword [ebx + 0x2d0 + 3 * 20 + 16], 1
    FAIL_UNLESS e, msg_e820

    ; the flat data segment really is flat: a write near 32 MiB through DS
    mov dword [EXPECT_RAM - 4096], 0x12345678
    cmp dword [EXPECT_RAM - 4096], 0x12345678
    FAIL_UNLESS e, msg_flat
    jmp pass

LIB_ROUTINES

msg_pass: db "linux: ok", 10, 0
msg_fail: db "linux: FAIL ", 0
msg_cs: db "CS is not 0x10", 0
msg_ds: db "DS/SS is not 0x18", 0
msg_if: db "IF is set", 0
msg_cr0: db "CR0 is not PE without PG", 0
msg_regs: db "EBX/EBP/EDI not zero", 0
msg_hdr: db "setup header not copied to boot_params", 0
msg_loader: db "type_of_loader is 0", 0
msg_cmdline: db "command line", 0
msg_initrd: db "initrd placement", 0
msg_initrd_size: db "initrd size", 0
msg_initrd_data: db "initrd bytes", 0
msg_e820: db "e820 map", 0
msg_flat: db "flat data segment", 0
want_cmdline: db "console=ttyS0 hello-linux", 0

    align 4
saved_esi: dd 0
saved_ebx: dd 0
saved_ebp: dd 0
saved_edi: dd 0
stack: times 1024 db 0
stack_top:
