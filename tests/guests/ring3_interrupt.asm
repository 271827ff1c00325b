; ring3_interrupt: privilege changes through the IDT (SDM Vol. 3, 6.12.1
; "Exception- or Interrupt-Handler Procedures", 5.8 / 6.12.1.1 protection).
;
; - IRET to a less privileged level pops EIP, CS, EFLAGS, ESP, SS and nulls
;   DS/ES/FS/GS if they hold a data segment whose DPL < new CPL (SDM IRET
;   pseudo-code, RETURN-TO-OUTER-PRIVILEGE-LEVEL).
; - INT n from CPL 3 through a DPL-3 interrupt gate to a DPL-0 non-conforming
;   code segment switches to SS0:ESP0 from the TSS and pushes (from high to
;   low) SS3, ESP3, EFLAGS, CS3, EIP (= the instruction after INT n); the
;   interrupt gate clears IF (and TF, NT, RF, VM).
; - INT n through a gate with DPL < CPL is a #GP with error code
;   vector*8 + 2 (IDT bit set, EXT clear for a software interrupt); the saved
;   EIP is the INT instruction (fault).

%include "harness.inc"

esp3_at_int equ TEST_VARS+0x00
handler_ran equ TEST_VARS+0x04

CODE16
start:
  PRINT "ring3_interrupt: INT from ring 3 through the IDT and the TSS", 10
  ENTER_PMODE pm_main

CODE32
pm_main:
  SET_GATE 0x80, SEL_CODE32, int80_handler, GATE_INT32_U   ; DPL 3
  SET_GATE 0x81, SEL_CODE32, int81_handler, GATE_INT32     ; DPL 0
  ; DS/ES/FS/GS hold SEL_DATA32 (DPL 0) when we IRET to ring 3
  ENTER_RING3 ring3_entry

ring3_entry:
; ---------------------------------------------------------------------------
  GROUP 1, "IRET to ring 3"
  ASSERT_SREG cs, SEL_CODE3
  ASSERT_SREG ss, SEL_DATA3
  ASSERT_SREG ds, 0                     ; nulled by IRET (DPL 0 < CPL 3)
  ASSERT_SREG es, 0
  ASSERT_SREG fs, 0
  ASSERT_SREG gs, 0
  mov edx, esp
  ASSERT32 edx, STACK3_TOP
  RING3_SEGS
  pushfd
  pop eax
  ASSERT32 eax, FL_IOPL3 | 0x2

; ---------------------------------------------------------------------------
  GROUP 2, "INT 0x80 through a DPL-3 gate"
  mov dword [handler_ran], 0
  mov ebx, 0xCAFEBABE
  mov [esp3_at_int], esp
  ; known flags: IOPL=3, OF SF ZF AF PF CF set, IF clear (POPFD at CPL 3
  ; cannot change IOPL but IOPL is already 3)
  push dword FL_IOPL3 | FL_ARITH | 0x2
  popfd
  mov [esp3_at_int], esp
  int 0x80
.after_int:
  pushfd                                ; flags restored by the IRET
  pop ecx
  ASSERT32 ecx, FL_IOPL3 | FL_ARITH | 0x2
  ASSERT32 dword [handler_ran], 1
  ASSERT32 eax, 0x80C0FFEE              ; set by the handler
  ASSERT32 ebx, 0xCAFEBABE
  mov edx, esp
  ASSERT32 edx, [esp3_at_int]
  ASSERT_SREG cs, SEL_CODE3
  ASSERT_SREG ss, SEL_DATA3
  ASSERT_SREG ds, SEL_DATA3             ; DPL-3 selector: kept by the IRET

; ---------------------------------------------------------------------------
  GROUP 4, "INT through a DPL-0 gate from ring 3 -> #GP(vector*8+2)"
  EXPECT_EXC 13, .r1
.f1:
  int 0x81
  FAIL 4, "INT 0x81 (DPL 0 gate) from ring 3 did not fault"
.r1:
  CHECK_EXC 13, 0x81*8 + 2, .f1, SEL_CODE3
  ; the #GP handler ran at ring 0 on the TSS stack: SS3, ESP3, EFLAGS, CS,
  ; EIP, error code pushed below TSS_ESP0 -> EIP slot at TSS_ESP0 - 20
  ASSERT32 dword [caught_frame], TSS_ESP0 - 20
  ASSERT32 dword [caught_ss], SEL_DATA32
  ; INT3 goes through the DPL-0 default gate of vector 3: also #GP(3*8+2)
  EXPECT_EXC 13, .r2
.f2:
  int3
  FAIL 4, "INT3 through a DPL-0 gate from ring 3 did not fault"
.r2:
  CHECK_EXC 13, 3*8 + 2, .f2, SEL_CODE3
  ; and the interrupted ring-3 state is intact
  mov edx, esp
  ASSERT32 edx, [esp3_at_int]
  ASSERT_SREG cs, SEL_CODE3

  PASS                                  ; IOPL 3: ring 3 may write the ports

; ---------------------------------------------------------------------------
int80_handler:
  ; runs at CPL 0 on SS0:ESP0 from the TSS. DS still holds the ring-3
  ; selector (an interrupt does not change DS).
  mov ebp, esp                          ; frame base
  GROUP 3, "in the INT 0x80 handler"
  ASSERT_SREG cs, SEL_CODE32
  ASSERT_SREG ss, SEL_DATA32
  ASSERT_SREG ds, SEL_DATA3
  ASSERT32 ebp, TSS_ESP0 - 20
  ASSERT32 dword [ebp + 0], ring3_entry.after_int     ; EIP after INT
  ASSERT16 word [ebp + 4], SEL_CODE3                  ; CS3
  ASSERT32 dword [ebp + 8], FL_IOPL3 | FL_ARITH | 0x2 ; EFLAGS
  mov eax, [esp3_at_int]
  ASSERT32 dword [ebp + 12], eax                      ; ESP3
  ASSERT16 word [ebp + 16], SEL_DATA3                 ; SS3
  ; the interrupt gate cleared IF; the arithmetic flags are untouched
  pushfd
  pop eax
  and eax, FL_IF | FL_IOPL3
  ASSERT32 eax, FL_IOPL3
  ASSERT32 ebx, 0xCAFEBABE
  mov dword [handler_ran], 1
  mov eax, 0x80C0FFEE
  iretd

int81_handler:
  FAIL 5, "INT 0x81 handler reached from ring 3 through a DPL-0 gate"
