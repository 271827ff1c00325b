; exceptions: protected-mode exceptions, their vectors, error codes and the
; saved CS:EIP (SDM Vol. 3, chapter 6, "Exception and Interrupt Reference"
; and Table 6-1).
;
;   fault:  saved EIP = the faulting instruction (state before it)
;   trap:   saved EIP = the instruction after
;   error codes for segment-related faults have the selector format
;   (SDM 6.13): bits 15:3 index, bit 2 TI, bit 1 IDT, bit 0 EXT; the EXT bit
;   is clear for faults caused by the program or by INT n/INT3/INTO.
;
; Each case arms the harness catcher (EXPECT_EXC vector, resume label), runs
; the faulting instruction and checks what the default handler recorded.
; An exception on any other vector is reported as unexpected (exit code 15).

%include "harness.inc"

saved_esp equ TEST_VARS+0x00

CODE16
start:
  PRINT "exceptions: vectors, error codes and saved CS:EIP", 10
  ENTER_PMODE pm_main

CODE32
pm_main:
; ---------------------------------------------------------------------------
t_de:
  GROUP 1, "#DE divide error (fault, vector 0)"
  mov eax, 1234
  xor edx, edx
  xor ecx, ecx
  EXPECT_EXC 0, .r1
.f1:
  div ecx                               ; divide by zero
  FAIL 1, "no #DE for DIV by zero"
.r1:
  CHECK_EXC 0, 0, .f1, SEL_CODE32
  ASSERT32 eax, 1234                    ; operands unchanged
  ASSERT32 edx, 0
  mov eax, 0x80000000
  cdq                                   ; EDX:EAX = -2^31
  mov ecx, -1
  EXPECT_EXC 0, .r2
.f2:
  idiv ecx                              ; quotient +2^31 does not fit: #DE
  FAIL 1, "no #DE for IDIV overflow"
.r2:
  CHECK_EXC 0, 0, .f2, SEL_CODE32

; ---------------------------------------------------------------------------
t_db:
  GROUP 2, "#DB single step (trap, vector 1)"
  ; TF set by POPFD takes effect after the NEXT instruction (SDM Vol. 3,
  ; 17.3.1.4): the trap is taken after the NOP, saved EIP = .after_nop
  mov eax, dr6
  and eax, ~0x4000
  mov dr6, eax                          ; clear DR6.BS
  EXPECT_EXC 1, .r1
  pushfd
  or dword [esp], FL_TF
  popfd
  nop
.after_nop:
  nop
  FAIL 2, "no single-step #DB"
.r1:
  CHECK_EXC 1, 0, .after_nop, SEL_CODE32
  mov eax, [caught_eflags]
  and eax, FL_TF
  ASSERT32 eax, FL_TF                   ; saved EFLAGS still has TF
  mov eax, dr6
  and eax, 0x4000
  ASSERT32 eax, 0x4000                  ; DR6.BS: single step
  pushfd
  pop eax
  and eax, FL_TF
  ASSERT32 eax, 0                       ; the catcher returned with TF clear

; ---------------------------------------------------------------------------
t_bp_of:
  GROUP 3, "#BP and #OF (traps, vectors 3 and 4)"
  EXPECT_EXC 3, .r1
  int3                                  ; CC
.a1:
  FAIL 3, "no #BP"
.r1:
  CHECK_EXC 3, 0, .a1, SEL_CODE32       ; EIP after the INT3
  EXPECT_EXC 3, .r2
  int 3                                 ; CD 03
.a2:
  FAIL 3, "no #BP for INT 3"
.r2:
  CHECK_EXC 3, 0, .a2, SEL_CODE32
  mov al, 0x7F
  add al, 1                             ; OF = 1
  EXPECT_EXC 4, .r3
  into
.a3:
  FAIL 3, "no #OF for INTO with OF=1"
.r3:
  CHECK_EXC 4, 0, .a3, SEL_CODE32
  xor eax, eax                          ; OF = 0
  into                                  ; must not trap
  nop

; ---------------------------------------------------------------------------
t_br:
  GROUP 4, "#BR BOUND range exceeded (fault, vector 5)"
  mov eax, 21
  EXPECT_EXC 5, .r1
.f1:
  bound eax, [bounds_10_20]
  FAIL 4, "no #BR for 21 outside [10,20]"
.r1:
  CHECK_EXC 5, 0, .f1, SEL_CODE32
  mov eax, 9
  EXPECT_EXC 5, .r2
.f2:
  bound eax, [bounds_10_20]
  FAIL 4, "no #BR for 9 outside [10,20]"
.r2:
  CHECK_EXC 5, 0, .f2, SEL_CODE32
  mov eax, 20                           ; bounds are inclusive: no fault
  bound eax, [bounds_10_20]
  mov eax, 10
  bound eax, [bounds_10_20]

; ---------------------------------------------------------------------------
t_ud:
  GROUP 5, "#UD invalid opcode (fault, vector 6)"
  EXPECT_EXC 6, .r1
.f1:
  ud2                                   ; 0F 0B
  FAIL 5, "no #UD for UD2"
.r1:
  CHECK_EXC 6, 0, .f1, SEL_CODE32
  EXPECT_EXC 6, .r2
.f2:
  db 0x0F, 0xFF, 0xC0                   ; UD0
  FAIL 5, "no #UD for 0F FF"
.r2:
  CHECK_EXC 6, 0, .f2, SEL_CODE32
  EXPECT_EXC 6, .r3
.f3:
  db 0xF0, 0x01, 0xD8                   ; LOCK ADD EAX, EBX: LOCK with a register destination
  FAIL 5, "no #UD for LOCK with a register destination"
.r3:
  CHECK_EXC 6, 0, .f3, SEL_CODE32
  EXPECT_EXC 6, .r4
.f4:
  db 0x8E, 0xC8                         ; MOV CS, AX
  FAIL 5, "no #UD for MOV CS"
.r4:
  CHECK_EXC 6, 0, .f4, SEL_CODE32

; ---------------------------------------------------------------------------
t_nm:
  GROUP 6, "#NM device not available (fault, vector 7)"
  mov eax, cr0
  or eax, 0x0A                          ; MP | TS: WAIT faults
  mov cr0, eax
  EXPECT_EXC 7, .r1
.f1:
  fwait
  FAIL 6, "no #NM for WAIT with MP=TS=1"
.r1:
  CHECK_EXC 7, 0, .f1, SEL_CODE32
  mov eax, cr0
  and eax, ~0x0E
  or eax, 0x04                          ; EM: every x87 instruction faults
  mov cr0, eax
  EXPECT_EXC 7, .r2
.f2:
  fninit
  FAIL 6, "no #NM for FNINIT with EM=1"
.r2:
  CHECK_EXC 7, 0, .f2, SEL_CODE32
  mov eax, cr0
  and eax, ~0x0E
  mov cr0, eax

; ---------------------------------------------------------------------------
t_np:
  GROUP 7, "#NP segment not present (fault, vector 11)"
  mov ax, SEL_NPDATA
  EXPECT_EXC 11, .r1
.f1:
  mov ds, ax                            ; present bit clear: #NP(selector)
  FAIL 7, "no #NP loading a not-present data segment"
.r1:
  CHECK_EXC 11, SEL_NPDATA, .f1, SEL_CODE32
  ASSERT_SREG ds, SEL_DATA32            ; DS not loaded
  SET_GATE 0x81, SEL_CODE32, never_handler, 0x0E    ; gate with P = 0
  EXPECT_EXC 11, .r2
.f2:
  int 0x81                              ; #NP(0x81*8 + 2): IDT bit, EXT = 0
  FAIL 7, "no #NP for a not-present IDT gate"
.r2:
  CHECK_EXC 11, 0x81*8 + 2, .f2, SEL_CODE32

; ---------------------------------------------------------------------------
t_ss:
  GROUP 8, "#SS stack fault (fault, vector 12)"
  mov ax, SEL_NPDATA
  EXPECT_EXC 12, .r1
.f1:
  mov ss, ax                            ; not-present stack segment: #SS(selector)
  FAIL 8, "no #SS loading a not-present SS"
.r1:
  CHECK_EXC 12, SEL_NPDATA, .f1, SEL_CODE32
  ASSERT_SREG ss, SEL_DATA32
  ; SS-relative access beyond the limit of a small stack segment: #SS(0).
  ; The handler frame is pushed on that same small stack (ESP = 0x800).
  mov [saved_esp], esp
  mov ax, SEL_SMSTACK
  mov ss, ax
  mov esp, 0x800
  EXPECT_EXC 12, .r2
.f2:
  mov eax, [esp + 0x1000]               ; offset 0x1800 > limit 0xFFF
  FAIL 8, "no #SS beyond the SS limit"
.r2:
  mov ax, SEL_DATA32
  mov ss, ax
  mov esp, [saved_esp]
  CHECK_EXC 12, 0, .f2, SEL_CODE32
  ASSERT32 dword [caught_ss], SEL_SMSTACK
  ASSERT32 dword [caught_frame], 0x800 - 12

; ---------------------------------------------------------------------------
t_gp:
  GROUP 9, "#GP general protection (fault, vector 13)"
  mov ax, 0x1FB                         ; index 0x3F > GDT limit 0x7F, RPL 3
  EXPECT_EXC 13, .r1
.f1:
  mov ds, ax                            ; #GP(selector & ~3)
  FAIL 9, "no #GP for a selector beyond the GDT limit"
.r1:
  CHECK_EXC 13, 0x1F8, .f1, SEL_CODE32
  mov ax, SEL_DATA32 | 3                ; RPL 3 > DPL 0 of a data segment
  EXPECT_EXC 13, .r2
.f2:
  mov es, ax
  FAIL 9, "no #GP for RPL > DPL"
.r2:
  CHECK_EXC 13, SEL_DATA32, .f2, SEL_CODE32
  mov ax, SEL_RODATA
  mov es, ax                            ; loading a read-only segment is fine
  mov dword [TEST_VARS+0x10], 0x600DDA7A
  EXPECT_EXC 13, .r3
.f3:
  mov dword [es:TEST_VARS+0x10], 0xBAD  ; writing through it: #GP(0)
  FAIL 9, "no #GP writing to a read-only data segment"
.r3:
  CHECK_EXC 13, 0, .f3, SEL_CODE32
  ASSERT32 dword [TEST_VARS+0x10], 0x600DDA7A
  mov ax, SEL_DATA32
  mov es, ax
  mov ax, SEL_RODATA
  EXPECT_EXC 13, .r4
.f4:
  mov ss, ax                            ; SS must be writable: #GP(selector)
  FAIL 9, "no #GP loading a read-only SS"
.r4:
  CHECK_EXC 13, SEL_RODATA, .f4, SEL_CODE32
  xor eax, eax
  EXPECT_EXC 13, .r5
.f5:
  mov ss, ax                            ; null SS at CPL 0 in 32-bit mode: #GP(0)
  FAIL 9, "no #GP loading a null SS"
.r5:
  CHECK_EXC 13, 0, .f5, SEL_CODE32

; ---------------------------------------------------------------------------
t_df:
  GROUP 10, "#DF double fault (abort, vector 8)"
  ; #GP whose IDT gate is not present: delivering it raises #NP (a second
  ; contributory exception) -> #DF with error code 0 (SDM Table 6-5).
  ; The saved CS:EIP of a #DF is undefined, so it is not checked.
  mov byte [IDT_BASE + 13*8 + 5], 0x0E  ; vector 13 gate: P = 0
  mov ax, 0x1FB
  EXPECT_EXC 8, .r1
.f1:
  mov ds, ax
  FAIL 10, "no #DF"
.r1:
  mov byte [IDT_BASE + 13*8 + 5], GATE_INT32
  ASSERT32 dword [caught_vec], 8
  ASSERT32 dword [caught_err], 0

; ---------------------------------------------------------------------------
  GROUP 11, "#TS invalid TSS (fault, vector 10)"
  ; INT 0x80 from ring 3 through a DPL-3 gate to ring-0 code needs the
  ; ring-0 stack SS0:ESP0 from the TSS. SS0 here is a read-only data
  ; segment -> #TS(SS0 selector) (SDM INT n pseudo-code: "IF new stack
  ; segment is not a writable data segment THEN #TS(SS selector + EXT)",
  ; EXT = 0 for INT n). The #TS handler cannot use that stack either, so
  ; its gate points to a CONFORMING ring-0 code segment: it runs at CPL 3
  ; on the ring-3 stack (SDM 6.12.1.1).
  SET_GATE 0x80, SEL_CODE32, back_to_ring0, GATE_INT32_U
  SET_GATE 10, SEL_CODE32C, pm_stubs + 10*16, GATE_INT32
  mov word [TSS_BASE + 8], SEL_RODATA   ; bad SS0
  ENTER_RING3 ring3

ring3:
  RING3_SEGS
  EXPECT_EXC 10, .r1
.f1:
  int 0x80
  FAIL 11, "no #TS for a read-only SS0 in the TSS"
.r1:
  mov word [TSS_BASE + 8], SEL_DATA32   ; repair SS0
  CHECK_EXC 10, SEL_RODATA, .f1, SEL_CODE3
  ASSERT32 dword [caught_ss], SEL_DATA3 ; handler stayed on the ring-3 stack

; ---------------------------------------------------------------------------
  GROUP 12, "#GP(0) for privileged instructions at CPL 3"
  EXPECT_EXC 13, .r2
.f2:
  mov eax, cr0
  FAIL 12, "no #GP for MOV from CR0 at CPL 3"
.r2:
  CHECK_EXC 13, 0, .f2, SEL_CODE3
  EXPECT_EXC 13, .r3
.f3:
  hlt
  FAIL 12, "no #GP for HLT at CPL 3"
.r3:
  CHECK_EXC 13, 0, .f3, SEL_CODE3
  EXPECT_EXC 13, .r4
.f4:
  lgdt [gdtr_dummy]
  FAIL 12, "no #GP for LGDT at CPL 3"
.r4:
  CHECK_EXC 13, 0, .f4, SEL_CODE3
  ; back to ring 0 through INT 0x80 (SS0 is valid again)
  int 0x80
  FAIL 13, "INT 0x80 returned"

back_to_ring0:
  GROUP 13, "back at ring 0"
  ASSERT_SREG cs, SEL_CODE32
  ASSERT_SREG ss, SEL_DATA32
  mov edx, esp
  ASSERT32 edx, TSS_ESP0 - 20
  mov ax, SEL_DATA32
  mov ds, ax
  mov es, ax
  mov esp, STACK0_TOP
  PASS

never_handler:
  FAIL 14, "handler of a not-present gate was called"

bounds_10_20: dd 10, 20
gdtr_dummy:   dw 0, 0, 0
