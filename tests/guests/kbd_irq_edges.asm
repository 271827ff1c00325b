; kbd_irq_edges: every byte of a multi-byte keyboard reply raises its own
; IRQ1 through an edge-triggered 8259A.
;
; Regression (found booting Linux 6.1): after the guest read port 0x60, the
; i8042 loaded the next queued byte while IRQ1 stayed high, so the 8259A
; (edge-triggered) saw one request for GET ID's three bytes (FA AB 83).
; Linux's atkbd timed out waiting for the ID, the late bytes made serio
; rescan the port, and the probe repeated every 0.4 s for a minute of boot.
; As on real hardware and QEMU, the controller drops IRQ1 when the buffer
; empties and raises it again for the next byte.
;
; The handler reads one byte per interrupt (as Linux's i8042 driver does)
; and stores it; after GET ID the test expects three interrupts and the
; bytes FA, AB, 83 in order.

%include "harness.inc"

irq_count    equ TEST_VARS+0x00     ; dword
bytes        equ TEST_VARS+0x04     ; bytes read, one per interrupt

CODE16
start:
  PRINT "kbd_irq_edges: one IRQ1 per byte of a keyboard reply", 10
  cli
  SET_IVT 0x09, irq1_handler

  GROUP 1, "8042 set-up: keyboard interrupt on, no translation"
  PIC_INIT 0x08, 0x70, 0xFD, 0xFF      ; IRQ1 only
  KBC_WAIT_WRITE
  mov al, 0x60                          ; write command byte
  out 0x64, al
  KBC_WAIT_WRITE
  mov al, 0x01                          ; INT=1, XLAT=0, both interfaces enabled
  out 0x60, al
  ASSERT32 dword [irq_count], 0

  GROUP 2, "GET ID: three bytes, three interrupts"
  KBC_WAIT_WRITE
  mov al, 0xF2
  out 0x60, al
  mov ecx, 2000000
.wait:
  sti
  nop
  cli
  cmp dword [irq_count], 3
  jae .got
  dec ecx
  jnz .wait
.got:
  ASSERT32 dword [irq_count], 3
  ASSERT8 byte [bytes + 0], 0xFA
  ASSERT8 byte [bytes + 1], 0xAB
  ASSERT8 byte [bytes + 2], 0x83
  in al, 0x64
  and al, 1
  ASSERT8 al, 0                         ; nothing left in the buffer

  PASS

irq1_handler:
  push ax
  push bx
  in al, 0x60
  mov bx, [irq_count]
  cmp bx, 8
  jae .full
  mov [bytes + bx], al
.full:
  inc dword [irq_count]
  mov al, 0x20                          ; non-specific EOI
  out PIC1_CMD, al
  pop bx
  pop ax
  iret
