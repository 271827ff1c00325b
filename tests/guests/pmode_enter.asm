; pmode_enter: real mode -> protected mode -> real mode (SDM Vol. 3, 9.9
; "Mode switching"), segment bases and limits in protected mode.
;
; ENTER_PMODE (harness) does: LGDT, CR0.PE=1, far JMP to the flat 32-bit code
; segment 0x08, loads DS/ES/FS/GS/SS with the flat data segment 0x10, ESP =
; 0x80000, LIDT, LTR. LEAVE_PMODE does the SDM 9.9.2 sequence: far JMP to a
; 16-bit code segment (limit 0xFFFF), load the data segments with a 16-bit
; 64 KiB data segment, clear CR0.PE, far JMP to a real-mode CS, reload the
; segment registers, LIDT of the real-mode IVT.
;
; Segment limit checks (SDM Vol. 3, 5.3): an access is allowed only if every
; byte of it lies within [0, limit] of an expand-up segment; otherwise #GP(0)
; for DS/ES/FS/GS (#SS(0) for SS). The fault is precise: the saved EIP is the
; faulting instruction and its destination is not modified.

%include "harness.inc"

rm_int40_flag equ TEST_VARS+0x00

CODE16
start:
  PRINT "pmode_enter: protected mode entry/exit and segment limits", 10
  SET_IVT 0x40, rm_int40
  ENTER_PMODE pm_main

rm_int40:
  push ds
  push word 0
  pop ds
  mov word [rm_int40_flag], 0x4040
  pop ds
  iret

CODE32
pm_main:
; ---------------------------------------------------------------------------
  GROUP 1, "in 32-bit protected mode"
  mov eax, cr0
  and eax, 1
  ASSERT32 eax, 1                       ; CR0.PE
  ASSERT_SREG cs, SEL_CODE32
  ASSERT_SREG ds, SEL_DATA32
  ASSERT_SREG ss, SEL_DATA32
  str ax
  ASSERT16 ax, SEL_TSS
  sgdt [TEST_VARS+0x10]
  ASSERT16 word [TEST_VARS+0x10], GDT_LIMIT
  ASSERT32 dword [TEST_VARS+0x12], GDT_BASE
  ; default operand size is 32 bits in a D=1 code segment: this PUSH moves
  ; ESP by 4 without a prefix
  mov edx, esp
  ASSERT32 edx, STACK0_TOP

; ---------------------------------------------------------------------------
  GROUP 2, "32-bit stack and addressing"
  push dword 0xA5A5F00D
  mov edx, esp
  ASSERT32 edx, STACK0_TOP - 4          ; ESP, not SP: 0x7FFFC
  ASSERT32 dword [STACK0_TOP - 4], 0xA5A5F00D
  push word 0x1234                      ; 66h: 2-byte push
  mov edx, esp
  ASSERT32 edx, STACK0_TOP - 6
  pop ax
  pop ebx
  ASSERT16 ax, 0x1234
  ASSERT32 ebx, 0xA5A5F00D
  mov edx, esp
  ASSERT32 edx, STACK0_TOP
  call sub_ret_addr                     ; EAX = return address, EDX = ESP there
.ret_here:
  ASSERT32 eax, .ret_here
  ASSERT32 edx, STACK0_TOP - 4
  ; memory above 1 MiB (A20 on, 32-bit offsets)
  mov dword [0x000FF0], 0x11111111
  mov dword [0x100FF0], 0x22222222      ; would alias 0xFF0 if A20 were masked
  mov dword [0x200004], 0x13579BDF
  ASSERT32 dword [0x000FF0], 0x11111111
  ASSERT32 dword [0x100FF0], 0x22222222
  ASSERT32 dword [0x200004], 0x13579BDF
  ; segment base: SEL_SMALL has base 0x20000
  mov ax, SEL_SMALL
  mov es, ax
  mov dword [es:0x10], 0xFEEDFACE
  ASSERT32 dword [SMALL_BASE + 0x10], 0xFEEDFACE
  mov dword [es:SMALL_LIMIT - 3], 0x0BADCAFE   ; last dword inside the limit
  ASSERT32 dword [SMALL_BASE + SMALL_LIMIT - 3], 0x0BADCAFE
  mov al, [es:SMALL_LIMIT]              ; last byte: allowed
  ASSERT8 al, 0x0B

; ---------------------------------------------------------------------------
  GROUP 3, "segment limit violations -> #GP(0)"
  mov ax, SEL_SMALL
  mov es, ax
  ; read one byte past the limit
  mov eax, 0x11111111
  EXPECT_EXC 13, .r1
.f1:
  mov eax, [es:SMALL_LIMIT + 1]
  FAIL 3, "no #GP reading past the segment limit"
.r1:
  CHECK_EXC 13, 0, .f1, SEL_CODE32
  ASSERT32 eax, 0x11111111              ; destination untouched
  ; no privilege change: EFLAGS, CS, EIP, error code pushed on the current
  ; stack (ESP was STACK0_TOP) -> the saved EIP is at STACK0_TOP - 12
  ASSERT32 dword [caught_frame], STACK0_TOP - 12
  ; a dword whose last byte is past the limit
  EXPECT_EXC 13, .r2
.f2:
  mov eax, [es:SMALL_LIMIT - 2]
  FAIL 3, "no #GP for a dword straddling the limit"
.r2:
  CHECK_EXC 13, 0, .f2, SEL_CODE32
  ; write past the limit: memory must not change
  EXPECT_EXC 13, .r3
.f3:
  mov byte [es:SMALL_LIMIT + 1], 0x5A
  FAIL 3, "no #GP writing past the segment limit"
.r3:
  CHECK_EXC 13, 0, .f3, SEL_CODE32
  ASSERT8 byte [SMALL_BASE + SMALL_LIMIT + 1], 0
  ; the large offset 0x00100010 is not wrapped into the segment either
  EXPECT_EXC 13, .r4
.f4:
  mov eax, [es:0x00100010]
  FAIL 3, "no #GP for a large offset"
.r4:
  CHECK_EXC 13, 0, .f4, SEL_CODE32
  mov ax, SEL_DATA32
  mov es, ax

; ---------------------------------------------------------------------------
  ; With paging off the JIT's accesses go through identity translations in
  ; the TLB, made with the A20 mask of their time: masking A20 (port 0x92)
  ; under a hot loop must reach the loop's reads at once.
  GROUP 4, "A20 masked under a hot loop (paging off)"
  mov dword [0x000FF8], 0x11111111
  mov dword [0x100FF8], 0x22222222
  xor esi, esi
  mov ecx, 200
.a20_loop:
  cmp ecx, 100
  jne .a20_read
  in al, 0x92
  and al, ~2
  out 0x92, al                          ; A20 masked: 0x100FF8 is 0xFF8
  jmp .a20_read                         ; (the read in a block of its own)
.a20_read:
  add esi, [0x100FF8]
  loop .a20_loop
  in al, 0x92
  or al, 2
  out 0x92, al
  ASSERT32 esi, (100 * 0x22222222 + 100 * 0x11111111) & 0xFFFFFFFF
  ASSERT32 dword [0x100FF8], 0x22222222

; ---------------------------------------------------------------------------
  GROUP 5, "back to real mode"
  LEAVE_PMODE rm_back

CODE32
sub_ret_addr:
  mov eax, [esp]
  mov edx, esp
  ret

CODE16
rm_back:
  mov eax, cr0
  and eax, 1
  ASSERT32 eax, 0                       ; CR0.PE clear
  ASSERT_SREG cs, 0xF000
  mov dx, sp
  ASSERT16 dx, RM_STACK_TOP
  ; real-mode addressing: linear = segment * 16 + offset
  push word 0x1234
  pop ds
  mov word [0x0010], 0xBEEF             ; linear 0x12350
  push word 0x1235
  pop es
  ASSERT16 word [es:0x0000], 0xBEEF
  push word 0x1000
  pop es
  ASSERT16 word [es:0x2350], 0xBEEF
  ; data written in protected mode at linear 0x20010 through SEL_SMALL
  push word 0x2000
  pop es
  ASSERT32 dword [es:0x0010], 0xFEEDFACE
  push word 0
  pop ds
  ; the real-mode IVT is used again (IDTR base 0, limit 0x3FF)
  mov word [rm_int40_flag], 0
  int 0x40
  ASSERT16 word [rm_int40_flag], 0x4040
  ; a 16-bit push moves SP by 2 again
  push ax
  mov dx, sp
  pop ax
  ASSERT16 dx, RM_STACK_TOP - 2

  PASS
