; real_strings: real-mode string instructions (SDM Vol. 2: MOVS, STOS, LODS,
; CMPS, SCAS, REP/REPE/REPNE).
;
; With 16-bit addressing the instructions use DS:SI (source, segment can be
; overridden) and ES:DI (destination, never overridable) and CX as count;
; SI/DI step by +size (DF=0) or -size (DF=1); REPE/REPNE stop when CX reaches
; 0 or when ZF does not match after a CMPS/SCAS iteration. REP with CX=0 does
; nothing (no memory access, registers and flags unchanged).
;
; Source pattern: SRC (1000:0000) byte i = (i*7 + 3) & 0xFF, i = 0..255 —
; a permutation of 0..255 (7 is odd), so its sum is 0x7F80 and every byte
; value occurs once. Buffers are filled and verified with plain MOV loops so
; that a broken string instruction cannot hide its own mistakes.

%include "harness.inc"

SRC_SEG equ 0x1000
DST_SEG equ 0x2000
ALT_SEG equ 0x3000
OVL_SEG equ 0x4000

; CHECKSUM seg, offset, count, expected: 16-bit sum of the bytes
%macro CHECKSUM 4
  push es
  push word %1
  pop es
  mov di, %2
  mov cx, %3
  call sum_bytes
  pop es
  ASSERT16 ax, %4
%endmacro

; PEEK8 seg, offset, expected
%macro PEEK8 3
  push es
  push word %1
  pop es
  ASSERT8 byte [es:%2], %3
  pop es
%endmacro

CODE16
start:
  PRINT "real_strings: string instructions in real mode", 10
  ; source pattern (plain loop)
  push word SRC_SEG
  pop es
  xor di, di
  mov al, 3
  mov cx, 256
.fill:
  mov [es:di], al
  add al, 7
  inc di
  loop .fill
  mov byte [es:0xFFFF], 0x77            ; for the offset wrap test (group 11)
  ; FS source pattern: byte i = i*5 + 1, 32 bytes
  push word ALT_SEG
  pop es
  xor di, di
  mov al, 1
  mov cx, 32
.fill2:
  mov [es:di], al
  add al, 5
  inc di
  loop .fill2

; ---------------------------------------------------------------------------
  GROUP 1, "REP MOVSB forward"
  call set_ds_es
  cld
  xor si, si
  xor di, di
  mov cx, 256
  rep movsb
  ASSERT16 cx, 0
  ASSERT16 si, 0x100
  ASSERT16 di, 0x100
  CHECKSUM DST_SEG, 0, 256, 0x7F80
  PEEK8 DST_SEG, 0x000, 0x03
  PEEK8 DST_SEG, 0x001, 0x0A
  PEEK8 DST_SEG, 0x0FF, 0xFC
  PEEK8 DST_SEG, 0x100, 0x00            ; one past the end: untouched

; ---------------------------------------------------------------------------
  GROUP 2, "REP MOVSW / REP MOVSD forward"
  call set_ds_es
  xor si, si
  mov di, 0x200
  mov cx, 64
  rep movsw                             ; 128 bytes
  ASSERT16 cx, 0
  ASSERT16 si, 0x080
  ASSERT16 di, 0x280
  CHECKSUM DST_SEG, 0x200, 128, 0x3BC0
  PEEK8 DST_SEG, 0x27F, 0x7C            ; src[127]
  PEEK8 DST_SEG, 0x280, 0x00
  call set_ds_es
  mov si, 0x40
  mov di, 0x300
  mov cx, 16
  rep movsd                             ; 66h prefix, 16-bit addressing: 64 bytes
  ASSERT16 cx, 0
  ASSERT16 si, 0x080
  ASSERT16 di, 0x340
  CHECKSUM DST_SEG, 0x300, 64, 0x1EE0   ; sum of src[64..127]
  PEEK8 DST_SEG, 0x300, 0xC3            ; src[64]

; ---------------------------------------------------------------------------
  GROUP 3, "STOSB/STOSW/STOSD"
  call set_ds_es
  mov di, 0x400
  mov al, 0xAA
  mov cx, 10
  rep stosb
  ASSERT16 cx, 0
  ASSERT16 di, 0x40A
  CHECKSUM DST_SEG, 0x400, 10, 10*0xAA
  PEEK8 DST_SEG, 0x40A, 0x00
  call set_ds_es
  mov ax, 0x1234
  mov cx, 3
  rep stosw
  ASSERT16 di, 0x410
  ASSERT16 word [es:0x40C], 0x1234
  mov eax, 0xDEADBEEF
  mov cx, 2
  rep stosd
  ASSERT16 di, 0x418
  ASSERT32 dword [es:0x414], 0xDEADBEEF
  stosb                                 ; no REP: exactly one byte
  ASSERT16 di, 0x419
  ASSERT8 byte [es:0x418], 0xEF

; ---------------------------------------------------------------------------
  GROUP 4, "LODSB/LODSW/LODSD"
  call set_ds_es
  mov si, 5
  lodsb
  ASSERT8 al, 0x26                      ; src[5]
  ASSERT16 si, 6
  lodsw
  ASSERT16 ax, 0x342D                   ; src[6], src[7]
  ASSERT16 si, 8
  lodsd
  ASSERT32 eax, 0x5049423B              ; src[8..11]
  ASSERT16 si, 12
  xor si, si
  mov cx, 4
  rep lodsb                             ; AL = last byte loaded = src[3]
  ASSERT8 al, 0x18
  ASSERT16 si, 4
  ASSERT16 cx, 0
  mov si, rom_bytes
  cs lodsw                              ; segment override: read the ROM
  ASSERT16 ax, 0xB00B

; ---------------------------------------------------------------------------
  GROUP 5, "REPE CMPSB"
  ; DST:0x500 = copy of src[0..99] with byte 37 changed to 0 (src[37] = 6)
  call set_ds_es
  xor bx, bx
.cp:
  mov al, [bx]
  mov [es:bx+0x500], al
  inc bx
  cmp bx, 100
  jb .cp
  mov byte [es:0x500+37], 0
  xor si, si
  mov di, 0x500
  mov cx, 100
  repe cmpsb                            ; stops after comparing index 37
  ; flags of CMP src[37], dst[37] = 6 - 0 = 6: PF=1 (two ones), rest clear
  ASSERT_FLAGS FL_ARITH, FL_PF
  ASSERT16 cx, 100-38
  ASSERT16 si, 38
  ASSERT16 di, 0x500+38
  xor si, si
  mov di, 0x500
  mov cx, 37
  repe cmpsb                            ; all 37 equal: runs out, ZF=1
  ASSERT_FLAGS FL_ZF|FL_CF, FL_ZF
  ASSERT16 cx, 0
  ASSERT16 si, 37
  ASSERT16 di, 0x500+37
  ; REP with CX = 0: no iteration, flags unchanged (CF=1, ZF=0 set here)
  xor si, si
  mov di, 0x500+37
  xor cx, cx
  mov al, 2
  cmp al, 1                             ; CF=0 ZF=0
  stc                                   ; CF=1 ZF=0
  repe cmpsb
  ASSERT_FLAGS FL_CF|FL_ZF, FL_CF
  ASSERT16 si, 0
  ASSERT16 di, 0x500+37

; ---------------------------------------------------------------------------
  GROUP 6, "REPNE SCASB / SCASW"
  push word SRC_SEG
  pop es
  xor di, di
  mov al, 0x8F                          ; = src[20], occurs once
  mov cx, 64
  repne scasb
  ASSERT_FLAGS FL_ZF, FL_ZF
  ASSERT16 cx, 64-21
  ASSERT16 di, 21
  xor di, di
  mov al, 0x7B                          ; = src[200]: not in src[0..63]
  mov cx, 64
  repne scasb
  ASSERT_FLAGS FL_ZF, 0
  ASSERT16 cx, 0
  ASSERT16 di, 64
  mov di, 6
  mov ax, 0x342D                        ; src[6], src[7]
  scasw
  ASSERT_FLAGS FL_ZF, FL_ZF
  ASSERT16 di, 8

; ---------------------------------------------------------------------------
  GROUP 7, "DF=1: backwards"
  call set_ds_es
  std
  mov si, 0x0FF
  mov di, 0x6FF
  mov cx, 256
  rep movsb
  cld
  ASSERT16 si, 0xFFFF                   ; 0xFF - 256, 16-bit wrap
  ASSERT16 di, 0x05FF
  CHECKSUM DST_SEG, 0x600, 256, 0x7F80
  PEEK8 DST_SEG, 0x600, 0x03
  PEEK8 DST_SEG, 0x6FF, 0xFC
  PEEK8 DST_SEG, 0x5FF, 0x00
  call set_ds_es
  std
  mov si, 0x7E
  mov di, 0x77E
  mov cx, 64
  rep movsw
  cld
  ASSERT16 si, 0xFFFE
  ASSERT16 di, 0x06FE
  CHECKSUM DST_SEG, 0x700, 128, 0x3BC0
  PEEK8 DST_SEG, 0x77F, 0x7C
  call set_ds_es
  std
  mov di, 0x7FC
  mov eax, 0x11223344
  mov cx, 2
  rep stosd                             ; writes 0x7FC and 0x7F8
  cld
  ASSERT16 di, 0x7F4
  ASSERT32 dword [es:0x7F8], 0x11223344
  ASSERT32 dword [es:0x7FC], 0x11223344
  std
  mov si, 10
  lodsb
  cld
  ASSERT8 al, 0x49                      ; src[10]
  ASSERT16 si, 9

; ---------------------------------------------------------------------------
  GROUP 8, "segment override on the source (FS)"
  call set_ds_es                        ; DS = SRC (other data)
  push word ALT_SEG
  pop fs
  xor si, si
  mov di, 0x800
  mov cx, 32
  rep fs movsb                          ; FS overrides the DS:SI source
  ASSERT16 cx, 0
  ASSERT16 si, 32
  CHECKSUM DST_SEG, 0x800, 32, 0x09D0   ; sum of (i*5+1), i < 32
  PEEK8 DST_SEG, 0x800, 0x01
  PEEK8 DST_SEG, 0x81F, 0x9C
  call set_ds_es
  xor si, si
  mov di, 0x800
  mov cx, 32
  repe fs cmpsb
  ASSERT_FLAGS FL_ZF, FL_ZF
  ASSERT16 cx, 0

; ---------------------------------------------------------------------------
  GROUP 9, "overlapping copies"
  push word OVL_SEG
  pop ds
  push word OVL_SEG
  pop es
  xor bx, bx
.ov:
  lea ax, [bx+0x10]
  mov [bx], al                          ; 0x00..0x0F: 0x10..0x1F
  lea ax, [bx+0x20]
  mov [bx+0x20], al                     ; 0x20..0x2F: 0x20..0x2F
  lea ax, [bx+0x30]
  mov [bx+0x40], al                     ; 0x40..0x4F: 0x30..0x3F
  inc bx
  cmp bx, 16
  jb .ov
  ; MOVSB is defined element by element: copying forward onto DI = SI+1
  ; propagates the first byte through the whole buffer (it is not memmove)
  cld
  xor si, si
  mov di, 1
  mov cx, 15
  rep movsb
  CHECKSUM OVL_SEG, 0x00, 16, 16*0x10
  PEEK8 OVL_SEG, 0x0F, 0x10
  ; the same with words and DI = SI+2: the first word repeats
  mov si, 0x20
  mov di, 0x22
  mov cx, 7
  rep movsw
  CHECKSUM OVL_SEG, 0x20, 16, 8*(0x20+0x21)
  PEEK8 OVL_SEG, 0x2E, 0x20
  PEEK8 OVL_SEG, 0x2F, 0x21
  ; backwards (DF=1) onto DI = SI+1 shifts the buffer up by one byte
  std
  mov si, 0x40+14
  mov di, 0x40+15
  mov cx, 15
  rep movsb
  cld
  CHECKSUM OVL_SEG, 0x40, 16, 0x369     ; 0x30 + (0x30 + ... + 0x3E)
  PEEK8 OVL_SEG, 0x40, 0x30
  PEEK8 OVL_SEG, 0x41, 0x30
  PEEK8 OVL_SEG, 0x42, 0x31
  PEEK8 OVL_SEG, 0x4F, 0x3E

; ---------------------------------------------------------------------------
  GROUP 10, "address size: 32-bit vs 16-bit registers"
  call set_ds_es
  ; 67h: uses ECX/ESI/EDI
  mov ecx, 8
  mov esi, 0x100 - 8
  mov edi, 0x900
  a32 rep movsb
  ASSERT32 ecx, 0
  ASSERT32 esi, 0x100
  ASSERT32 edi, 0x908
  PEEK8 DST_SEG, 0x907, 0xFC            ; src[255]
  ; 16-bit addressing touches only CX/SI/DI, the upper halves stay
  mov ecx, 0x12340004
  mov esi, 0xABCD0010
  mov edi, 0x56780A00
  rep movsb
  ASSERT32 ecx, 0x12340000
  ASSERT32 esi, 0xABCD0014
  ASSERT32 edi, 0x56780A04
  PEEK8 DST_SEG, 0xA00, 0x73            ; src[16]: the offset is SI, not ESI
  PEEK8 DST_SEG, 0xA03, 0x88            ; src[19]
  ; SI wraps from 0xFFFF to 0x0000 within the segment
  call set_ds_es
  mov si, 0xFFFF
  mov di, 0xB00
  mov cx, 2
  rep movsb
  ASSERT16 si, 0x0001
  PEEK8 DST_SEG, 0xB00, 0x77            ; SRC:FFFF
  PEEK8 DST_SEG, 0xB01, 0x03            ; SRC:0000

  PASS

; DS = SRC_SEG, ES = DST_SEG
set_ds_es:
  push word SRC_SEG
  pop ds
  push word DST_SEG
  pop es
  ret

; AX = 16-bit sum of CX bytes at ES:DI (plain loop; clobbers CX, DI)
sum_bytes:
  push bx
  xor ax, ax
  xor bx, bx
  jcxz .d
.l:
  mov bl, [es:di]
  add ax, bx
  inc di
  loop .l
.d:
  pop bx
  ret

rom_bytes: db 0x0B, 0xB0
