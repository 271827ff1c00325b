; pit_irq_pmode: PIT IRQ0 through the remapped 8259A to a 32-bit IDT gate.
;
; The master PIC is remapped to vectors 0x20-0x27 (slave 0x28-0x2F) so that
; IRQs do not collide with CPU exceptions 0x08-0x0F; every other IDT vector
; keeps the harness default handler, so an IRQ0 delivered on the old vector
; 8 (or anywhere else) fails the test as an unexpected exception.
; SDM Vol. 3, 6.12.1.3: an interrupt gate clears IF when the handler is
; entered, a trap gate leaves IF unchanged; both save the old EFLAGS (with
; IF = 1) on the stack and IRET restores it.

%include "harness.inc"

ticks     equ TEST_VARS+0x00
last_if   equ TEST_VARS+0x04        ; EFLAGS.IF seen by PUSHFD in the handler
frame_if  equ TEST_VARS+0x08        ; IF in the saved EFLAGS
isr_in    equ TEST_VARS+0x0C        ; master ISR read in the handler
frame_cs  equ TEST_VARS+0x10

%macro WAIT_TICKS 1
%%w:
  sti
  hlt
  cli
  cmp dword [ticks], %1
  jb %%w
%endmacro

CODE16
start:
  PRINT "pit_irq_pmode: IRQ0 through a 32-bit IDT gate", 10
  ENTER_PMODE pm_main

CODE32
pm_main:
; ---------------------------------------------------------------------------
  GROUP 1, "PIC remapped to 0x20/0x28, IRQ0 via an interrupt gate"
  PIC_INIT 0x20, 0x28, 0xFE, 0xFF       ; only IRQ0 unmasked
  SET_GATE 0x20, SEL_CODE32, irq0_handler, GATE_INT32
  PIT_START_1KHZ
  mov dword [last_if], -1
  PRINT "waiting for 20 ticks (STI; HLT)", 10
  WAIT_TICKS 20
  ASSERT32 dword [last_if], 0           ; interrupt gate: IF = 0 inside
  ASSERT32 dword [frame_if], FL_IF      ; the interrupted code had IF = 1
  ASSERT32 dword [frame_cs], SEL_CODE32
  ASSERT8 byte [isr_in], 0x01           ; IR0 in service before the EOI
  mov al, PIC_READ_ISR
  out PIC1_CMD, al
  in al, PIC1_CMD
  ASSERT8 al, 0                         ; EOI cleared it
  pushfd
  pop eax
  and eax, FL_IF
  ASSERT32 eax, 0                       ; CLI after the wait

; ---------------------------------------------------------------------------
  GROUP 2, "IRQ0 via a trap gate keeps IF = 1"
  SET_GATE 0x20, SEL_CODE32, irq0_handler, GATE_TRAP32
  mov dword [last_if], -1
  mov eax, [ticks]
  add eax, 20
  WAIT_TICKS eax
  ASSERT32 dword [last_if], FL_IF       ; trap gate: IF unchanged (1)
  ASSERT32 dword [frame_if], FL_IF
  ASSERT8 byte [isr_in], 0x01

; ---------------------------------------------------------------------------
  GROUP 3, "masking IRQ0 in the IMR stops the ticks"
  SET_GATE 0x20, SEL_CODE32, irq0_handler, GATE_INT32
  mov al, 0xFF
  out PIC1_DATA, al
  mov ebx, [ticks]
  sti
  mov ecx, 2000000                      ; spin with IF = 1
.spin:
  dec ecx
  jnz .spin
  ; and until the masked request shows in the IRR (proves time passed)
  mov ecx, 5000000
.irr:
  mov al, PIC_READ_IRR
  out PIC1_CMD, al
  in al, PIC1_CMD
  test al, 1
  jnz .seen
  dec ecx
  jnz .irr
  cli
  FAIL 3, "IRR bit 0 never set while masked"
.seen:
  cli
  ASSERT32 dword [ticks], ebx
  mov al, 0xFE                          ; unmask: the pending one arrives
  out PIC1_DATA, al
  inc ebx
  WAIT_TICKS ebx
  PASS

; ---------------------------------------------------------------------------
irq0_handler:
  push eax
  pushfd
  pop eax
  and eax, FL_IF
  mov [last_if], eax
  mov eax, [esp + 12]                   ; saved EFLAGS (above EAX, EIP, CS)
  and eax, FL_IF
  mov [frame_if], eax
  movzx eax, word [esp + 8]             ; saved CS
  mov [frame_cs], eax
  mov al, PIC_READ_ISR
  out PIC1_CMD, al
  in al, PIC1_CMD
  mov [isr_in], al
  inc dword [ticks]
  mov al, PIC_EOI
  out PIC1_CMD, al
  pop eax
  iretd
