; call_gate: far CALL/JMP through 32-bit call gates (SDM Vol. 3, 5.8.3 - 5.8.6,
; and the CALL / RET pseudo-code in Vol. 2).
;
; CALL through a DPL-3 call gate to a DPL-0 non-conforming code segment from
; CPL 3 is an inter-privilege call: the CPU loads SS0:ESP0 from the TSS and
; pushes on the new stack (SDM Figure 5-13): caller SS, caller ESP, then
; "parameter count" dwords copied from the caller's stack (in the same
; order, parameter 1 at the highest address), then caller CS and EIP.
; RETF n (inter-privilege) pops EIP, CS, skips n bytes, pops ESP, SS, then
; skips n bytes on the caller's stack too, and nulls DS/ES/FS/GS when they
; hold data segments with DPL < the new CPL.
; A JMP through a call gate can only reach a segment of the same privilege
; (non-conforming: DPL = CPL); no stack switch, no parameters.
; A call through a gate with DPL < CPL (or < RPL) is #GP(gate selector).

%include "harness.inc"

GATE_UP    equ SEL_SPARE1 | 3           ; DPL-3 gate -> ring 0, 2 params
GATE_JMP3  equ SEL_SPARE2 | 3           ; DPL-3 gate -> ring 3 code
GATE_K     equ SEL_SPARE3 | 3           ; DPL-0 gate (not usable from ring 3)

esp_at_call equ TEST_VARS+0x00
in_gate     equ TEST_VARS+0x04

CODE16
start:
  PRINT "call_gate: far CALL/JMP through call gates", 10
  ENTER_PMODE pm_main

CODE32
pm_main:
  SET_CALL_GATE GATE_UP,   SEL_CODE32, gate_target,  CALLGATE32_U, 2
  SET_CALL_GATE GATE_JMP3, SEL_CODE3,  jmp_target3,  CALLGATE32_U, 0
  SET_CALL_GATE GATE_K,    SEL_CODE32, gate_target,  CALLGATE32_K, 0
  ENTER_RING3 ring3

ring3:
  RING3_SEGS
; ---------------------------------------------------------------------------
  GROUP 1, "CALL FAR through a DPL-3 gate, 2 parameters"
  mov dword [in_gate], 0
  push dword 0x11111111                 ; parameter 1
  push dword 0x22222222                 ; parameter 2
  mov [esp_at_call], esp
  mov ebx, 0x5EED
  call GATE_UP:0                        ; offset is ignored for a gate
.ret_addr:
  GROUP 3, "after RETF 8 (back at ring 3)"
  ASSERT32 eax, 0x600D0001              ; result of the ring-0 routine
  ASSERT_SREG cs, SEL_CODE3
  ASSERT_SREG ss, SEL_DATA3
  mov edx, esp
  ASSERT32 edx, STACK3_TOP              ; past the two parameters
  ASSERT_SREG ds, 0                     ; held SEL_DATA32 (DPL 0): nulled
  ASSERT_SREG es, SEL_DATA3             ; DPL 3: kept
  RING3_SEGS
  ASSERT32 dword [in_gate], 1

; ---------------------------------------------------------------------------
  GROUP 4, "JMP FAR through a gate to the same privilege level"
  mov dword [esp_at_call], esp
  jmp GATE_JMP3:0
  FAIL 4, "JMP through the gate fell through"

jmp_target3:
  ASSERT_SREG cs, SEL_CODE3             ; CPL stays 3
  ASSERT_SREG ss, SEL_DATA3
  mov edx, esp
  ASSERT32 edx, [esp_at_call]           ; no stack switch, nothing pushed

; ---------------------------------------------------------------------------
  GROUP 5, "CALL through a DPL-0 gate from ring 3 -> #GP(gate)"
  EXPECT_EXC 13, .r1
.f1:
  call GATE_K:0
  FAIL 5, "no #GP"
.r1:
  CHECK_EXC 13, GATE_K & 0xFFF8, .f1, SEL_CODE3
  PASS

; ---------------------------------------------------------------------------
gate_target:                            ; ring 0, on the TSS stack
  mov ebp, esp
  GROUP 2, "in the ring-0 routine"
  ASSERT_SREG cs, SEL_CODE32            ; CPL 0
  ASSERT_SREG ss, SEL_DATA32            ; SS0 from the TSS
  ASSERT32 ebp, TSS_ESP0 - 24           ; 6 dwords pushed
  ASSERT32 dword [ebp + 0], ring3.ret_addr           ; return EIP
  ASSERT16 word [ebp + 4], SEL_CODE3                 ; return CS
  ASSERT32 dword [ebp + 8], 0x22222222               ; parameter 2 (copied)
  ASSERT32 dword [ebp + 12], 0x11111111              ; parameter 1 (copied)
  mov eax, [esp_at_call]
  ASSERT32 dword [ebp + 16], eax                     ; caller ESP
  ASSERT16 word [ebp + 20], SEL_DATA3                ; caller SS
  ASSERT32 ebx, 0x5EED
  ASSERT_SREG ds, SEL_DATA3             ; unchanged by the call
  mov dword [in_gate], 1
  ; load a ring-0 data selector into DS: the return to ring 3 must null it
  mov ax, SEL_DATA32
  mov ds, ax
  mov eax, 0x600D0001
  retf 8
