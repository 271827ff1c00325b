; paging: 2-level 32-bit paging with an identity map and an alias, #PF
; error codes and CR2, CR0.WP, INVLPG, then PAE paging with 2 MiB pages
; (SDM Vol. 3A, chapter 4); code whose page is remapped under the caches
; that find it by linear address.
;
; Memory: page directory 0x200000, identity page table for 0-4 MiB at
; 0x201000, page table for 0x400000-0x7fffff at 0x202000 (0x400000 ->
; 0x300000 writable, 0x401000 -> 0x300000 read-only, 0x402000 absent);
; PAE: PDPT 0x203000, page directory 0x204000.

%include "harness.inc"

PD      equ 0x200000
PT0     equ 0x201000
PT1     equ 0x202000
PDPT    equ 0x203000
PAE_PD  equ 0x204000
CR0_PG  equ 0x80000000
CR0_WP  equ 0x10000
CR4_PAE equ 0x20

; Calls the function at %1 300 times from a loop, adding each EAX to ESI;
; before the 201st call runs %2 (a macro that remaps its page), then
; checks the sum against %3. (The remapping block ends with a jump: the
; call after it is in a block the JIT entered with its state checked,
; which looks the target up in generated code.)
%macro REMAP_LOOP 3
  mov ecx, 300
  xor esi, esi
%%loop:
  cmp ecx, 100
  jne %%call
  %2
  jmp %%call
%%call:
  mov edx, %1
  call edx
  add esi, eax
  loop %%loop
  ASSERT32 esi, %3
%endmacro
%macro REMAP_BY_INVLPG 0
  mov dword [PT1 + 12], 0x303003        ; 0x403000 -> 0x303000
  invlpg [0x403000]
%endmacro
%macro REMAP_BY_CR3 0
  mov dword [PT1 + 12], 0x302003        ; back to 0x302000
  mov eax, cr3
  mov cr3, eax
%endmacro
%macro REMAP_THEN_READ 0
  mov dword [PT1 + 12], 0x303003        ; -> 0x303000
  invlpg [0x403000]
  mov eax, [0x403000]
%endmacro
%macro REMAP_SECOND_PAGE 0
  mov dword [PT1 + 20], 0x306003        ; 0x405000 -> 0x306000
  invlpg [0x405000]
%endmacro

CODE16
start:
  PRINT "paging: 2-level and PAE page walks, #PF, INVLPG", 10
  ENTER_PMODE pm_main

CODE32
pm_main:
  GROUP 1, "2-level paging: identity map and an alias"
  IDENTITY_PT PT0, PD
  mov dword [PD + 4], PT1 | 3
  mov dword [PT1], 0x300003             ; 0x400000 -> 0x300000, writable
  mov dword [PT1 + 4], 0x300001         ; 0x401000 -> 0x300000, read-only
  mov dword [PT1 + 8], 0                ; 0x402000 absent
  ENABLE_PAGING PD
  mov dword [0x400010], 0x12345678
  ASSERT32 dword [0x300010], 0x12345678
  ASSERT32 dword [0x401010], 0x12345678
  mov eax, [PT1]
  and eax, 0x60
  ASSERT32 eax, 0x60                    ; accessed and dirty
  mov eax, [PT1 + 4]
  and eax, 0x60
  ASSERT32 eax, 0x20                    ; accessed, not dirty
  mov eax, [PD + 4]
  and eax, 0x60
  ASSERT32 eax, 0x20                    ; PDE: accessed only

  GROUP 2, "#PF for a not-present page: error code and CR2"
  EXPECT_EXC 14, .r1
.f1:
  mov eax, [0x402abc]
  FAIL 2, "no #PF for a not-present page"
.r1:
  CHECK_EXC 14, 0, .f1, SEL_CODE32
  mov eax, cr2
  ASSERT32 eax, 0x402abc
  EXPECT_EXC 14, .r2
.f2:
  mov dword [0x402000], 1
  FAIL 2, "no #PF for a write to a not-present page"
.r2:
  CHECK_EXC 14, 2, .f2, SEL_CODE32

  GROUP 3, "CR0.WP: supervisor writes to a read-only page"
  mov dword [0x401020], 5               ; WP=0: allowed
  ASSERT32 dword [0x300020], 5
  mov eax, cr0
  or eax, CR0_WP
  mov cr0, eax
  EXPECT_EXC 14, .r3
.f3:
  mov dword [0x401024], 6
  FAIL 3, "no #PF for a write to a read-only page with WP=1"
.r3:
  CHECK_EXC 14, 3, .f3, SEL_CODE32
  mov eax, cr2
  ASSERT32 eax, 0x401024
  ASSERT32 dword [0x300024], 0
  mov eax, cr0
  and eax, ~CR0_WP
  mov cr0, eax

  GROUP 4, "INVLPG after changing a PTE"
  mov dword [0x301010], 0xcafe
  mov dword [PT1], 0x301003             ; 0x400000 -> 0x301000
  invlpg [0x400000]
  ASSERT32 dword [0x400010], 0xcafe

  ; Code reached through a return or an indirect call is found by linear
  ; address in caches beside the TLB (the interpreter's fetch cache, the
  ; JIT's jump cache): they must follow the TLB. A function at 0x403000
  ; (mov eax, N; ret) is called from a hot loop, so the JIT has it cached,
  ; and its page is remapped part way through.
  GROUP 5, "a remapped code page: INVLPG, CR3 reload, a data access's walk"
  mov dword [0x302000], 0x000001b8      ; 0x302000: mov eax, 1; ret
  mov word [0x302004], 0xc300
  mov dword [0x303000], 0x000002b8      ; 0x303000: mov eax, 2; ret
  mov word [0x303004], 0xc300
  mov dword [PT1 + 12], 0x302003        ; 0x403000 -> 0x302000
  invlpg [0x403000]
  REMAP_LOOP 0x403000, REMAP_BY_INVLPG, 200 * 1 + 100 * 2
  REMAP_LOOP 0x403000, REMAP_BY_CR3, 200 * 2 + 100 * 1
  ; The walk of a data read puts the new mapping in the TLB before the
  ; call: a cache that checked only that the TLB still has the page runs
  ; the old page's code.
  REMAP_LOOP 0x403000, REMAP_THEN_READ, 200 * 1 + 100 * 2

  ; A function whose first instruction runs into the next page (mov eax,
  ; imm32 at 0x404ffe: two bytes on 0x404000, the rest and the ret on
  ; 0x405000): remapping only the second page changes what it returns.
  GROUP 6, "a remapped second page under code that runs into it"
  mov word [0x304ffe], 0x01b8           ; mov eax, 0x00000001 | b << 8
  mov dword [0x305000], 0xc3000000      ; b = 0
  mov dword [0x306000], 0xc3000001      ; b = 1
  mov dword [PT1 + 16], 0x304003        ; 0x404000 -> 0x304000
  mov dword [PT1 + 20], 0x305003        ; 0x405000 -> 0x305000
  invlpg [0x404000]
  invlpg [0x405000]
  REMAP_LOOP 0x404ffe, REMAP_SECOND_PAGE, 200 * 1 + 100 * 0x101

  GROUP 7, "PAE paging with 2 MiB pages"
  mov eax, cr0
  and eax, ~CR0_PG
  mov cr0, eax
  mov dword [PDPT], PAE_PD | 1
  mov dword [PDPT + 4], 0
  mov dword [PAE_PD], 0x000083          ; 0-2 MiB identity, 2 MiB page
  mov dword [PAE_PD + 4], 0
  mov dword [PAE_PD + 8], 0x200083      ; 2-4 MiB identity
  mov dword [PAE_PD + 12], 0
  mov dword [PAE_PD + 16], 0x200083     ; 4-6 MiB -> 2-4 MiB (alias)
  mov dword [PAE_PD + 20], 0
  mov dword [PAE_PD + 24], 0            ; 6-8 MiB absent
  mov dword [PAE_PD + 28], 0
  mov eax, cr4
  or eax, CR4_PAE
  mov cr4, eax
  mov eax, PDPT
  mov cr3, eax
  mov eax, cr0
  or eax, CR0_PG
  mov cr0, eax
  jmp short .pae
.pae:
  ASSERT32 dword [0x500010], 0x12345678 ; 0x500010 -> 0x300010
  mov dword [0x500030], 9
  ASSERT32 dword [0x300030], 9
  mov eax, [PAE_PD + 16]
  and eax, 0x60
  ASSERT32 eax, 0x60                    ; the 2 MiB PDE: accessed and dirty
  EXPECT_EXC 14, .r5
.f5:
  mov eax, [0x600004]
  FAIL 7, "no #PF in PAE mode"
.r5:
  CHECK_EXC 14, 0, .f5, SEL_CODE32
  mov eax, cr2
  ASSERT32 eax, 0x600004

  GROUP 8, "paging off again"
  mov eax, cr0
  and eax, ~CR0_PG
  mov cr0, eax
  mov eax, cr4
  and eax, ~CR4_PAE
  mov cr4, eax
  ASSERT32 dword [0x300010], 0x12345678
  PASS
