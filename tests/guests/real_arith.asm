; real_arith: real-mode integer arithmetic and the flags it produces.
;
; Every expected value below is worked out from the instruction descriptions
; in the Intel SDM Vol. 2 (flag rules in the "Flags Affected" sections).
; Flags that the SDM calls "undefined" for an instruction are masked out.
; Flag bits: CF=0x001 PF=0x004 AF=0x010 ZF=0x040 SF=0x080 OF=0x800.
; PF is the even parity of the LOW BYTE of the result only.

%include "harness.inc"

CODE16
start:
  PRINT "real_arith: real-mode arithmetic and flags", 10

; ---------------------------------------------------------------------------
  GROUP 1, "ADD/ADC/SUB/SBB/CMP"
  ; 0x7F + 1 = 0x80: signed overflow (pos+pos=neg) OF=1, SF=1, carry out of
  ; bit 3 (F+1) AF=1, no carry out of bit 7 CF=0, 0x80 has one bit set PF=0
  mov al, 0x7F
  add al, 1
  ASSERT_FLAGS FL_ARITH, FL_OF|FL_SF|FL_AF
  ASSERT8 al, 0x80
  ; 0xFFFF + 1 = 0x0000: CF=1 ZF=1 AF=1 PF=1 (low byte 0x00), OF=0
  mov ax, 0xFFFF
  add ax, 1
  ASSERT_FLAGS FL_ARITH, FL_CF|FL_ZF|FL_AF|FL_PF
  ASSERT16 ax, 0
  ; 0x80000000 + 0x80000000 = 0: CF=1, OF=1 (neg+neg=pos), ZF=1, PF=1, AF=0
  mov eax, 0x80000000
  add eax, 0x80000000
  ASSERT_FLAGS FL_ARITH, FL_CF|FL_OF|FL_ZF|FL_PF
  ASSERT32 eax, 0
  ; ADC with CF=1: 0xFE + 1 + 1 = 0x100 -> 0x00 CF=1 ZF=1 AF=1 (E+1+1) PF=1
  stc
  mov al, 0xFE
  adc al, 1
  ASSERT_FLAGS FL_ARITH, FL_CF|FL_ZF|FL_AF|FL_PF
  ASSERT8 al, 0
  ; ADC: 0x7FFFFFFF + 0 + CF(1) = 0x80000000: OF=1 SF=1 AF=1 PF=1 CF=0
  stc
  mov eax, 0x7FFFFFFF
  adc eax, 0
  ASSERT_FLAGS FL_ARITH, FL_OF|FL_SF|FL_AF|FL_PF
  ASSERT32 eax, 0x80000000
  ; 0 - 1 = 0xFF: borrow CF=1, AF=1, SF=1, PF=1 (eight ones), OF=0
  mov al, 0
  sub al, 1
  ASSERT_FLAGS FL_ARITH, FL_CF|FL_AF|FL_SF|FL_PF
  ASSERT8 al, 0xFF
  ; 0x80 - 1 = 0x7F: OF=1 (neg-pos=pos), AF=1, PF=0 (seven ones), CF=0
  mov al, 0x80
  sub al, 1
  ASSERT_FLAGS FL_ARITH, FL_OF|FL_AF
  ASSERT8 al, 0x7F
  ; SBB with CF=1: 0x1000 - 0x0FFF - 1 = 0: ZF=1 PF=1 AF=1 (0-F-1 borrows)
  stc
  mov ax, 0x1000
  sbb ax, 0x0FFF
  ASSERT_FLAGS FL_ARITH, FL_ZF|FL_PF|FL_AF
  ASSERT16 ax, 0
  ; 64-bit subtract 0x1_00000000 - 1 with SUB/SBB: EDX:EAX = 0:FFFFFFFF;
  ; the SBB computes 1 - 0 - 1 = 0: ZF=1 PF=1, CF=0, AF=0
  xor eax, eax
  mov edx, 1
  sub eax, 1
  sbb edx, 0
  ASSERT_FLAGS FL_ARITH, FL_ZF|FL_PF
  ASSERT32 eax, 0xFFFFFFFF
  ASSERT32 edx, 0
  ; CMP 5, 7: 5-7 = 0xFFFE (not stored): CF=1 SF=1 AF=1, PF=0 (0xFE: 7 ones)
  mov ax, 5
  cmp ax, 7
  ASSERT_FLAGS FL_ARITH, FL_CF|FL_SF|FL_AF
  ASSERT16 ax, 5

; ---------------------------------------------------------------------------
  GROUP 2, "INC/DEC/NEG"
  ; INC/DEC do not touch CF (SDM: "The CF flag is not affected")
  stc
  mov al, 0xFF
  inc al                                ; 0x00: ZF AF PF, CF stays 1
  ASSERT_FLAGS FL_ARITH, FL_CF|FL_ZF|FL_AF|FL_PF
  ASSERT8 al, 0
  clc
  mov ax, 0x7FFF
  inc ax                                ; 0x8000: OF SF AF PF(low byte 00)
  ASSERT_FLAGS FL_ARITH, FL_OF|FL_SF|FL_AF|FL_PF
  ASSERT16 ax, 0x8000
  stc
  mov eax, 0x80000000
  dec eax                               ; 0x7FFFFFFF: OF AF PF, CF stays 1
  ASSERT_FLAGS FL_ARITH, FL_OF|FL_AF|FL_PF|FL_CF
  ASSERT32 eax, 0x7FFFFFFF
  clc
  mov bl, 1
  dec bl                                ; 0: ZF PF
  ASSERT_FLAGS FL_ARITH, FL_ZF|FL_PF
  ; NEG: CF = (source != 0); flags as for 0 - src
  stc
  mov al, 0
  neg al                                ; 0: CF=0 ZF PF
  ASSERT_FLAGS FL_ARITH, FL_ZF|FL_PF
  mov al, 0x80
  neg al                                ; 0x80: CF, OF (-(-128)), SF, PF=0, AF=0
  ASSERT_FLAGS FL_ARITH, FL_CF|FL_OF|FL_SF
  ASSERT8 al, 0x80
  mov ax, 1
  neg ax                                ; 0xFFFF: CF SF AF PF
  ASSERT_FLAGS FL_ARITH, FL_CF|FL_SF|FL_AF|FL_PF
  ASSERT16 ax, 0xFFFF
  mov eax, 0x12345678
  neg eax                               ; 0xEDCBA988: CF SF AF(0-8), PF (0x88: 2 ones)
  ASSERT_FLAGS FL_ARITH, FL_CF|FL_SF|FL_AF|FL_PF
  ASSERT32 eax, 0xEDCBA988

; ---------------------------------------------------------------------------
  GROUP 3, "MUL/IMUL"
  ; MUL: CF=OF=1 iff the upper half of the product is non-zero; SF ZF AF PF
  ; undefined.
  mov al, 0x80
  mov bl, 2
  mul bl                                ; AX = 0x0100
  ASSERT_FLAGS FL_CF|FL_OF, FL_CF|FL_OF
  ASSERT16 ax, 0x0100
  mov al, 0x10
  mov bl, 0x0F
  mul bl                                ; AX = 0x00F0
  ASSERT_FLAGS FL_CF|FL_OF, 0
  ASSERT16 ax, 0x00F0
  mov ax, 0x1234
  mov cx, 0x5678
  mul cx                                ; 0x1234*0x5678 = 0x06260060
  ASSERT_FLAGS FL_CF|FL_OF, FL_CF|FL_OF
  ASSERT16 dx, 0x0626
  ASSERT16 ax, 0x0060
  mov eax, 0xFFFFFFFF
  mov ecx, 0xFFFFFFFF
  mul ecx                               ; 0xFFFFFFFE_00000001
  ASSERT_FLAGS FL_CF|FL_OF, FL_CF|FL_OF
  ASSERT32 edx, 0xFFFFFFFE
  ASSERT32 eax, 0x00000001
  ; IMUL: CF=OF=1 iff the result does not fit the destination size (i.e.
  ; the full product is not the sign extension of its lower half).
  mov al, -2
  mov bl, 3
  imul bl                               ; -6 = 0xFFFA, fits in AL
  ASSERT_FLAGS FL_CF|FL_OF, 0
  ASSERT16 ax, 0xFFFA
  mov al, 100
  mov bl, 2
  imul bl                               ; 200 = 0x00C8, does not fit in AL
  ASSERT_FLAGS FL_CF|FL_OF, FL_CF|FL_OF
  ASSERT16 ax, 0x00C8
  mov ebx, 0x10000000
  imul ecx, ebx, -3                     ; -0x30000000 = 0xD0000000, fits
  ASSERT_FLAGS FL_CF|FL_OF, 0
  ASSERT32 ecx, 0xD0000000
  mov ebx, 0x40000000
  imul ebx, ebx, 4                      ; 0x1_00000000 truncated to 0: overflow
  ASSERT_FLAGS FL_CF|FL_OF, FL_CF|FL_OF
  ASSERT32 ebx, 0
  mov eax, 0x80000000
  mov ecx, 2
  imul ecx                              ; -2^31 * 2 = 0xFFFFFFFF_00000000
  ASSERT_FLAGS FL_CF|FL_OF, FL_CF|FL_OF
  ASSERT32 edx, 0xFFFFFFFF
  ASSERT32 eax, 0
  mov eax, -1
  mov ecx, -1
  imul ecx                              ; 1
  ASSERT_FLAGS FL_CF|FL_OF, 0
  ASSERT32 edx, 0
  ASSERT32 eax, 1
  mov ax, -300
  mov dx, 7
  imul ax, dx                           ; -2100 = 0xF7CC, fits
  ASSERT_FLAGS FL_CF|FL_OF, 0
  ASSERT16 ax, 0xF7CC

; ---------------------------------------------------------------------------
  GROUP 4, "DIV/IDIV (and CBW/CWD/CDQ)"
  mov ax, 1000
  mov bl, 7
  div bl                                ; 1000 = 7*142 + 6 -> AL=0x8E AH=6
  ASSERT16 ax, 0x068E
  mov dx, 1
  xor ax, ax
  mov cx, 0x10
  div cx                                ; 0x10000 / 0x10 = 0x1000 r 0
  ASSERT16 ax, 0x1000
  ASSERT16 dx, 0
  mov edx, 1
  mov eax, 0x23456789
  mov ecx, 0x10000
  div ecx                               ; 0x1_23456789 / 0x10000
  ASSERT32 eax, 0x00012345
  ASSERT32 edx, 0x00006789
  ; IDIV truncates toward zero; the remainder has the dividend's sign
  mov ax, -7
  mov bl, 2
  idiv bl                               ; q = -3 (0xFD), r = -1 (0xFF)
  ASSERT16 ax, 0xFFFD
  mov eax, -1000000
  cdq
  ASSERT32 edx, 0xFFFFFFFF
  mov ecx, 7
  idiv ecx                              ; q = -142857 = 0xFFFDD1F7, r = -1
  ASSERT32 eax, 0xFFFDD1F7
  ASSERT32 edx, 0xFFFFFFFF
  mov ax, 100
  cwd
  ASSERT16 dx, 0
  mov cx, -7
  idiv cx                               ; q = -14 = 0xFFF2, r = 2
  ASSERT16 ax, 0xFFF2
  ASSERT16 dx, 2
  mov al, 0x90
  cbw
  ASSERT16 ax, 0xFF90
  mov ax, 0x8001
  cwde
  ASSERT32 eax, 0xFFFF8001
  movsx ecx, byte [cs:byte_80]
  ASSERT32 ecx, 0xFFFFFF80
  movzx ecx, byte [cs:byte_80]
  ASSERT32 ecx, 0x00000080

; ---------------------------------------------------------------------------
  GROUP 5, "shifts and rotates"
  ; SHL 1: CF = bit shifted out (old bit 7), OF = MSB(result) XOR CF.
  ; AF is undefined for shifts with a non-zero count -> masked.
  mov al, 0x81
  shl al, 1                             ; 0x02, CF=1, OF=0^1=1, PF=0 (one bit)
  ASSERT_FLAGS FL_CF|FL_OF|FL_SF|FL_ZF|FL_PF, FL_CF|FL_OF
  ASSERT8 al, 0x02
  ; SHR 1: OF = MSB of the ORIGINAL operand
  mov ax, 0x8000
  shr ax, 1                             ; 0x4000, CF=0, OF=1, PF=1 (low byte 0)
  ASSERT_FLAGS FL_CF|FL_OF|FL_SF|FL_ZF|FL_PF, FL_OF|FL_PF
  ASSERT16 ax, 0x4000
  ; SAR 1: OF = 0
  mov al, 0x81
  sar al, 1                             ; 0xC0, CF=1, SF=1, PF=1 (two ones)
  ASSERT_FLAGS FL_CF|FL_OF|FL_SF|FL_ZF|FL_PF, FL_CF|FL_SF|FL_PF
  ASSERT8 al, 0xC0
  ; SHL by 4 (OF undefined): CF = old bit 28 = 0
  mov eax, 0x80000001
  shl eax, 4                            ; 0x00000010, PF=0
  ASSERT_FLAGS FL_CF|FL_SF|FL_ZF|FL_PF, 0
  ASSERT32 eax, 0x10
  ; the count is masked to 5 bits: CL = 33 shifts by 1
  mov eax, 0x80000001
  mov cl, 33
  shl eax, cl                           ; 0x00000002, CF=1, OF=0^1=1
  ASSERT_FLAGS FL_CF|FL_OF, FL_CF|FL_OF
  ASSERT32 eax, 2
  ; a masked count of 0 leaves the flags alone (CL = 32)
  stc
  mov eax, 0x12345678
  mov cl, 32
  shr eax, cl
  ASSERT_FLAGS FL_CF, FL_CF
  ASSERT32 eax, 0x12345678
  ; ROL 1: CF = LSB(result), OF = MSB(result) XOR CF
  mov al, 0x81
  rol al, 1                             ; 0x03, CF=1, OF=0^1=1
  ASSERT_FLAGS FL_CF|FL_OF, FL_CF|FL_OF
  ASSERT8 al, 0x03
  ; ROR 1: CF = MSB(result), OF = MSB XOR MSB-1 of the result
  mov ax, 1
  ror ax, 1                             ; 0x8000, CF=1, OF=1^0=1
  ASSERT_FLAGS FL_CF|FL_OF, FL_CF|FL_OF
  ASSERT16 ax, 0x8000
  ; RCL 1 through CF=1
  stc
  mov al, 0x80
  rcl al, 1                             ; 0x01, CF=1 (old MSB), OF=0^1=1
  ASSERT_FLAGS FL_CF|FL_OF, FL_CF|FL_OF
  ASSERT8 al, 0x01
  ; RCR 1 with CF=0: OF = MSB(dest) XOR CF before the rotate = 0^0
  clc
  mov al, 0x01
  rcr al, 1                             ; 0x00, CF=1
  ASSERT_FLAGS FL_CF|FL_OF, FL_CF
  ASSERT8 al, 0x00
  ; RCR by 2 through CF=1 (33-bit rotate): 1,0x00000002 -> 0x80000001,CF=0
  ; -> 0x40000000, CF=1
  stc
  mov eax, 2
  rcr eax, 2
  ASSERT_FLAGS FL_CF, FL_CF
  ASSERT32 eax, 0x40000000
  ; SHLD/SHRD
  mov eax, 0x12345678
  mov edx, 0x9ABCDEF0
  shld eax, edx, 8                      ; 0x3456789A, CF = old bit 24 = 0
  ASSERT_FLAGS FL_CF, 0
  ASSERT32 eax, 0x3456789A
  mov eax, 0x12345678
  shrd eax, edx, 4                      ; 0x01234567 (edx low nibble 0), CF = old bit 3 = 1
  ASSERT_FLAGS FL_CF, FL_CF
  ASSERT32 eax, 0x01234567
  ASSERT32 edx, 0x9ABCDEF0

; ---------------------------------------------------------------------------
  GROUP 6, "BCD: DAA/DAS/AAA/AAM/AAD"
  ; DAA (SDM pseudo-code): old_AL = AL; if (AL&F)>9 or AF: AL+=6, AF=1;
  ; if old_AL>0x99 or old CF: AL+=0x60, CF=1. OF undefined.
  mov al, 0x79
  add al, 0x35                          ; 0xAE, AF=0, CF=0
  daa                                   ; 0xAE+6=0xB4, +0x60 -> 0x14, CF=1: "79+35=114"
  ASSERT_FLAGS FL_CF|FL_AF|FL_ZF|FL_SF|FL_PF, FL_CF|FL_AF|FL_PF
  ASSERT8 al, 0x14
  mov al, 0x38
  add al, 0x45                          ; 0x7D
  daa                                   ; 0x83, AF=1, CF=0, SF=1, PF=0 (3 ones)
  ASSERT_FLAGS FL_CF|FL_AF|FL_ZF|FL_SF|FL_PF, FL_AF|FL_SF
  ASSERT8 al, 0x83
  ; DAS: 0x35 - 0x47 = 0xEE, CF=1 AF=1 -> -6 -> 0xE8, -0x60 -> 0x88, CF=1
  mov al, 0x35
  sub al, 0x47
  das
  ASSERT_FLAGS FL_CF|FL_AF|FL_ZF|FL_SF|FL_PF, FL_CF|FL_AF|FL_SF|FL_PF
  ASSERT8 al, 0x88
  ; AAA: 9 + 8 = 0x11 with AF=1 -> AX += 0x106 -> 0x0117, AL &= 0xF -> 0x0107
  mov ax, 0x0009
  add al, 0x08
  aaa
  ASSERT_FLAGS FL_CF|FL_AF, FL_CF|FL_AF
  ASSERT16 ax, 0x0107
  ; AAM: AH = AL / 10, AL = AL mod 10; SF ZF PF from AL
  mov ax, 63
  aam                                   ; AX = 0x0603, PF=1 (0x03: 2 ones)
  ASSERT_FLAGS FL_SF|FL_ZF|FL_PF, FL_PF
  ASSERT16 ax, 0x0603
  mov ax, 100
  aam 16                                ; base 16: AH=6 AL=4
  ASSERT16 ax, 0x0604
  ; AAD: AL = AH*10 + AL, AH = 0
  mov ax, 0x0607
  aad                                   ; 67 = 0x43, PF=0 (3 ones)
  ASSERT_FLAGS FL_SF|FL_ZF|FL_PF, 0
  ASSERT16 ax, 0x0043
  mov ax, 0x0102
  aad 16                                ; 1*16+2 = 0x12
  ASSERT16 ax, 0x0012

; ---------------------------------------------------------------------------
  GROUP 7, "BT/BTS/BTR/BTC/BSF/BSR"
  mov eax, 0x00000100
  bt eax, 8
  ASSERT_FLAGS FL_CF, FL_CF
  bt eax, 9
  ASSERT_FLAGS FL_CF, 0
  bts eax, 0                            ; CF = old bit 0 = 0, set it
  ASSERT_FLAGS FL_CF, 0
  ASSERT32 eax, 0x101
  btr eax, 8                            ; CF = 1, clear it
  ASSERT_FLAGS FL_CF, FL_CF
  ASSERT32 eax, 0x001
  btc eax, 0                            ; CF = 1, complement -> 0
  ASSERT_FLAGS FL_CF, FL_CF
  ASSERT32 eax, 0
  ; register bit offset on a memory operand addresses a bit string: bit 35
  ; of the string at bt_string is bit 3 of the byte at bt_string+4
  mov bx, 35
  bt word [cs:bt_string], bx
  ASSERT_FLAGS FL_CF, FL_CF
  mov bx, 34
  bt word [cs:bt_string], bx
  ASSERT_FLAGS FL_CF, 0
  ; BSF/BSR: index of lowest/highest set bit, ZF=0; ZF=1 for a zero source
  mov eax, 0x00012000
  bsf ecx, eax
  ASSERT_FLAGS FL_ZF, 0
  ASSERT32 ecx, 13
  bsr ecx, eax
  ASSERT_FLAGS FL_ZF, 0
  ASSERT32 ecx, 16
  mov ax, 0x8000
  bsr dx, ax
  ASSERT16 dx, 15
  xor eax, eax
  bsf ecx, eax
  ASSERT_FLAGS FL_ZF, FL_ZF

; ---------------------------------------------------------------------------
  GROUP 8, "SETcc/CMOVcc"
  ; 5 - 7: CF=1 ZF=0 SF=1 OF=0 PF=0
  mov al, 5
  cmp al, 7
  setb bl
  ASSERT8 bl, 1
  seta bl
  ASSERT8 bl, 0
  setl bl
  ASSERT8 bl, 1
  setg bl
  ASSERT8 bl, 0
  setle bl
  ASSERT8 bl, 1
  setbe bl
  ASSERT8 bl, 1
  setz bl
  ASSERT8 bl, 0
  setnz bl
  ASSERT8 bl, 1
  sets bl
  ASSERT8 bl, 1
  seto bl
  ASSERT8 bl, 0
  setp bl
  ASSERT8 bl, 0
  ; 0x80 - 1 = 0x7F: unsigned 128 > 1, signed -128 < 1 (OF=1, SF=0)
  mov al, 0x80
  cmp al, 1
  seta bl
  ASSERT8 bl, 1
  setl bl
  ASSERT8 bl, 1
  setge bl
  ASSERT8 bl, 0
  seto bl
  ASSERT8 bl, 1
  ; CMOVcc moves only when the condition holds
  mov eax, 0x11111111
  mov ebx, 0x22222222
  mov ecx, 0x33333333
  cmp ecx, ecx                          ; ZF=1 CF=0
  cmovz eax, ebx
  ASSERT32 eax, 0x22222222
  cmovnz eax, ecx
  ASSERT32 eax, 0x22222222
  cmovc eax, ecx
  ASSERT32 eax, 0x22222222
  cmovae eax, ecx
  ASSERT32 eax, 0x33333333
  mov dx, 0x4444
  stc
  cmovc ax, dx
  ASSERT32 eax, 0x33334444

; ---------------------------------------------------------------------------
  GROUP 9, "XADD/CMPXCHG/CMPXCHG8B/BSWAP"
  mov eax, 0x10
  mov ebx, 0x20
  xadd eax, ebx                         ; eax = 0x30, ebx = old eax; flags of ADD
  ASSERT32 eax, 0x30
  ASSERT32 ebx, 0x10
  ASSERT_FLAGS FL_ARITH, FL_PF          ; 0x30: two ones
  mov dword [TEST_VARS], 5
  mov ecx, 3
  xadd [TEST_VARS], ecx
  ASSERT32 dword [TEST_VARS], 8
  ASSERT32 ecx, 5
  ; CMPXCHG: if accumulator == dest: ZF=1, dest = src; else ZF=0, acc = dest
  mov dword [TEST_VARS+4], 7
  mov eax, 7
  mov ecx, 9
  cmpxchg [TEST_VARS+4], ecx
  ASSERT_FLAGS FL_ZF, FL_ZF
  ASSERT32 dword [TEST_VARS+4], 9
  ASSERT32 eax, 7
  mov eax, 1
  cmpxchg [TEST_VARS+4], ecx            ; 1 != 9: flags of CMP 1,9: CF SF AF
  ASSERT_FLAGS FL_ARITH, FL_CF|FL_SF|FL_AF
  ASSERT32 eax, 9
  ASSERT32 dword [TEST_VARS+4], 9
  mov al, 0x42
  mov bl, 0x55
  mov cl, 0x42
  cmpxchg cl, bl
  ASSERT_FLAGS FL_ZF, FL_ZF
  ASSERT8 cl, 0x55
  ; CMPXCHG8B: EDX:EAX == m64 -> m64 = ECX:EBX, ZF=1; else EDX:EAX = m64
  mov dword [TEST_VARS+8], 0x22222222
  mov dword [TEST_VARS+12], 0x11111111
  mov edx, 0x11111111
  mov eax, 0x22222222
  mov ecx, 0xAAAAAAAA
  mov ebx, 0xBBBBBBBB
  cmpxchg8b [TEST_VARS+8]
  ASSERT_FLAGS FL_ZF, FL_ZF
  ASSERT32 dword [TEST_VARS+8], 0xBBBBBBBB
  ASSERT32 dword [TEST_VARS+12], 0xAAAAAAAA
  cmpxchg8b [TEST_VARS+8]               ; now different: loads EDX:EAX
  ASSERT_FLAGS FL_ZF, 0
  ASSERT32 edx, 0xAAAAAAAA
  ASSERT32 eax, 0xBBBBBBBB
  mov eax, 0x12345678
  bswap eax
  ASSERT32 eax, 0x78563412
  mov edx, 0x01020304
  bswap edx
  ASSERT32 edx, 0x04030201

; ---------------------------------------------------------------------------
  GROUP 10, "PUSHF/POPF in real mode"
  ; On a 386+ in real mode POPF may set IOPL and NT; bits 1 (always 1),
  ; 3, 5 and 15 (always 0) are fixed. TF and IF are left clear here.
  push word 0xFCFF                      ; all bits except TF, IF
  popf
  pushf
  pop ax
  ASSERT16 ax, 0x7CD7
  push word 0
  popf
  pushf
  pop ax
  ASSERT16 ax, 0x0002
  ; flags as a whole after an arithmetic result
  mov al, 0xFF
  add al, 0x81                          ; 0x180: AL=0x80 CF=1 SF=1 AF=1 OF=0 PF=0
  pushf
  pop ax
  ASSERT16 ax, 0x0093                   ; CF|bit1|AF|SF
  cld

  PASS

byte_80:   db 0x80
bt_string: db 0x00, 0x00, 0x00, 0x00, 0x08, 0x00
