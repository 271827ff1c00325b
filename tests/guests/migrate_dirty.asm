; migrate_dirty: the migration test guest (issue 7). Not a verdict test: it
; runs until it is killed (tests/migration/ drives it).
; runs-forever
;
; It increments the first byte of every 4 KiB page of a 64 MiB region, page
; after page, over and over, with a little work between pages (so that it
; dirties memory at a rate a link can keep up with once it is throttled),
; and prints "A" on COM1 once, then "B" after every full pass. At any
; instruction boundary the region reads: pages below INDEX hold PASSES+1,
; the others PASSES (mod 256), give or take the one page between the
; increment and the store of INDEX. A RAM dump after a migration shows
; whether a page was lost or came from the wrong round.

%include "harness.inc"

REGION   equ 0x400000           ; 4 MiB
PAGES    equ 16384              ; 64 MiB
DELAY    equ 1000               ; loop turns between two pages
PASSES   equ TEST_VARS+0x00     ; dword: completed passes
INDEX    equ TEST_VARS+0x04     ; dword: pages done in this pass
COM1     equ 0x3F8

CODE16
start:
  ENTER_PMODE pm_main

CODE32
pm_main:
  mov dx, COM1+3
  mov al, 0x03                          ; 8 data bits, no parity, 1 stop bit
  out dx, al
  mov dword [PASSES], 0
  mov dword [INDEX], 0
  mov al, 'A'
  call putc
.pass:
  xor ebx, ebx
.page:
  mov edi, ebx
  shl edi, 12
  inc byte [REGION + edi]
  inc ebx
  mov [INDEX], ebx
  mov ecx, DELAY
.delay:
  dec ecx
  jnz .delay
  cmp ebx, PAGES
  jb .page
  mov dword [INDEX], 0
  inc dword [PASSES]
  mov al, 'B'
  call putc
  jmp .pass

; al -> COM1, once the transmitter is empty
putc:
  mov ah, al
  mov dx, COM1+5
.wait:
  in al, dx
  test al, 0x20
  jz .wait
  mov al, ah
  mov dx, COM1
  out dx, al
  ret
