; rtc_read: the MC146818-compatible CMOS RTC at ports 0x70/0x71.
;
; MC146818A datasheet: registers 0x00 seconds, 0x02 minutes, 0x04 hours,
; 0x06 day of week (1-7), 0x07 day of month, 0x08 month, 0x09 year;
; register A bit 7 UIP (update in progress: the time registers must not be
; read while it is set), DV2-0 (010 = 32.768 kHz time base), RS3-0 periodic
; rate (0110 = 1024 Hz); register B bit 7 SET, 6 PIE, 5 AIE, 4 UIE,
; 2 DM (1 = binary), 1 24/12; register C bit 7 IRQF, 6 PF, 5 AF, 4 UF
; (cleared by reading C), bits 3-0 always 0; register D bit 7 VRT.
; PC/AT CMOS layout (IBM AT technical reference, as filled by QEMU/SeaBIOS):
; 0x15/0x16 base memory in KiB (640), 0x17/0x18 and 0x30/0x31 extended
; memory above 1 MiB in KiB capped at 0xFFFF (128 MiB -> 130048 KiB =
; 0x1FC00 -> 0xFFFF, as QEMU's pc_cmos_init does; note 0xFC00 would be
; the value truncated to 16 bits), 0x34/0x35 memory above 16 MiB in 64 KiB units
; ((128 - 16) MiB / 64 KiB = 1792 = 0x0700), 0x2E/0x2F big-endian 16-bit
; sum of the bytes 0x10-0x2D, 0x32 century (BCD).
; The periodic interrupt is IRQ8: slave 8259A input 0, cascaded through
; master input 2.

%include "harness.inc"

t_sec    equ TEST_VARS+0x00         ; time as read (8 bytes):
t_min    equ TEST_VARS+0x01         ; sec min hour dow day month year century
t_hour   equ TEST_VARS+0x02
t_dow    equ TEST_VARS+0x03
t_day    equ TEST_VARS+0x04
t_month  equ TEST_VARS+0x05
t_year   equ TEST_VARS+0x06
t_cent   equ TEST_VARS+0x07
t2       equ TEST_VARS+0x08         ; second read (8 bytes)
bin      equ TEST_VARS+0x10         ; binary values written (8 bytes)
rd       equ TEST_VARS+0x18         ; binary values read back (8 bytes)
pcount   equ TEST_VARS+0x20         ; periodic interrupts (dword)
last_c   equ TEST_VARS+0x24         ; register C seen by the handler
sec_mark equ TEST_VARS+0x25
cnt_mark equ TEST_VARS+0x28
retries  equ TEST_VARS+0x2C

; time register index for each of the 8 slots
CODE16
regs_tab: db 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32
; maximum BCD value of each slot (minimum: 0 for sec/min/hour/year, 1 else)
max_tab:  db 0x59, 0x59, 0x23, 0x07, 0x31, 0x12, 0x99, 0x99
min_tab:  db 0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00, 0x19

start:
  PRINT "rtc_read: CMOS RTC time, memory size, checksum, periodic IRQ8", 10
  cli
  SET_IVT 0x70, rtc_handler

; ---------------------------------------------------------------------------
  GROUP 1, "status registers"
  CMOS_WRITE 0x0A, 0x26                 ; time base on, 1024 Hz rate
  CMOS_WRITE 0x0B, 0x02                 ; 24 h, BCD, no interrupts
  CMOS_READ 0x0A
  and al, 0x7F                          ; UIP may be either
  ASSERT8 al, 0x26
  CMOS_READ 0x0B
  ASSERT8 al, 0x02
  CMOS_READ 0x0D
  and al, 0x80
  ASSERT8 al, 0x80                      ; VRT: valid RAM and time
  CMOS_READ 0x0C
  and al, 0x0F
  ASSERT8 al, 0                         ; C bits 3-0 read as 0

; ---------------------------------------------------------------------------
  GROUP 2, "time registers in BCD"
  ; read until two consecutive UIP-guarded reads agree
  mov cx, 10
.again:
  mov di, t_sec
  call read_time
  mov di, t2
  call read_time
  mov eax, [t_sec]
  cmp eax, [t2]
  jne .retry
  mov eax, [t_sec+4]
  cmp eax, [t2+4]
  je .stable
.retry:
  loop .again
  FAIL 2, "time registers never stable"
.stable:
  PRINT "RTC: "
  movzx eax, byte [t_cent]
  PRINT_HEX eax, 2
  movzx eax, byte [t_year]
  PRINT_HEX eax, 2
  PRINT "-"
  movzx eax, byte [t_month]
  PRINT_HEX eax, 2
  PRINT "-"
  movzx eax, byte [t_day]
  PRINT_HEX eax, 2
  PRINT " "
  movzx eax, byte [t_hour]
  PRINT_HEX eax, 2
  PRINT ":"
  movzx eax, byte [t_min]
  PRINT_HEX eax, 2
  PRINT ":"
  movzx eax, byte [t_sec]
  PRINT_HEX eax, 2
  PRINT 10
  ; every slot: both nibbles 0-9, within [min, max]
  xor bx, bx
.chk:
  mov al, [t_sec+bx]
  mov ah, al
  and ah, 0x0F
  cmp ah, 9
  ja .bad
  cmp al, 0x9F
  ja .bad
  cmp al, [cs:max_tab+bx]
  ja .bad
  cmp al, [cs:min_tab+bx]
  jb .bad
  inc bx
  cmp bx, 8
  jb .chk
  jmp .ranges_ok
.bad:
  movzx eax, bx
  PRINT "bad BCD value in slot 0x"
  PRINT_HEX eax, 2
  PRINT " (0=sec 1=min 2=hour 3=dow 4=day 5=month 6=year 7=century): 0x"
  movzx eax, byte [t_sec+bx]
  PRINT_HEX eax, 2
  PRINT 10
  FAIL 2, "invalid BCD time"
.ranges_ok:
  ; year >= 2024: century * 100 + year
  mov ax, [t_year]                      ; AL = year, AH = century (BCD)
  xchg al, ah                           ; AX = 0xCCYY, comparable as BCD
  cmp ax, 0x2024
  jae .year_ok
  movzx eax, ax
  PRINT "year 0x"
  PRINT_HEX eax, 4
  PRINT 10
  FAIL 2, "year before 2024"
.year_ok:

; ---------------------------------------------------------------------------
  GROUP 3, "binary mode (register B DM)"
  ; Set the clock in binary: SET=1 stops updates, DM=1, write the time
  ; converted to binary, SET=0 restarts it. Reading back in binary must
  ; give the same values (seconds may have advanced by at most 1).
  mov word [retries], 3
.bin_again:
  mov di, t_sec
  call read_time
  xor bx, bx
.conv:
  mov al, [t_sec+bx]
  call bcd2bin
  mov [bin+bx], al
  inc bx
  cmp bx, 8
  jb .conv
  CMOS_WRITE 0x0B, 0x86                 ; SET | DM binary | 24 h
  xor bx, bx
.wr:
  mov al, [cs:regs_tab+bx]
  out 0x70, al
  mov al, [bin+bx]
  out 0x71, al
  inc bx
  cmp bx, 8
  jb .wr
  CMOS_WRITE 0x0B, 0x06                 ; run, binary, 24 h
  mov di, rd
  call read_time
  mov al, [rd]
  cmp al, [bin]
  jae .no_wrap
  dec word [retries]                    ; seconds wrapped (59 -> 0): redo
  jnz .bin_again
.no_wrap:
  movzx eax, byte [rd]
  movzx edx, byte [bin]
  sub eax, edx
  cmp eax, 1
  jbe .sec_ok
  PRINT "seconds advanced by 0x"
  PRINT_HEX eax, 8
  PRINT 10
  FAIL 3, "seconds ran away after switching to binary"
.sec_ok:
  mov al, [bin+1]
  ASSERT8R byte [rd+1], al
  mov al, [bin+2]
  ASSERT8R byte [rd+2], al
  mov al, [bin+4]
  ASSERT8R byte [rd+4], al
  mov al, [bin+5]
  ASSERT8R byte [rd+5], al
  mov al, [bin+6]
  ASSERT8R byte [rd+6], al
  mov al, [bin+7]
  ASSERT8R byte [rd+7], al
  ; binary values: seconds < 60 and not BCD-looking for >= 10 ... simply
  ; check the ranges in binary
  cmp byte [rd], 59
  ja .binbad
  cmp byte [rd+1], 59
  ja .binbad
  cmp byte [rd+2], 23
  ja .binbad
  jmp .binok
.binbad:
  FAIL 3, "binary time out of range"
.binok:

; ---------------------------------------------------------------------------
  GROUP 4, "memory size fields and checksum (128 MiB)"
  CMOS_READ 0x16
  mov ah, al
  CMOS_READ 0x15
  ASSERT16 ax, 640                      ; base memory, KiB
  CMOS_READ 0x18
  mov ah, al
  CMOS_READ 0x17
  ASSERT16 ax, 0xFFFF                   ; 130048 KiB above 1 MiB, capped
  CMOS_READ 0x31
  mov ah, al
  CMOS_READ 0x30
  ASSERT16 ax, 0xFFFF
  CMOS_READ 0x35
  mov ah, al
  CMOS_READ 0x34
  ASSERT16 ax, 0x0700                   ; (128-16) MiB in 64 KiB units
  ; checksum over 0x10..0x2D, stored big-endian at 0x2E (high), 0x2F (low)
  xor dx, dx
  mov bl, 0x10
.sum:
  mov al, bl
  out 0x70, al
  in al, 0x71
  movzx ax, al
  add dx, ax
  inc bl
  cmp bl, 0x2E
  jb .sum
  CMOS_READ 0x2E
  mov ah, al
  CMOS_READ 0x2F
  movzx eax, ax                         ; stored checksum
  movzx edx, dx                         ; computed sum
  ASSERT32 eax, edx

; ---------------------------------------------------------------------------
  GROUP 5, "periodic interrupt on IRQ8 (1024 Hz)"
  PIC_INIT 0x08, 0x70, 0xFB, 0xFE       ; master: IR2 (cascade), slave: IR0
  CMOS_READ 0x0C                        ; clear pending flags
  CMOS_WRITE 0x0B, 0x42                 ; PIE | 24 h, BCD
  mov dword [pcount], 0
  PRINT "waiting for 64 periodic interrupts (STI; HLT)", 10
.w64:
  sti
  hlt
  cli
  cmp dword [pcount], 64
  jb .w64
  mov al, [last_c]
  and al, 0xC0
  ASSERT8 al, 0xC0                      ; IRQF | PF in register C
  ; rate: interrupts between two RTC seconds edges, ~1024
  call rtc_seconds
  mov [sec_mark], al
  mov eax, [pcount]
  add eax, 3000
  mov [cnt_mark], eax
.e1:
  sti
  hlt
  cli
  call rtc_seconds
  cmp al, [sec_mark]
  jne .edge1
  mov eax, [pcount]
  cmp eax, [cnt_mark]
  jb .e1
  FAIL 5, "RTC seconds did not advance within 3000 periodic interrupts"
.edge1:
  mov [sec_mark], al
  mov eax, [pcount]
  mov [cnt_mark], eax
.e2:
  sti
  hlt
  cli
  call rtc_seconds
  cmp al, [sec_mark]
  jne .edge2
  mov eax, [pcount]
  sub eax, [cnt_mark]
  cmp eax, 3000
  jb .e2
  FAIL 5, "RTC seconds did not advance within 3000 periodic interrupts"
.edge2:
  mov eax, [pcount]
  sub eax, [cnt_mark]
  PRINT "periodic interrupts in one second: 0x"
  PRINT_HEX eax, 8
  PRINT 10
  cmp eax, 700
  jb .rate_bad
  cmp eax, 1400
  ja .rate_bad
  jmp .rate_ok
.rate_bad:
  FAIL 5, "periodic rate outside 700..1400 per second (1024 expected)"
.rate_ok:

; ---------------------------------------------------------------------------
  GROUP 6, "PIE off: no more periodic interrupts"
  CMOS_WRITE 0x0B, 0x02
  CMOS_READ 0x0C
  ; an IRQ8 edge latched in the slave IRR before PIE was cleared is still
  ; delivered: let it in before taking the mark
  sti
  nop
  nop
  cli
  mov ebx, [pcount]
  sti
  ; wait for the next seconds edge (up to ~1 s) with IF = 1
  call rtc_seconds_sti
  mov [sec_mark], al
.e3:
  call rtc_seconds_sti
  cmp al, [sec_mark]
  je .e3
  cli
  ASSERT32 dword [pcount], ebx
  PASS

; ---------------------------------------------------------------------------
rtc_handler:
  push ax
  push ds
  push word 0
  pop ds
  CMOS_READ 0x0C                        ; acknowledge: clears IRQF/PF
  mov [last_c], al
  inc dword [pcount]
  mov al, PIC_EOI
  out PIC2_CMD, al                      ; slave first, then master
  out PIC1_CMD, al
  pop ds
  pop ax
  iret

; read the 8 time slots into DS:DI after UIP = 0 (interrupts must be off)
read_time:
  push bx
.uip:
  CMOS_READ 0x0A
  test al, 0x80
  jnz .uip
  xor bx, bx
.l:
  mov al, [cs:regs_tab+bx]
  out 0x70, al
  in al, 0x71
  mov [di+bx], al
  inc bx
  cmp bx, 8
  jb .l
  pop bx
  ret

; AL: BCD -> binary
bcd2bin:
  push cx
  mov cl, al
  shr al, 4
  mov ch, 10
  mul ch
  and cl, 0x0F
  add al, cl
  pop cx
  ret

; AL = seconds register after UIP = 0 (interrupts off)
rtc_seconds:
.uip:
  CMOS_READ 0x0A
  test al, 0x80
  jnz .uip
  CMOS_READ 0x00
  ret

; same, callable with IF = 1: disables interrupts around the port access
rtc_seconds_sti:
  pushf
  cli
  call rtc_seconds
  popf
  ret
