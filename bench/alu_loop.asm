; Benchmark workload: a tight 32-bit ALU loop in flat protected mode.
; 20,000,000 iterations of 10 instructions = 200,000,000 guest instructions
; (plus a few dozen of set-up). Exits through isa-debug-exit at 0xf4 with
; 0x10 (status 33) when the checksum is right, 0x01 (status 3) when not.
bits 16
org 0
ITERATIONS equ 20000000
; eax ^ edx ^ edi after the loop, from a C model of it (OR clears CF, so the
; ADC adds 7 exactly).
EXPECTED   equ 0x1b5a748f

start:
        cli
        lgdt [cs:gdt_desc]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp dword 0x08:(0xf0000 + pm32)

bits 32
pm32:
        mov ax, 0x10
        mov ds, ax
        mov ss, ax
        mov esp, 0x10000
        mov ecx, ITERATIONS
        xor eax, eax
        mov ebx, 0x12345678
        mov edx, 0x9abcdef0
        mov esi, 1
        mov edi, 0
.loop:
        add eax, ebx            ; 1
        xor edx, eax            ; 2
        sub ebx, esi            ; 3
        and edi, 0x0fffffff     ; 4
        or edi, edx             ; 5
        adc eax, 7              ; 6
        inc esi                 ; 7
        cmp eax, edx            ; 8
        dec ecx                 ; 9
        jnz .loop               ; 10
        ; Compare with the known checksum so a broken emulator cannot look fast.
        xor eax, edx
        xor eax, edi
        mov [0x500], eax
        cmp eax, EXPECTED
        jne .bad
        mov al, 0x10
        out 0xf4, al
.bad:   mov al, 0x01
        out 0xf4, al
        hlt

align 8
gdt:    dq 0
        dq 0x00cf9b000000ffff
        dq 0x00cf93000000ffff
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd 0xf0000 + gdt

bits 16
        times 0xfff0 - ($ - $$) db 0
        jmp 0xf000:start
        times 0x10000 - ($ - $$) db 0
