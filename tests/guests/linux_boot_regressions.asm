; linux_boot_regressions: what Debian's Linux 6.1 tripped over on its way to
; a shell, each checked the way the kernel meets it.
;
; 1. REP BSF / REP BSR (F3 0F BC / BD) are BSF / BSR on a CPU without
;    BMI1/LZCNT (our CPUID does not advertise them): the kernel's generic
;    __ffs emits `rep bsf` (TZCNT's encoding). BSF of 0 leaves the
;    destination alone and sets ZF; TZCNT would return 32 and set CF.
; 2. ENDBR32 (F3 0F 1E FB) and the other hint-NOP rows (0F 1A/1B with MPX
;    absent, 0F 1F) execute as NOPs, as on a CPU without CET or MPX.
; 3. IA32_BIOS_SIGN_ID (MSR 0x8B): the microcode loader writes 0 and reads
;    the revision back; neither may fault.
; 4. A PS/2 mouse answers RESEND (0xFE) to a keyboard-only command such as
;    SET LEDS (0xED): Linux's atkbd probes the AUX port with it and takes an
;    ACK for a second keyboard.
; A #UD or #GP anywhere here ends the test through the default handler.

%include "harness.inc"

CODE16
start:
  PRINT "linux_boot_regressions: instructions and devices Linux 6.1 needs", 10

  GROUP 1, "REP BSF / REP BSR behave as BSF / BSR"
  mov ecx, 0x80
  mov eax, 0x1234
  db 0x66, 0xf3, 0x0f, 0xbc, 0xc1       ; rep bsf eax, ecx
  ASSERT32 eax, 7
  mov ecx, 0
  mov eax, 0x1234
  db 0x66, 0xf3, 0x0f, 0xbc, 0xc1       ; rep bsf eax, ecx (source 0)
  ASSERT_FLAGS FL_ZF, FL_ZF
  ASSERT32 eax, 0x1234                  ; TZCNT would give 32
  mov ecx, 0x80
  db 0x66, 0xf3, 0x0f, 0xbd, 0xc1       ; rep bsr eax, ecx
  ASSERT32 eax, 7                       ; LZCNT would give 24

  GROUP 2, "ENDBR32 and hint NOPs change nothing"
  mov eax, 0x11111111
  mov ecx, 0x22222222
  db 0xf3, 0x0f, 0x1e, 0xfb             ; endbr32
  db 0x0f, 0x1a, 0xc1                   ; 0F 1A /r (MPX bndcl when present)
  db 0x0f, 0x1b, 0xc1                   ; 0F 1B /r (MPX bndmk when present)
  db 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 ; nopw [si+0] (0F 1F /0)
  ASSERT32 eax, 0x11111111
  ASSERT32 ecx, 0x22222222

  GROUP 3, "MSR 0x8B (microcode revision) reads and writes"
  mov ecx, 0x8b
  xor eax, eax
  xor edx, edx
  wrmsr
  mov eax, 0xdeadbeef
  mov edx, 0xdeadbeef
  rdmsr
  ASSERT32 eax, 0
  ASSERT32 edx, 0

  GROUP 4, "the mouse answers RESEND to SET LEDS"
  KBC_WAIT_WRITE
  mov al, 0xd4                          ; next data byte to the AUX device
  out 0x64, al
  KBC_WAIT_WRITE
  mov al, 0xed
  out 0x60, al
  mov ecx, 100000
.wait:
  in al, 0x64
  test al, 1
  jnz .full
  dec ecx
  jnz .wait
.full:
  and al, 0x21
  ASSERT8 al, 0x21                      ; output buffer full, from the AUX port
  in al, 0x60
  ASSERT8 al, 0xfe

  PASS
