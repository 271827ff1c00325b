; The guest the GDB stub tests debug (tests/gdb/gdb_suite.py). A 64 KiB
; firmware image following tests/guests/lib/harness.inc's conventions
; (mapped at 0xF0000 and below 4 GiB, reset vector at 0xFFF0, verdict on the
; isa-debug-exit port 0xF4: 0x10 = pass, exit status 33), but without the
; harness so every address the tests use is fixed here:
;
;   0xF0100  RM_BREAK   real mode, AX=0x1234 BX=0x5678, bytes 90 90 90 90
;   0xF0110  RM_INT     INT 0x40 (handler at F000:0180)
;   0xF0140  PM_JUMP    far JMP 0x08:0xF1000 (CR0.PE already set)
;   0xF1040  PM_BREAK   flat 32-bit protected mode, ECX=0xDEADBEEF
;   0xF1050  PM_WATCH   mov dword [0x700], 0xCAFEF00D (10 bytes; next: 0xF105A)
;   0xF1060  PM_SPIN    spins while dword [0x800] == 0, then exits with pass
;
; Run without a debugger it passes at once (the spin flag is preset by the
; code unless the test clears it through gdb).

DEBUG_EXIT_PORT equ 0xF4
WATCHED         equ 0x700
SPIN_FLAG       equ 0x800

%macro PAD_TO 1
  times (%1 - ($ - $$)) db 0x90
%endmacro

bits 16
section .image start=0 vstart=0
start:
  cli
  xor ax, ax
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov sp, 0x7000
  mov word [0x40*4], int40_handler
  mov word [0x40*4+2], 0xF000
  mov dword [SPIN_FLAG], 1
  mov ax, 0x1234
  mov bx, 0x5678
  PAD_TO 0x100
rm_break:
  nop
  nop
  nop
  nop
  mov byte [0x600], 0x11
  PAD_TO 0x110
rm_int:
  int 0x40
  o32 lgdt [cs:gdt_desc]
  mov eax, cr0
  or al, 1
  mov cr0, eax
  PAD_TO 0x140
pm_jump:
  jmp dword 0x08:0xF1000
  PAD_TO 0x180
int40_handler:
  mov word [0x602], 0x4040
  iret
  PAD_TO 0x200
gdt:
  dq 0
  dq 0x00CF9A000000FFFF         ; 0x08 flat 32-bit code
  dq 0x00CF92000000FFFF         ; 0x10 flat 32-bit data
gdt_desc:
  dw 3*8 - 1
  dd 0xF0000 + gdt

  PAD_TO 0x1000
bits 32
pm_entry:
  mov ax, 0x10
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov esp, 0x80000
  mov dword [WATCHED], 0
  mov ecx, 0xDEADBEEF
  PAD_TO 0x1040
pm_break:
  nop
  PAD_TO 0x1050
pm_watch:
  mov dword [WATCHED], 0xCAFEF00D
pm_after_watch:
  nop
  nop
  PAD_TO 0x1060
pm_spin:
  cmp dword [SPIN_FLAG], 0
  je pm_spin
  mov al, 0x10
  out DEBUG_EXIT_PORT, al
  hlt
  jmp $

  PAD_TO 0xFFF0
bits 16
reset:
  jmp 0xF000:start
  PAD_TO 0x10000
