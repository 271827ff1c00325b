; nomad86 demo firmware: the default guest until a full PC BIOS and Linux
; boot arrive. It shows the machine working on the serial console: the CPU
; (CPUID), memory size (CMOS), the real-time clock, timer interrupts through
; the PIC, a round trip through 32-bit protected mode, and then an echo
; loop driven by UART receive interrupts (the CPU sleeps in HLT between
; keys). Assembled with nasm into a 64 KiB image mapped at F0000-FFFFF.

bits 16
org 0

COM1        equ 0x3f8
STACK_TOP   equ 0x7000
TICKS       equ 0x0500          ; dword in RAM: PIT ticks (segment 0)
RX_COUNT    equ 0x0504          ; dword: UART interrupts seen
SAVED_SP    equ 0x0508          ; word: SP across the protected-mode trip

section .text start=0

start:
        cli
        cld
        xor ax, ax
        mov ss, ax
        mov sp, STACK_TOP
        mov ds, ax
        mov es, ax
        mov dword [TICKS], 0
        mov dword [RX_COUNT], 0
        mov al, 0x01
        out 0x80, al            ; POST code: firmware entered

        call uart_init
        mov si, msg_banner
        call puts

        call show_cpu
        call show_memory
        call show_rtc
        call timer_demo
        call pmode_demo

        mov si, msg_echo
        call puts
        call echo_loop          ; never returns

; ---------------------------------------------------------------- UART
uart_init:
        mov dx, COM1 + 1
        xor al, al
        out dx, al              ; IER: no interrupts yet
        mov dx, COM1 + 3
        mov al, 0x80
        out dx, al              ; DLAB
        mov dx, COM1
        mov al, 1
        out dx, al              ; divisor 1: 115200 baud
        inc dx
        xor al, al
        out dx, al
        mov dx, COM1 + 3
        mov al, 0x03
        out dx, al              ; 8N1
        mov dx, COM1 + 2
        mov al, 0x07
        out dx, al              ; FIFOs on and cleared
        mov dx, COM1 + 4
        mov al, 0x0b
        out dx, al              ; DTR, RTS, OUT2 (gates the IRQ on a PC)
        ret

; AL -> serial, waiting for THRE
putc:
        push dx
        push ax
        mov dx, COM1 + 5
.wait:  in al, dx
        test al, 0x20
        jz .wait
        pop ax
        mov dx, COM1
        out dx, al
        pop dx
        ret

; CS:SI -> zero-terminated string
puts:
        push ax
        push si
.next:  cs lodsb
        test al, al
        jz .done
        call putc
        jmp .next
.done:  pop si
        pop ax
        ret

; EAX as unsigned decimal
put_dec:
        pushad
        xor cx, cx
        mov ebx, 10
.div:   xor edx, edx
        div ebx
        push dx
        inc cx
        test eax, eax
        jnz .div
.out:   pop ax
        add al, '0'
        call putc
        loop .out
        popad
        ret

; AL as two BCD digits
put_bcd:
        push ax
        shr al, 4
        add al, '0'
        call putc
        pop ax
        push ax
        and al, 0x0f
        add al, '0'
        call putc
        pop ax
        ret

; ---------------------------------------------------------------- CPU
show_cpu:
        mov si, msg_cpu
        call puts
        xor eax, eax
        cpuid
        mov [vendor], ebx
        mov [vendor + 4], edx
        mov [vendor + 8], ecx
        mov byte [vendor + 12], 0
        mov si, vendor
.v:     mov al, [si]            ; the vendor string lives in RAM (DS=0)
        test al, al
        jz .vd
        call putc
        inc si
        jmp .v
.vd:    mov si, msg_family
        call puts
        mov eax, 1
        cpuid
        shr eax, 8
        and eax, 0x0f
        call put_dec
        mov si, msg_crlf
        call puts
        ret

; ---------------------------------------------------------------- memory
cmos_read:                      ; AL = index -> AL = value
        out 0x70, al
        in al, 0x71
        ret

show_memory:
        mov si, msg_ram
        call puts
        ; 0x34/0x35: RAM above 16 MiB in 64 KiB units; below that, 0x30/0x31
        ; holds KiB above 1 MiB (what a BIOS reads to size memory).
        mov al, 0x35
        call cmos_read
        mov ah, al
        mov al, 0x34
        call cmos_read
        movzx eax, ax
        test eax, eax
        jz .small
        shr eax, 4              ; 64 KiB units -> MiB
        add eax, 16
        jmp .print
.small: mov al, 0x31
        call cmos_read
        mov ah, al
        mov al, 0x30
        call cmos_read
        movzx eax, ax
        shr eax, 10
        inc eax
.print: call put_dec
        mov si, msg_mib
        call puts
        ret

; ---------------------------------------------------------------- RTC
show_rtc:
        mov si, msg_rtc
        call puts
.uip:   mov al, 0x0a            ; wait while an update is in progress
        call cmos_read
        test al, 0x80
        jnz .uip
        mov al, 0x32            ; century
        call cmos_read
        call put_bcd
        mov al, 0x09
        call cmos_read
        call put_bcd
        mov al, '-'
        call putc
        mov al, 0x08
        call cmos_read
        call put_bcd
        mov al, '-'
        call putc
        mov al, 0x07
        call cmos_read
        call put_bcd
        mov al, ' '
        call putc
        mov al, 0x04
        call cmos_read
        call put_bcd
        mov al, ':'
        call putc
        mov al, 0x02
        call cmos_read
        call put_bcd
        mov al, ':'
        call putc
        mov al, 0x00
        call cmos_read
        call put_bcd
        mov si, msg_utc
        call puts
        ret

; ---------------------------------------------------------------- timer
pic_init:
        mov al, 0x11            ; ICW1: edge, cascade, ICW4
        out 0x20, al
        out 0xa0, al
        mov al, 0x08            ; ICW2: master vectors 08-0F, slave 70-77 (as a BIOS)
        out 0x21, al
        mov al, 0x70
        out 0xa1, al
        mov al, 0x04            ; ICW3: slave on IR2
        out 0x21, al
        mov al, 0x02
        out 0xa1, al
        mov al, 0x01            ; ICW4: 8086 mode
        out 0x21, al
        out 0xa1, al
        mov al, 0xee            ; unmask IRQ0 (timer) and IRQ4 (COM1)
        out 0x21, al
        mov al, 0xff
        out 0xa1, al
        ret

timer_demo:
        mov word [0x08 * 4], irq0_handler
        mov word [0x08 * 4 + 2], cs
        mov word [0x0c * 4], irq4_handler
        mov word [0x0c * 4 + 2], cs
        call pic_init
        mov al, 0x34            ; PIT channel 0, lo/hi, mode 2
        out 0x43, al
        mov ax, 11932           ; 1193182 Hz / 11932 = 100 Hz
        out 0x40, al
        mov al, ah
        out 0x40, al
        mov si, msg_timer
        call puts
        sti
.wait:  hlt                     ; sleep until the next interrupt
        cmp dword [TICKS], 50
        jb .wait
        mov eax, [TICKS]
        call put_dec
        mov si, msg_ticks
        call puts
        ret

irq0_handler:
        push ax
        inc dword [TICKS]
        mov al, 0x20
        out 0x20, al            ; non-specific EOI
        pop ax
        iret

irq4_handler:
        push ax
        push dx
        inc dword [RX_COUNT]
        mov dx, COM1 + 2
        in al, dx               ; read IIR (acknowledges THRE, if that was it)
        mov al, 0x20
        out 0x20, al
        pop dx
        pop ax
        iret

; ---------------------------------------------------------------- protected mode
pmode_demo:
        mov si, msg_pmode
        call puts
        cli
        mov [SAVED_SP], sp      ; our return address stays on the real-mode stack
        lgdt [cs:gdt_desc]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp dword 0x08:(0xf0000 + pm32)

bits 32
pm32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x90000
        ; Sum 1..100000 with 32-bit arithmetic: 5000050000 mod 2^32 = 705082704.
        xor eax, eax
        mov ecx, 100000
.sum:   add eax, ecx
        loop .sum
        mov [0x600], eax
        jmp 0x18:(pm16 - 0)     ; 16-bit code segment with base 0xF0000

bits 16
pm16:
        mov ax, 0x20            ; 16-bit data, 64 KiB limit: real-mode compatible caches
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov eax, cr0
        and al, 0xfe
        mov cr0, eax
        jmp 0xf000:real_again
real_again:
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, [SAVED_SP]
        sti
        mov eax, [0x600]
        cmp eax, 705082704
        jne .bad
        mov si, msg_pm_ok
        call puts
        ret
.bad:   mov si, msg_pm_bad
        call puts
        ret

; ---------------------------------------------------------------- echo
echo_loop:
        mov dx, COM1 + 1
        mov al, 0x01            ; IER: receive data available
        out dx, al
        mov si, msg_prompt
        call puts
.idle:  hlt                     ; wait for an interrupt (key or timer)
.poll:  mov dx, COM1 + 5
        in al, dx
        test al, 0x01           ; LSR.DR
        jz .idle
        mov dx, COM1
        in al, dx
        cmp al, 0x0d
        je .enter
        cmp al, 0x7f
        je .poll                ; ignore backspace for simplicity
        call putc
        jmp .poll
.enter: mov si, msg_prompt_nl
        call puts
        jmp .poll

; ---------------------------------------------------------------- data
align 8
gdt:
        dq 0
        dq 0x00cf9b000000ffff   ; 0x08: 32-bit flat code
        dq 0x00cf93000000ffff   ; 0x10: 32-bit flat data
        dq 0x00009b0f0000ffff   ; 0x18: 16-bit code, base 0xF0000, 64 KiB
        dq 0x000093000000ffff   ; 0x20: 16-bit data, base 0, 64 KiB
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd 0xf0000 + gdt

vendor  equ 0x0510              ; 13 bytes in RAM

msg_banner:     db 13, 10, "nomad86 demo firmware", 13, 10
                db "---------------------", 13, 10, 0
msg_cpu:        db "CPU:    ", 0
msg_family:     db ", family ", 0
msg_ram:        db "RAM:    ", 0
msg_mib:        db " MiB", 13, 10, 0
msg_rtc:        db "RTC:    ", 0
msg_utc:        db " UTC", 13, 10, 0
msg_timer:      db "Timer:  waiting for 50 PIT interrupts at 100 Hz... ", 0
msg_ticks:      db " ticks, ok", 13, 10, 0
msg_pmode:      db "Mode:   real -> 32-bit protected -> real: ", 0
msg_pm_ok:      db "ok (sum 1..100000 = 705082704)", 13, 10, 0
msg_pm_bad:     db "WRONG RESULT", 13, 10, 0
msg_crlf:       db 13, 10, 0
msg_echo:       db 13, 10, "Type and nomad86 echoes it back. Ctrl-A x quits, Ctrl-A h helps.", 13, 10, 0
msg_prompt:     db "> ", 0
msg_prompt_nl:  db 13, 10, "> ", 0

; ---------------------------------------------------------------- reset vector
        times 0xfff0 - ($ - $$) db 0
reset_vector:
        jmp 0xf000:start
        times 0x10000 - ($ - $$) db 0
