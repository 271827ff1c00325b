; jit_blocks: what a translating CPU must get right beyond one instruction at
; a time: a store that rewrites the next instruction of the running block,
; code reached through two virtual aliases of one physical page and
; rewritten through the other, a fault in the middle of a block (the
; instructions before it done, EIP at it), and a jump into the middle of an
; instruction. Every piece runs several times so that under the JIT it runs
; as translated code (a block is translated from its third run); the suite
; runs this under -accel interp, jit and jit,verify=on.
;
; Memory: code copied to RAM at 0x10000 (group 1) and 0x300000 (group 2);
; page directory 0x200000, identity page table for 0-4 MiB at 0x201000,
; page table at 0x202000: 0x400000 and 0x401000 -> 0x300000, 0x402000 absent.

%include "harness.inc"

SMC_AT  equ 0x10000
SCRATCH equ 0x11000                     ; a RAM dword
PD      equ 0x200000
PT0     equ 0x201000
PT1     equ 0x202000

CODE16
start:
  PRINT "jit_blocks: self-modifying code, aliases, precise faults", 10
  ENTER_PMODE pm_main

CODE32
pm_main:
  GROUP 1, "a store rewrites the next instruction of its own block"
  ; The first three runs store elsewhere, so the block runs unchanged long
  ; enough to be translated; from the fourth on it patches itself.
  cld
  mov esi, smc_code
  mov edi, SMC_AT
  mov ecx, smc_code_end - smc_code
  rep movsb
  xor ebx, ebx
.g1:
  lea ecx, [ebx + 0x41]
  mov edi, SCRATCH
  cmp ebx, 3
  jb .call1
  mov edi, SMC_AT + (smc_patch - smc_code) + 1
.call1:
  call SMC_AT                           ; al = the immediate after the store
  cmp ebx, 3
  jb .unpatched
  ASSERT8R al, cl
  jmp .next1
.unpatched:
  ASSERT8 al, 0
.next1:
  inc ebx
  cmp ebx, 8
  jb .g1

  GROUP 2, "code written through one virtual alias, run through another"
  IDENTITY_PT PT0, PD
  mov dword [PD + 4], PT1 | 3
  mov dword [PT1], 0x300003             ; 0x400000 -> 0x300000
  mov dword [PT1 + 4], 0x300003         ; 0x401000 -> 0x300000
  mov dword [PT1 + 8], 0                ; 0x402000 absent
  ENABLE_PAGING PD
  ; Copied in through the second alias, which leaves a TLB entry that
  ; allows writes there: the later patch takes the fast path.
  mov esi, alias_code
  mov edi, 0x401000
  mov ecx, alias_code_end - alias_code
  rep movsb
  xor ebx, ebx
.g2:
  call 0x400000
  ASSERT32 eax, 0x11111111
  inc ebx
  cmp ebx, 5
  jb .g2
  mov dword [0x401001], 0x22222222      ; the imm32 of its MOV, through the alias
  call 0x400000
  ASSERT32 eax, 0x22222222
  call 0x401000
  ASSERT32 eax, 0x22222222

  GROUP 3, "a page fault in the middle of a block is precise"
  xor ebx, ebx
.g3:
  EXPECT_EXC 14, .r3
  mov ecx, ebx
  add ecx, 7
  shl ecx, 2
  mov dword [SCRATCH], ecx
.f3:
  mov edx, [0x402abc]
  FAIL 3, "no #PF for a not-present page"
.r3:
  CHECK_EXC 14, 0, .f3, SEL_CODE32
  lea eax, [ebx*4 + 28]
  ASSERT32 ecx, eax                     ; the instructions before it ran
  ASSERT32 dword [SCRATCH], eax         ; and so did the store
  mov eax, cr2
  ASSERT32 eax, 0x402abc
  inc ebx
  cmp ebx, 5
  jb .g3

  GROUP 4, "a jump into the middle of an instruction"
  xor ebx, ebx
.g4:
  xor eax, eax
  test ebx, 1
  jz .mid
  jmp .mid + 1                          ; runs 90 90 90 90: four NOPs
.mid:
  mov eax, 0x90909090
  test ebx, 1
  jz .whole
  ASSERT32 eax, 0
  jmp .next4
.whole:
  ASSERT32 eax, 0x90909090
.next4:
  inc ebx
  cmp ebx, 8
  jb .g4

  GROUP 5, "flags carried from block to block through a carry chain"
  ; 64-bit add of 0xffffffff_ffffffff + 1, then a borrow back, in a loop
  xor ebx, ebx
.g5:
  mov eax, 0xffffffff
  mov edx, 0xffffffff
  add eax, 1
  adc edx, 0                            ; CF from the ADD
  jnc .bad5
  ASSERT32 eax, 0
  ASSERT32 edx, 0
  sub eax, 1
  sbb edx, 0
  jnc .bad5
  ASSERT32 edx, 0xffffffff
  mov edx, 0x40000000
  shl edx, 1                            ; OF = top bit ^ CF = 1
  jno .bad5
  inc ebx
  cmp ebx, 5
  jb .g5
  PASS
.bad5:
  FAIL 5, "carry lost between blocks"

; Copied to SMC_AT: stores CL at EDI, which may be the immediate of the MOV
; right after it.
smc_code:
  mov [edi], cl
smc_patch:
  mov al, 0
  ret
smc_code_end:

; Copied to physical 0x300000 (mapped at 0x400000 and 0x401000).
alias_code:
  mov eax, 0x11111111
  ret
alias_code_end:
