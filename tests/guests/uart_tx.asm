; uart_tx: 16550A UART at 0x3F8 (COM1, IRQ4).
; expect-serial: nomad86 uart ok\r\n
;
; 16550A datasheet (NS PC16550D): +0 RBR/THR (DLL when LCR.DLAB=1),
; +1 IER (DLM), +2 IIR (read) / FCR (write), +3 LCR, +4 MCR, +5 LSR,
; +6 MSR, +7 SCR (scratch).
; - FCR bit 0 enables the FIFOs; IIR bits 7:6 then read 11.
; - IIR bits 3:0: 0001 = no interrupt pending, 0010 = THR empty.
; - IER bit 1 (ETBEI) with an empty THR raises the THRE interrupt at once;
;   it is cleared by reading IIR (when THRE is the source) or writing THR.
; - MCR bit 4 LOOP: TX is looped back to RX inside the chip (nothing leaves
;   on the serial line), and the modem inputs follow the outputs:
;   CTS<-RTS, DSR<-DTR, RI<-OUT1, DCD<-OUT2 (MSR bits 4,5,6,7).
; - MCR bit 3 OUT2 gates the interrupt output onto the ISA IRQ line on PCs.
; - LSR bit 0 DR (data ready), bit 5 THRE, bit 6 TEMT (THR and shift
;   register empty).

%include "harness.inc"

COM1 equ 0x3F8

tx_idx   equ TEST_VARS+0x00
tx_done  equ TEST_VARS+0x02
irqs     equ TEST_VARS+0x04         ; THRE interrupts
bad_iir  equ TEST_VARS+0x06         ; first IIR that was not "THRE" (0 = none)

CODE16
message: db "nomad86 uart ok", 13, 10
MSG_LEN equ $ - message

start:
  PRINT "uart_tx: 16550A registers, loopback and THRE-driven transmit", 10
  cli

; ---------------------------------------------------------------------------
  GROUP 1, "scratch register"
  mov dx, COM1+7
  mov al, 0x5A
  out dx, al
  in al, dx
  ASSERT8 al, 0x5A
  mov al, 0xA5
  out dx, al
  in al, dx
  ASSERT8 al, 0xA5

; ---------------------------------------------------------------------------
  GROUP 2, "divisor latch and line control (115200 8N1)"
  mov dx, COM1+1
  xor al, al
  out dx, al                            ; IER = 0
  mov dx, COM1+3
  mov al, 0x80                          ; DLAB
  out dx, al
  mov dx, COM1+0
  mov al, 0x01
  out dx, al                            ; DLL = 1 (115200 baud)
  mov dx, COM1+1
  mov al, 0x00
  out dx, al                            ; DLM = 0
  mov dx, COM1+0
  in al, dx
  ASSERT8 al, 0x01
  mov dx, COM1+1
  in al, dx
  ASSERT8 al, 0x00
  mov dx, COM1+3
  mov al, 0x03                          ; 8 data bits, no parity, 1 stop, DLAB 0
  out dx, al
  in al, dx
  ASSERT8 al, 0x03
  mov dx, COM1+1
  in al, dx
  ASSERT8 al, 0x00                      ; IER again (DLAB = 0)

; ---------------------------------------------------------------------------
  GROUP 3, "FIFO enable"
  mov dx, COM1+2
  mov al, 0x07                          ; enable, clear RX and TX FIFOs
  out dx, al
  in al, dx
  ASSERT8 al, 0xC1                      ; FIFOs enabled, no interrupt pending

; ---------------------------------------------------------------------------
  GROUP 4, "loopback mode"
  mov dx, COM1+4
  mov al, 0x1F                          ; LOOP | OUT2 | OUT1 | RTS | DTR
  out dx, al
  mov dx, COM1+6
  in al, dx
  and al, 0xF0
  ASSERT8 al, 0xF0                      ; DCD RI DSR CTS follow the outputs
  mov dx, COM1+4
  mov al, 0x10                          ; LOOP only
  out dx, al
  mov dx, COM1+6
  in al, dx
  and al, 0xF0
  ASSERT8 al, 0x00
  mov dx, COM1+5
  in al, dx
  and al, 0x01
  ASSERT8 al, 0x00                      ; RX empty
  mov dx, COM1+0
  mov al, 0x42
  out dx, al                            ; looped back, not sent
  mov dx, COM1+5
  mov ecx, 1000000
.dr:
  in al, dx
  test al, 0x01
  jnz .got
  dec ecx
  jnz .dr
  FAIL 4, "LSR.DR never set in loopback"
.got:
  mov dx, COM1+0
  in al, dx
  ASSERT8 al, 0x42
  mov dx, COM1+5
  in al, dx
  and al, 0x61
  ASSERT8 al, 0x60                      ; DR clear again; THRE, TEMT set
  mov dx, COM1+4
  mov al, 0x0B                          ; OUT2 | RTS | DTR, loopback off
  out dx, al

; ---------------------------------------------------------------------------
  GROUP 5, "THRE-interrupt driven transmit on IRQ4"
  SET_IVT 0x0C, uart_handler            ; IRQ4 = vector 0x08 + 4
  PIC_INIT 0x08, 0x70, 0xEF, 0xFF       ; unmask IR4 only
  mov word [tx_idx], 0
  mov word [tx_done], 0
  mov word [irqs], 0
  mov word [bad_iir], 0
  mov dx, COM1+1
  mov al, 0x02                          ; ETBEI: THR is empty -> interrupt now
  out dx, al
  PRINT "transmitting from the IRQ4 handler (STI; HLT)", 10
.wait:
  sti
  hlt
  cli
  cmp word [tx_done], 0
  je .wait
  sti                                   ; let a latched trailing IRQ4 in
  nop
  nop
  cli
  ASSERT16 word [bad_iir], 0
  ASSERT16 word [irqs], MSG_LEN         ; one THRE interrupt per byte
  ASSERT16 word [tx_idx], MSG_LEN
  ; wait for the transmitter to drain: LSR.TEMT
  mov dx, COM1+5
  mov ecx, 10000000
.temt:
  in al, dx
  test al, 0x40
  jnz .empty
  dec ecx
  jnz .temt
  FAIL 5, "LSR.TEMT never set"
.empty:
  and al, 0x61
  ASSERT8 al, 0x60
  mov dx, COM1+2
  in al, dx
  ASSERT8 al, 0xC1                      ; IER = 0 now: nothing pending
  PASS

; ---------------------------------------------------------------------------
uart_handler:
  push ax
  push bx
  push dx
  push ds
  push word 0
  pop ds
  mov dx, COM1+2
  in al, dx
  and al, 0x0F
  cmp al, 0x02                          ; THR empty
  je .thre
  ; IIR = 0001 (nothing pending) is tolerated: the THRE edge raised while
  ; the last byte moved to the shift register can be latched in the PIC
  ; before IER is cleared, so one interrupt may find the UART idle.
  cmp al, 0x01
  je .eoi
  cmp word [bad_iir], 0
  jne .eoi
  or al, 0x80                           ; record (non-zero)
  mov ah, 0x01
  mov [bad_iir], ax
  mov word [tx_done], 1                 ; stop: main reports bad_iir
  jmp .eoi
.thre:
  inc word [irqs]
  mov bx, [tx_idx]
  cmp bx, MSG_LEN
  jae .eoi
  mov al, [cs:message+bx]
  mov dx, COM1+0
  out dx, al
  inc bx
  mov [tx_idx], bx
  cmp bx, MSG_LEN
  jb .eoi
  mov dx, COM1+1                        ; last byte queued: IER = 0
  xor al, al
  out dx, al
  mov word [tx_done], 1
.eoi:
  mov al, PIC_EOI
  out PIC1_CMD, al
  pop ds
  pop dx
  pop bx
  pop ax
  iret
