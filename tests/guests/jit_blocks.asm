; jit_blocks: what a translating CPU must get right beyond one instruction at
; a time: a store that rewrites the next instruction of the running block,
; code reached through two virtual aliases of one physical page and
; rewritten through the other, a fault in the middle of a block (the
; instructions before it done, EIP at it), and a jump into the middle of an
; instruction; and a superblock (the JIT runs on through a not-taken Jcc into
; the blocks after it in one translation): a taken branch leaves it, and a
; store rewrites one of its later blocks; flags left in the host's EFLAGS
; across the instructions that take them in (group 18); x87 instructions
; run by direct calls of their handlers, and #NM and #MF from them (group
; 21); a jump to an instruction that runs into a page later remapped (group
; 22). Every piece runs several times so that under the JIT it runs
; as translated code (a block is translated from its third run); the suite
; runs this under -accel interp, jit and jit,verify=on.
;
; Memory: code copied to RAM at 0x10000 (group 1) and 0x300000 (group 2);
; page directory 0x200000, identity page table for 0-4 MiB at 0x201000,
; page table at 0x202000: 0x400000 and 0x401000 -> 0x300000, 0x402000 absent;
; group 17 adds 0x403000 -> 0x304000 (0x404000 absent), 0x405000 -> 0x306000
; and 0x406000 -> 0x305000; group 22 0x40a000 -> 0x30a000 and 0x40b000 ->
; 0x30b000, then 0x30c000.

%include "harness.inc"

SMC_AT  equ 0x10000
SCRATCH equ 0x11000                     ; a RAM dword
SB_AT   equ 0x12000                     ; group 13's code
STK_EDGE equ 0x406000                   ; group 17's stack crosses this page boundary
STK_SAVED equ TEST_VARS                 ; group 17: the harness's ESP
X87_CROSS equ 0x37fffc                  ; group 21: a double across a page boundary
X87_DATA equ SCRATCH + 64               ; group 21's operands, in RAM (the fast path's)
X87_SEVEN equ X87_DATA                  ; dd 7
X87_HALF equ X87_DATA + 8               ; dq 0.5
X87_QUARTER equ X87_DATA + 16           ; dd 0.25
X87_TWO equ X87_DATA + 20               ; dw 2
X87_CW_ZM equ X87_DATA + 24             ; dw 0x037b: all exceptions masked but ZE
X87_TENTH equ SCRATCH + 256             ; group 23's doubles: 0.1, 1, 1.5 * 2^-64,
X87_ONE equ X87_TENTH + 8               ; +inf, a QNaN, the smallest denormal
X87_TINY equ X87_TENTH + 16
X87_INF equ X87_TENTH + 24
X87_QNAN equ X87_TENTH + 32
X87_DEN equ X87_TENTH + 40
X87_OUT equ SCRATCH + 512               ; group 23's results
X87_ENV equ X87_OUT + 96                ; and its FNSTENV image
PD      equ 0x200000
PT0     equ 0x201000
PT1     equ 0x202000

; What the patching code stores and where, on run EBX: CL = %3 + EBX, at
; EDI = SCRATCH for the first %1 runs (the code runs unchanged long enough
; to be translated), then at %2.
%macro STORE_TARGET 3
  lea ecx, [ebx + %3]
  mov edi, SCRATCH
  cmp ebx, %1
  jb %%chosen
  mov edi, %2
%%chosen:
%endmacro

; FAULT_AFTER_PUSHES function, ESP, CR2, EDX (group 17), 5 times: the
; function pushes ECX and 1, then faults at its label .read with CR2;
; its CMP in between set ZF, which the exception must see.
%macro FAULT_AFTER_PUSHES 4
  xor ebx, ebx
%%again:
  mov esp, %2
  mov ecx, 0xc0ffee
  mov edx, %4
  EXPECT_EXC 14, %%caught
  or ecx, ecx                           ; ZF = 0
  call %1
%%caught:
  CHECK_EXC 14, 0, %1.read, SEL_CODE32
  mov eax, [caught_eflags]
  and eax, FL_ZF
  ASSERT32 eax, FL_ZF
  mov eax, cr2
  ASSERT32 eax, %3
  mov eax, esp
  ASSERT32 eax, %2 - 12                 ; return address and two pushes
  ASSERT32 dword [%2 - 8], 0xc0ffee     ; the pushes were stored
  ASSERT32 dword [%2 - 12], 1
  mov esp, [STK_SAVED]
  inc ebx
  cmp ebx, 5
  jb %%again
%endmacro

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
  STORE_TARGET 3, SMC_AT + (smc_patch - smc_code) + 1, 0x41
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

  GROUP 6, "indirect calls and jumps and flag instructions, translated"
  xor ebx, ebx
.g6:
  mov dword [SCRATCH], ind_target
  mov eax, ind_target
  mov edi, esp
  call eax                              ; eax = ebx + 5
  lea ecx, [ebx + 5]
  ASSERT32 eax, ecx
  mov ecx, esp
  ASSERT32 ecx, edi                     ; the return address popped
  xor eax, eax
  call [SCRATCH]                        ; the same through memory
  lea ecx, [ebx + 5]
  ASSERT32 eax, ecx
  mov ecx, .j6
  jmp ecx
  FAIL 6, "jmp reg fell through"
.j6:
  mov dword [SCRATCH], .k6
  jmp [SCRATCH]
  FAIL 6, "jmp [mem] fell through"
.k6:
  xor eax, eax
  stc
  adc eax, 0                            ; 1, and CF clear
  cmc
  adc eax, 0                            ; 2
  stc
  clc
  adc eax, 0                            ; still 2
  ASSERT32 eax, 2
  mov dword [SCRATCH], 0x44332211
  mov esi, SCRATCH + 3
  std
  lodsb                                 ; a helper step sees DF set
  cld
  ASSERT8 al, 0x44
  ASSERT32 esi, SCRATCH + 2
  inc ebx
  cmp ebx, 8
  jb .g6

  GROUP 7, "a block translated under a flat DS, run under a based DS"
  mov dword [0x10], 0x600d0001
  mov dword [0x20010], 0x600d0002
  xor ebx, ebx
.g7:
  call read_ds10
  ASSERT32 eax, 0x600d0001
  inc ebx
  cmp ebx, 5
  jb .g7
  mov ax, SEL_SMALL                     ; base 0x20000
  mov ds, ax
  call read_ds10
  mov cx, SEL_DATA32
  mov ds, cx
  ASSERT32 eax, 0x600d0002
  call read_ds10                        ; and flat again
  ASSERT32 eax, 0x600d0001

  GROUP 8, "MUL, IMUL and DIV of EDX:EAX, and a precise #DE, translated"
  xor ebx, ebx
.g8:
  mov eax, 0x12345678
  mov ecx, 0x9abcdef0
  mul ecx                               ; 0x0b00ea4e_242d2080
  ASSERT32 edx, 0x0b00ea4e
  ASSERT32 eax, 0x242d2080
  mov dword [SCRATCH], -3
  mov eax, 7
  imul dword [SCRATCH]                  ; -21
  ASSERT32 edx, 0xffffffff
  ASSERT32 eax, -21
  mov edx, 5
  mov eax, 0x00000007
  mov ecx, 0x10
  div ecx                               ; 0x5_00000007 / 16
  ASSERT32 eax, 0x50000000
  ASSERT32 edx, 7
  EXPECT_EXC 0, .r8
  mov esi, ebx
  add esi, 100
  mov edx, 1
  xor ecx, ecx
.f8:
  div ecx                               ; #DE
  FAIL 8, "no #DE for a zero divisor"
.r8:
  CHECK_EXC 0, 0, .f8, SEL_CODE32
  lea eax, [ebx + 100]
  ASSERT32 esi, eax                     ; the instructions before it ran
  inc ebx
  cmp ebx, 5
  jb .g8

  GROUP 9, "a chained entry checks what its predecessor's entry did not"
  ; .a9 uses only the stack, .b9 reads through DS; the jump from .a9 to
  ; .b9 is chained while DS is flat. With DS based, .a9's entry checks
  ; pass, and .b9 must still see DS's base.
  xor ebx, ebx
.g9:
  cmp ebx, 6
  jne .a9
  mov ax, SEL_SMALL
  mov ds, ax
  jmp .a9
.a9:
  push ebx
  pop ebx
  jmp .b9
.b9:
  mov eax, [0x10]
  mov cx, SEL_DATA32
  mov ds, cx
  cmp ebx, 6
  je .c9
  ASSERT32 eax, 0x600d0001
  inc ebx
  jmp .g9
.c9:
  ASSERT32 eax, 0x600d0002

  GROUP 10, "XCHG of registers and memory, RDTSC, translated"
  xor ebx, ebx
  xor esi, esi
  xor edi, edi
.g10:
  mov eax, 0x11112222
  mov ecx, 0x33334444
  xchg eax, ecx
  ASSERT32 eax, 0x33334444
  ASSERT32 ecx, 0x11112222
  mov dword [SCRATCH], 0x55556666
  xchg [SCRATCH], ecx
  ASSERT32 ecx, 0x55556666
  ASSERT32 dword [SCRATCH], 0x11112222
  mov eax, 0x1234
  xchg al, ah
  ASSERT32 eax, 0x3412
  rdtsc                                 ; EDX:EAX goes up
  cmp edx, edi
  jb .bad10
  ja .up10
  cmp eax, esi
  jbe .bad10
.up10:
  mov esi, eax
  mov edi, edx
  inc ebx
  cmp ebx, 6
  jb .g10

  GROUP 11, "a compare with memory and its Jcc, right after the TLB was emptied"
  ; The first access after each CR3 reload walks the page tables (the
  ; slow path), which must leave the branch its condition too.
  xor ebx, ebx
  mov dword [SCRATCH], 7
.g11:
  mov eax, cr3
  mov cr3, eax
  mov ecx, 7
  cmp [SCRATCH], ecx
  jne .bad11                            ; equal: not taken
  mov eax, cr3
  mov cr3, eax
  cmp [SCRATCH], ebx
  je .bad11                             ; ebx < 7: not taken either
  inc ebx
  cmp ebx, 6
  jb .g11

  GROUP 12, "a return enters its target past the target's checks only when implied"
  ; stack_only uses only the stack; its RET lands on a block that reads
  ; through DS, found in the jump cache. With DS based, the return must
  ; still let that block see the base.
  xor ebx, ebx
.g12:
  cmp ebx, 6
  jne .c12
  mov ax, SEL_SMALL
  mov ds, ax
.c12:
  call stack_only
  mov eax, [0x10]
  mov cx, SEL_DATA32
  mov ds, cx
  cmp ebx, 6
  je .d12
  ASSERT32 eax, 0x600d0001
  inc ebx
  jmp .g12
.d12:
  ASSERT32 eax, 0x600d0002

  GROUP 13, "a superblock: a taken Jcc leaves it, a store rewrites a later part"
  ; sb_code's first block ends in a Jcc whose both ways lead to the next
  ; block, which ends in one taken on odd EBX; on even EBX it falls through
  ; into a third. The translation of the first runs all three. From the
  ; sixth run on, its store patches the immediate of the last part.
  cld
  mov esi, sb_code
  mov edi, SB_AT
  mov ecx, sb_code_end - sb_code
  rep movsb
  xor ebx, ebx
  ; The later parts run once on their own first: a superblock takes in
  ; only blocks decoded already (and verify=on translates at once).
  call SB_AT + (sb_on - sb_code)
  xor eax, eax                          ; counts the runs of the last part
.g13:
  STORE_TARGET 6, SB_AT + (sb_patch - sb_code) + 1, 0x40
  call SB_AT
  test ebx, 1
  jz .even13
  ASSERT8 dl, 0xdd
  jmp .next13
.even13:
  cmp ebx, 6
  jb .unpatched13
  ASSERT8R dl, cl
  jmp .next13
.unpatched13:
  ASSERT8 dl, 0
.next13:
  inc ebx
  cmp ebx, 14
  jb .g13
  ASSERT32 eax, 7

  GROUP 14, "SHLD/SHRD, BSF/BSR, BT/BTS/BTR/BTC on registers and LEAVE"
  ; bit_ops runs as one translated block from its third run on: a zero
  ; bit-scan source keeps the destination, each bit test's CF is added
  ; into EDI, a double shift by CL = 0 keeps CF, and LEAVE restores the
  ; caller's EBP and ESP.
  xor ebx, ebx
.g14:
  mov ebp, 0x1234abcd
  mov edx, esp
  call bit_ops
  sub edx, esp                          ; 0: ESP back where it was
  ASSERT32 edx, 0
  ASSERT32 ebp, 0x1234abcd
  ASSERT32 eax, 0x155
  ASSERT32 ecx, 0xef01a345
  ASSERT32 edi, 10
  inc ebx
  cmp ebx, 6
  jb .g14

  GROUP 15, "SAHF and FNSTSW AX"
  ; flag_ops runs as a translated block from its third run on (the x87
  ; pushes and pops in it are helper steps): FNSTSW AX reads TOP after two
  ; pushes, SAHF sets SF ZF AF PF CF from AH and keeps OF.
  xor ebx, ebx
.g15:
  call flag_ops
  ASSERT32 edx, 0x3000
  ASSERT32 ecx, 0x8d5
  ASSERT32 eax, 0x800
  inc ebx
  cmp ebx, 6
  jb .g15

  GROUP 16, "CMPXCHG on memory and LOCK read-modify-writes"
  ; lock_ops runs as a translated block from its third run on: a
  ; CMPXCHG that matches stores the source, one that does not loads the
  ; accumulator, both set the flags of CMP; LOCK ADD and DEC on memory.
  xor ebx, ebx
.g16:
  call lock_ops
  ASSERT32 edx, 0x0101
  ASSERT32 ebp, 9
  ASSERT32 esi, 11
  ASSERT32 edi, 0x41
  ASSERT32 eax, 0x40
  inc ebx
  cmp ebx, 6
  jb .g16

  GROUP 17, "stack runs: frames across a page boundary, a fault inside one"
  ; stack_frame reaches its frame only through pushes, pops and
  ; [ESP + disp], which the JIT checks once for the whole stretch of
  ; stack. ESP walks across the page boundary at STK_EDGE in steps of 4,
  ; so some frames straddle it (the run's ordinary copy), the others lie
  ; on one page; each position runs 4 times (translated from the third).
  ; Between its frame accesses it reads other memory, once through a
  ; helper step. ebp_frame does the like through EBP.
  ; The two pages are not adjacent in physical memory.
  mov dword [PT1 + 20], 0x306003       ; 0x405000 -> 0x306000
  mov dword [PT1 + 24], 0x305003       ; 0x406000 -> 0x305000
  mov [STK_SAVED], esp
  mov esi, STK_EDGE - 48
.g17:
  mov ebx, 4
.g17_again:
  mov esp, esi
  mov ebp, 0x5eb9                       ; callee-saved: must survive
  mov edi, 0xd1d1
  lea eax, [esi + 7]
  push eax                              ; the argument
  call stack_frame
  add esp, 4
  mov ecx, esp                          ; (ASSERT32 pushes the flags)
  ASSERT32 ecx, esi
  lea edx, [esi*2 + 20]                 ; (argument + 3) * 2
  ASSERT32 eax, edx
  ASSERT32 ebp, 0x5eb9
  ASSERT32 edi, 0xd1d1
  ASSERT32 dword [esi - 12], 0x5eb9     ; the saved EBP's slot
  ASSERT32 dword [esi - 24], 0xd1d1     ; the saved EDI's slot
  call lea_after_pushes                 ; LEA reads ESP after two pushes
  lea edx, [esi - 4]
  ASSERT32 eax, edx
  mov ecx, 5
  mov edx, 5
  call flags_past_run                   ; a CMP's ZF tested after its run ended
  ASSERT32 eax, 1
  mov edx, 6
  call flags_past_run
  ASSERT32 eax, 0
  mov edx, 5
  call flags_before_run                 ; a CMP's ZF owed across a run's check
  ASSERT32 eax, 1
  mov edx, 6
  call flags_before_run
  ASSERT32 eax, 0
  push esi                              ; the argument
  call ebp_frame                        ; a frame reached through EBP
  add esp, 4
  lea edx, [esi*2 + 1]
  ASSERT32 eax, edx
  ASSERT32 ebp, 0x5eb9                  ; back from the frame by LEAVE
  mov ecx, esp
  ASSERT32 ecx, esi
  dec ebx
  jnz .g17_again
  add esi, 4
  cmp esi, STK_EDGE + 48
  jb .g17
  ; A run whose [ESP + disp] read reaches a page that is not present:
  ; the #PF is the read's, after the two pushes before it.
  mov dword [PT1 + 12], 0x304003       ; 0x403000 -> 0x304000; 0x404000 absent
  FAULT_AFTER_PUSHES push_then_read, 0x403ff8, 0x404000, 0
  ; The same with the frame on one page and the fault in a read through
  ; another register: the pushes before it are in memory and in ESP.
  FAULT_AFTER_PUSHES push_then_fault, 0x403f00, 0x404010, 0x404010
  mov esp, [STK_SAVED]

  GROUP 18, "flags left in EFLAGS across shifts and a TLB refill"
  ; The JIT leaves flags in the host's EFLAGS from an ADD into a ROL or
  ; SHLD after it, which keep some of them, and loads the entry's into a
  ; shift by a count that masks to zero; and across a load whose TLB
  ; probe misses, refilled or faulting. Each runs 6 times (translated from the third); the
  ; flags before each call differ from the right answer in ZF.
  xor ebx, ebx
.g18:
  xor edx, edx                          ; ZF = 1 before the call
  call add_then_rotate
  ASSERT32 edx, 0x95                    ; SF AF PF of the ADD, CF of the ROL
  ASSERT32 ecx, 1
  xor edx, edx
  call add_then_shld_zero
  ASSERT32 edx, 0x894                   ; the ADD's OF SF AF PF, all kept
  ASSERT32 edi, 0x55
  mov al, 0x80
  add al, al                            ; CF ZF PF OF
  call shift_by_zero
  ASSERT32 edx, 0x845
  ASSERT32 eax, 0x80
  ; A CMP's ZF owed across a load that misses the TLB (INVLPG dropped
  ; its entry), which the refill serves: the refill keeps EFLAGS.
  invlpg [SCRATCH]
  mov ecx, 5
  mov edx, 5
  call cmp_across_refill
  ASSERT32 eax, 1
  invlpg [SCRATCH]
  mov edx, 6
  call cmp_across_refill
  ASSERT32 eax, 0
  inc ebx
  cmp ebx, 6
  jb .g18
  ; A CMP's ZF owed across a load that faults (0x404000 is not
  ; present): the #PF pushes it.
  xor ebx, ebx
.g18_fault:
  mov ecx, 0xc0ffee
  mov edx, 0x404010
  EXPECT_EXC 14, .g18_caught
  or ecx, ecx                           ; ZF = 0
  call cmp_then_fault
.g18_caught:
  mov esp, [STK_SAVED]
  CHECK_EXC 14, 0, cmp_then_fault.read, SEL_CODE32
  mov eax, [caught_eflags]
  and eax, FL_ZF
  ASSERT32 eax, FL_ZF
  inc ebx
  cmp ebx, 5
  jb .g18_fault

  GROUP 19, "LEA, MOVZX and shifts into registers' host copies"
  ; host_copy_forms runs as one translated block from its third run on,
  ; where EAX, ECX, EDX and ESI have host copies that LEA, MOVZX and
  ; shifts by an immediate write in place; LEA EAX, [EAX*4 + 4] reads
  ; EAX before it writes it.
  mov byte [SCRATCH], 0x91
  xor ebx, ebx
.g19:
  call host_copy_forms
  ASSERT32 eax, 44
  ASSERT32 ecx, 1056
  ASSERT32 edx, 2128
  ASSERT32 esi, 0x122
  inc ebx
  cmp ebx, 6
  jb .g19

  GROUP 20, "LODS, STOS and SCAS, translated, both directions"
  ; string_ops runs as one translated block from its third run on:
  ; LODSD and STOSD up, a CMP's ZF owed across a LODSB, then LODSB and
  ; SCASB down (DF = 1).
  xor ebx, ebx
.g20:
  call string_ops
  ASSERT32 eax, 0x44434246              ; "ABC" from the LODSD, then 'F'
  and ecx, 0xffff
  ASSERT32 ecx, 0x0101                  ; ZF kept by LODSB; SCASB: 'F' != 'A'
  mov edx, str_src + 4
  ASSERT32 esi, edx
  ASSERT32 edi, SCRATCH + 15
  ASSERT32 dword [SCRATCH + 16], 0x44434241
  inc ebx
  cmp ebx, 6
  jb .g20

  GROUP 21, "x87 in translated blocks: direct handler calls, #NM and #MF"
  ; x87_ops runs as translated code from its third run on, its loads,
  ; stores, arithmetic and compares as direct calls of their handlers;
  ; its last load's operand crosses a page (the helper step's).
  mov dword [X87_CROSS], 0
  mov dword [X87_CROSS + 4], 0x40440000 ; 40.0
  mov dword [X87_SEVEN], 7
  mov dword [X87_HALF], 0
  mov dword [X87_HALF + 4], 0x3fe00000
  mov dword [X87_QUARTER], 0x3e800000
  mov dword [X87_TWO], 2
  mov dword [X87_CW_ZM], 0x037b
  xor ebx, ebx
.g21:
  call x87_ops
  and eax, 0xffff
  ASSERT32 eax, 0x3920                  ; TOP 7, C0 (1 < 16.0625), PE (FIST rounded)
  ASSERT32 dword [SCRATCH], 14
  ASSERT32 dword [SCRATCH + 4], 40
  ASSERT32 dword [SCRATCH + 8], 0
  ASSERT32 dword [SCRATCH + 12], 0x40301000 ; 16.0625
  mov eax, x87_ops.last
  ASSERT32 dword [SCRATCH + 32 + 12], eax ; FIP: the last x87 instruction's
  ASSERT32 dword [SCRATCH + 32 + 20], SCRATCH + 4 ; FDP: its operand's offset
  inc ebx
  cmp ebx, 6
  jb .g21
  ; The FLD translated in runs 0-3 with CR0.TS set in runs 4-6: #NM,
  ; precise (the INC after it did not run).
  xor ebx, ebx
.g21nm:
  cmp ebx, 4
  jb .t21
  mov eax, cr0
  or eax, 8                             ; CR0.TS
  mov cr0, eax
  jmp .t21                              ; (into the translated block, not on in this one)
.t21:
  EXPECT_EXC 7, .r21
  mov ecx, ebx
.f21:
  fld qword [X87_HALF]
  fstp qword [SCRATCH + 16]
  inc ecx
  cmp ebx, 4
  jb .n21
  FAIL 21, "no #NM from a translated FLD with CR0.TS set"
.r21:
  CHECK_EXC 7, 0, .f21, SEL_CODE32
  ASSERT32 ecx, ebx
  clts
.n21:
  inc ebx
  cmp ebx, 7
  jb .g21nm
  ; An unmasked zero divide, then the next (translated) waiting x87
  ; instruction raises #MF (CR0.NE=1), EIP at it; the division left the
  ; stack alone.
  mov eax, cr0
  or eax, 0x20                          ; CR0.NE
  mov cr0, eax
  xor ebx, ebx
.g21mf:
  fninit
  fldcw [X87_CW_ZM]
  EXPECT_EXC 16, .r21mf
  fldz
  fld1
  fdiv st0, st1                         ; 1 / 0: ZE and ES, ST0 kept
.f21mf:
  fadd qword [X87_HALF]
  FAIL 21, "no #MF after an unmasked zero divide"
.r21mf:
  CHECK_EXC 16, 0, .f21mf, SEL_CODE32
  fnstsw ax
  and eax, 0x38bf
  ASSERT32 eax, 0x3084                  ; TOP 6, ES, ZE
  fninit
  inc ebx
  cmp ebx, 5
  jb .g21mf

  GROUP 22, "a jump into an instruction that runs into the next page, which is then remapped"
  ; 0x40a000 -> 0x30a000: a read of SCRATCH (so that the block's entry
  ; checks the CPL and the paging mode, which the jump cache's lookup of
  ; two pages needs), a JMP within the page to 0x40affd, a MOV EAX whose
  ; last two immediate bytes are on 0x40b000 (-> 0x30b000, later 0x30c000),
  ; then RET there. The JIT cannot patch that jump straight into the MOV's
  ; translation (nothing would check the second page): it goes on through
  ; the jump cache, whose lookup must see the remapping.
  mov dword [PT1 + 4 * 10], 0x30a003
  mov dword [PT1 + 4 * 11], 0x30b003
  mov word [0x30a000], 0x158b           ; mov edx, [SCRATCH]
  mov dword [0x30a002], SCRATCH
  mov byte [0x30a006], 0xe9             ; jmp 0x40affd
  mov dword [0x30a007], 0xffd - 0xb
  mov byte [0x30affd], 0xb8             ; mov eax, 0x????5678
  mov word [0x30affe], 0x5678
  mov dword [0x30b000], 0xc31122        ; ... 0x1122...., ret
  mov dword [0x30c000], 0xc33344        ; ... 0x3344...., ret
  mov eax, cr3
  mov cr3, eax
  xor ebx, ebx
.g22:
  call 0x40a000
  cmp ebx, 8
  jae .g22remapped
  ASSERT32 eax, 0x11225678
  jmp .g22next
.g22remapped:
  ASSERT32 eax, 0x33445678
.g22next:
  inc ebx
  cmp ebx, 8
  jne .g22same
  mov dword [PT1 + 4 * 11], 0x30c003
  invlpg [0x40b000]
.g22same:
  cmp ebx, 16
  jb .g22

  GROUP 23, "x87 as host code in the block: rounding, flags, compares, stack faults"
  ; x87_block_ops runs translated from its third run; under -accel jit
  ; its common instructions are host code in the block (jit/x87_inline.h).
  mov dword [X87_TENTH], 0x9999999a     ; 0.1
  mov dword [X87_TENTH + 4], 0x3fb99999
  mov dword [X87_ONE], 0
  mov dword [X87_ONE + 4], 0x3ff00000
  mov dword [X87_TINY], 0               ; 1.5 * 2^-64
  mov dword [X87_TINY + 4], 0x3bf80000
  mov dword [X87_INF], 0
  mov dword [X87_INF + 4], 0x7ff00000
  mov dword [X87_QNAN], 0
  mov dword [X87_QNAN + 4], 0x7ff80000
  mov dword [X87_DEN], 1                ; 2^-1074
  mov dword [X87_DEN + 4], 0
  xor ebx, ebx
.g23:
  call x87_block_ops
  ASSERT32 dword [X87_OUT], 0x3dcccccd  ; 0.1 as a single, rounded up
  ASSERT32 dword [X87_OUT + 4], 0x3a20  ; TOP 7, C1 (rounded up), PE
  ASSERT32 dword [X87_OUT + 8], 0x3000  ; after FNCLEX, an exact sum: no flag
  ASSERT32 dword [X87_OUT + 12], 0x2a20 ; 1 + 1.5 * 2^-64 rounds up: C1, PE
  ASSERT32 dword [X87_OUT + 16], 1      ; ... to 1 + 2^-63
  ASSERT32 dword [X87_OUT + 20], 0x80000000
  ASSERT16 word [X87_OUT + 24], 0x3fff
  ASSERT32 dword [X87_OUT + 28], 0x6d20 ; FUCOM of a QNaN: unordered, no IE
  ASSERT32 dword [X87_OUT + 32], 0x7521 ; FCOMP of it: IE, popped
  ASSERT32 dword [X87_OUT + 36], 0x3021 ; 2 > 0.1: C3 C2 C0 clear
  ASSERT32 dword [X87_OUT + 40], 0x2f21 ; FXAM of -inf: C2 C0, C1 the sign
  ASSERT32 dword [X87_OUT + 44], 0x9999999a ; FXCH, FLD ST(i), FSTP ST(i) moved 0.1 ...
  ASSERT32 dword [X87_OUT + 48], 0x3fb99999
  ASSERT32 dword [X87_OUT + 52], 0      ; ... and +inf (FABS of -inf) twice
  ASSERT32 dword [X87_OUT + 56], 0x7ff00000
  ASSERT32 dword [X87_OUT + 60], 0
  ASSERT32 dword [X87_OUT + 64], 0x7ff00000
  ASSERT32 dword [X87_OUT + 68], 0x0021 ; TOP 0, C1 0
  ASSERT32 dword [X87_OUT + 72], 0x3802 ; a denormal double loaded: DE, C1 0
  ASSERT32 dword [X87_OUT + 76], 0x3a43 ; a ninth push: IE SF C1, the indefinite
  ASSERT32 dword [X87_OUT + 80], 0
  ASSERT32 dword [X87_OUT + 84], 0xfff80000
  mov eax, [X87_ENV + 8]
  and eax, 0xffff
  ASSERT32 eax, 0x03ff                  ; FSTENV's tags: R5-R7 valid, the rest empty
  mov eax, x87_block_ops.tiny
  ASSERT32 dword [X87_ENV + 12], eax    ; FIP: the FADD's
  ASSERT32 dword [X87_ENV + 20], X87_TINY ; FDP: its operand
  inc ebx
  cmp ebx, 6
  jb .g23
  PASS
.bad11:
  FAIL 11, "compare with memory after a TLB flush took the wrong branch"
.bad10:
  FAIL 10, "RDTSC went backwards"
.bad5:
  FAIL 5, "carry lost between blocks"

ind_target:
  lea eax, [ebx + 5]
  ret

read_ds10:
  mov eax, [0x10]
  ret

stack_only:
  push ebx
  pop ebx
  ret

; Group 14: EAX = 0x155, ECX = 0xef01a345, EDI = 10, EDX kept.
bit_ops:
  push ebp
  mov ebp, esp
  sub esp, 16
  push edx
  mov ecx, 0x12345678
  mov edx, 0x9abcdef0
  shrd ecx, edx, 12                     ; 0xef012345
  mov esi, 0x80
  bsr edi, esi                          ; 7
  xor esi, esi
  mov eax, 0x55
  bsf eax, esi                          ; zero source: EAX kept, ZF = 1
  setz ah                               ; 0x155
  bt ecx, 0                             ; CF = 1
  adc edi, 0                            ; 8
  bts ecx, 1                            ; CF = 0, 0xef012347
  adc edi, 0
  mov esi, 33
  btr ecx, esi                          ; bit 33 mod 32 = 1: CF = 1, 0xef012345
  adc edi, 0                            ; 9
  btc cx, 15                            ; CF = 0, 0xef01a345
  adc edi, 0
  push ecx
  xor ecx, ecx
  stc
  shld edi, edx, cl                     ; count 0: EDI and CF kept
  adc edi, 0                            ; 10
  pop ecx
  pop edx
  leave
  ret

; Group 15: EDX = 0x3000 (TOP = 6), ECX = 0x8d5, EAX = 0x800.
flag_ops:
  fninit
  fld1
  fldz
  fnstsw ax
  and eax, 0x3800                       ; TOP only (FLDZ leaves C0 C2 C3 undefined)
  mov edx, eax
  fstp st0
  fstp st0
  mov al, 0x7f
  add al, 1                             ; OF = 1
  mov ah, 0xd5
  sahf                                  ; SF ZF AF PF CF set, OF kept
  pushfd
  pop ecx
  and ecx, 0x8d5
  mov al, 0x7f
  add al, 1                             ; OF = 1 again (AND cleared it)
  mov ah, 0
  sahf                                  ; the five clear, OF kept
  pushfd
  pop eax
  and eax, 0x8d5
  ret

; Group 16: EDX = 0x0101, EBP = 9, ESI = 11, EDI = 0x41, EAX = 0x40.
lock_ops:
  xor edx, edx
  mov dword [SCRATCH], 5
  mov eax, 5
  mov ecx, 9
  lock cmpxchg [SCRATCH], ecx           ; equal: [SCRATCH] = 9, ZF = 1
  setz dl
  mov eax, 7
  lock cmpxchg [SCRATCH], ecx           ; 7 against 9: EAX = 9, ZF = 0, CF = 1
  setc dh
  mov ebp, eax
  lock add dword [SCRATCH], 3           ; 12
  lock dec dword [SCRATCH]              ; 11
  mov esi, [SCRATCH]
  mov byte [SCRATCH], 0x40
  mov al, 0x40
  mov cl, 0x41
  cmpxchg [SCRATCH], cl                 ; byte, equal: stores 0x41, AL kept
  movzx edi, byte [SCRATCH]
  ret

; Group 17: EAX = (argument + 3) * 2; EBX, ESI, EDI, EBP kept; EDX lost.
stack_frame:
  push ebp
  push ebx
  push esi
  push edi
  mov edx, [0xa0000]                    ; not RAM: this one read is a helper step
  mov eax, [esp + 20]                   ; the argument
  sub esp, 8
  mov [esp], eax
  mov edx, [SCRATCH]                    ; another page, between frame accesses
  mov dword [esp + 4], 3
  mov ecx, [esp]
  add ecx, [esp + 4]
  add esp, 8
  xor edx, edx                          ; (the ADD's flags are dead)
  pop edi
  pop esi
  pop ebx
  pop ebp
  lea eax, [ecx + ecx]
  ret

; Group 17: two pushes, then a read 0x14 above ESP (the return address
; is at ESP + 8).
push_then_read:
  push ecx
  cmp ecx, 0xc0ffee                     ; ZF = 1 (xor overwrites it before the return)
  push dword 1
.read:
  mov eax, [esp + 0x14]
  pop edx
  pop edx
  xor edx, edx
  ret

; Group 17: EAX = argument * 2 + 1, through an EBP frame (the block after
; the call reaches it only through EBP); EBX kept.
ebp_frame:
  push ebp
  mov ebp, esp
  sub esp, 8
  call .nothing
  mov eax, [ebp + 8]                    ; the argument
  mov [ebp - 4], eax
  mov edx, [0xa0000]                    ; a helper step between frame accesses
  mov ecx, [ebp - 4]
  add ecx, [ebp + 8]
  inc ecx
  mov [ebp - 8], ecx
  mov eax, [ebp - 8]
  leave
  ret
.nothing:
  ret

; Group 17: EAX = 1 when ECX = EDX, else 0; EBX kept. The CMP's ZF is
; tested after the stack run that holds the read after it has ended: the
; JIT leaves it in the host's EFLAGS across the read inside the run, and
; the run's ordinary copy (a frame across STK_EDGE), whose read checks the
; TLB, must put it back there before it joins.
flags_past_run:
  push ebx
  mov ebx, esp
  cmp ecx, edx
  mov eax, [esp + 4]                    ; the return address: in the run
  mov esp, ebx                          ; ends the run
  setz al
  movzx eax, al
  pop ebx
  ret

; Group 17: EAX = 1 when ECX = EDX, else 0; EBX kept. The CMP comes
; before the stack run: the run's one check leaves its ZF in the host's
; EFLAGS, and where the check fails (the frame across STK_EDGE) the flags
; are captured before the run's ordinary copy, which must not take them
; from the host again.
flags_before_run:
  cmp ecx, edx
  push ebx
  mov eax, [esp + 4]                    ; the return address: in the run
  pop ebx
  setz al
  movzx eax, al
  ret

; Group 18: EDX = CF PF AF ZF SF after ADD 0x7fffffff + 1 (PF AF SF)
; and ROL 0x10000000 by 4 (CF, 1), ECX = 1.
add_then_rotate:
  mov eax, 0x7fffffff
  mov ecx, 0x10000000
  add eax, 1
  rol ecx, 4
  pushfd
  pop edx
  and edx, 0xd5
  ret

; Group 18: the same ADD, then SHLD by CL = 0 (flags and EDI kept):
; EDX = OF SF AF PF, EDI = 0x55.
add_then_shld_zero:
  mov eax, 0x7fffffff
  mov edi, 0x55
  xor ecx, ecx
  add eax, 1
  shld edi, eax, cl
  pushfd
  pop edx
  and edx, 0x8d5
  ret

; Group 18: SHL by CL = 32 (masked to 0) as the block's first flag
; instruction: EDX = the caller's CF PF ZF SF OF, EAX kept.
shift_by_zero:
  mov cl, 32
  mov eax, 0x80
  shl eax, cl
  pushfd
  pop edx
  and edx, 0x8d5
  ret

; Group 18: EAX = 1 when ECX = EDX, else 0, tested after a load from
; SCRATCH.
cmp_across_refill:
  cmp ecx, edx
  mov eax, [SCRATCH]
  setz al
  movzx eax, al
  ret

; Group 18: faults at .read (EDX = a page not present) with the CMP's
; ZF = 1.
cmp_then_fault:
  cmp ecx, 0xc0ffee
.read:
  mov eax, [edx]
  xor edx, edx
  ret

; Group 19: EAX = 44, ECX = 1056, EDX = 2128, ESI = 2 * [SCRATCH].
host_copy_forms:
  mov eax, 5
  add eax, eax                          ; 10
  lea eax, [eax*4 + 4]                  ; 44
  lea ecx, [eax + eax*2]                ; 132
  lea edx, [ecx]
  lea edx, [edx + 1]                    ; 133
  shl ecx, 3                            ; 1056
  rol edx, 4                            ; 2128
  movzx esi, byte [SCRATCH]
  add esi, esi
  ret

; Group 20: see there. DF is clear again on return.
string_ops:
  cld
  mov esi, str_src
  mov edi, SCRATCH + 16
  lodsd                                 ; 'ABCD', ESI + 4
  stosd                                 ; EDI + 4
  cmp eax, eax                          ; ZF = 1
  lodsb                                 ; 'E', ESI + 1
  setz cl
  std
  lodsb                                 ; 'F', ESI - 1
  mov edi, SCRATCH + 16
  scasb                                 ; 'F' - 'A': ZF = 0, EDI - 1
  setnz ch
  cld
  ret
str_src: db "ABCDEF"

; Group 21: 7 * 0.5 + 0.25 = 3.75, squared 14.0625 (FIST: 14), + 2 =
; 16.0625 (FSTP m64), compared with 1; then 40.0 from across a page
; (FISTP: 40). AX = the status word after the compare; the environment at
; SCRATCH + 32.
x87_ops:
  fninit
  fild dword [X87_SEVEN]
  fmul qword [X87_HALF]
  fadd dword [X87_QUARTER]
  fld st0
  fmulp st1, st0
  fist dword [SCRATCH]
  fiadd word [X87_TWO]
  fld1
  fcomp st1
  fnstsw ax
  fstp qword [SCRATCH + 8]
  fld qword [X87_CROSS]
.last:
  fistp dword [SCRATCH + 4]
  fnstenv [SCRATCH + 32]
  ret

; Group 23: status words and values into X87_OUT (see the checks there).
; (At X87_OUT + 68 and on, without C0 C2 C3, which FSTP, FNCLEX and FLD
; leave undefined.)
%macro X87_STATUS 1
  fnstsw ax
  movzx eax, ax
%if %1 >= 68
  and eax, 0xbaff
%endif
  mov [X87_OUT + %1], eax
%endmacro
x87_block_ops:
  fninit
  fld qword [X87_TENTH]
  fst dword [X87_OUT]
  X87_STATUS 4
  fnclex
  fld qword [X87_ONE]
  fadd qword [X87_ONE]                  ; 2, 0.1
  X87_STATUS 8
  fld qword [X87_ONE]
.tiny:
  fadd qword [X87_TINY]
  X87_STATUS 12
  jmp .held                             ; (a block ends with values held: -accel
.held:                                  ; jit,verify=on compares their tags there)
  fnstenv [X87_ENV]
  fstp tword [X87_OUT + 16]
  fld qword [X87_QNAN]                  ; NaN, 2, 0.1
  fucom st1
  X87_STATUS 28
  fcomp st1                             ; 2, 0.1
  X87_STATUS 32
  fcom st1
  X87_STATUS 36
  fld qword [X87_INF]
  fchs
  jmp .special                          ; (and with a special value held)
.special:
  fxam
  X87_STATUS 40
  fabs                                  ; inf, 2, 0.1
  fxch st2                              ; 0.1, 2, inf
  fld st2                               ; inf, 0.1, 2, inf
  fstp st2                              ; 0.1, inf, inf
  fstp qword [X87_OUT + 44]
  fstp qword [X87_OUT + 52]
  fstp qword [X87_OUT + 60]
  X87_STATUS 68
  fnclex
  fld qword [X87_DEN]
  X87_STATUS 72
  fld1
  fld1
  fld1
  fld1
  fld1
  fld1
  fld1
  fld qword [X87_ONE]                   ; the ninth
  X87_STATUS 76
  fstp qword [X87_OUT + 80]
  fninit
  ret

; Group 17: EAX = ESP at the call (LEA in the middle of pushes and pops).
lea_after_pushes:
  push ebx
  push ecx
  lea eax, [esp + 8]
  pop ecx
  pop ebx
  ret

; Group 17: two pushes, then a read through EDX.
push_then_fault:
  push ecx
  cmp ecx, 0xc0ffee                     ; ZF = 1 (xor overwrites it before the return)
  push dword 1
.read:
  mov eax, [edx]
  pop edx
  pop edx
  xor edx, edx
  ret

; Copied to SMC_AT: stores CL at EDI, which may be the immediate of the MOV
; right after it.
smc_code:
  mov [edi], cl
smc_patch:
  mov al, 0
  ret
smc_code_end:

; Copied to SB_AT: stores CL at EDI; DL = 0xdd for odd EBX, else the
; immediate at sb_patch (and EAX counts the runs of the part before it).
sb_code:
  mov [edi], cl
  xor edx, edx
  test ebx, 2
  jz sb_on                              ; both ways lead on (displacement 0)
sb_on:
  test ebx, 1
  jnz sb_odd
  inc eax
sb_patch:
  mov dl, 0
  ret
sb_odd:
  mov dl, 0xdd
  ret
sb_code_end:

; Copied to physical 0x300000 (mapped at 0x400000 and 0x401000).
alias_code:
  mov eax, 0x11111111
  ret
alias_code_end:
