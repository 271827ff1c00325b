// MOV family, XCHG/XADD/CMPXCHG, stack instructions, flags, ENTER/LEAVE,
// BOUND, far-pointer loads and the small data instructions.
#include <doctest/doctest.h>

#include "tests/unit/cpu_rig.h"

using namespace nomad86;

namespace {

constexpr uint32_t kCode = test::RealModeRig::kCode;
constexpr uint32_t kBase = test::RealModeRig::kBase;

using Rig = test::RealModeRig;

}  // namespace

TEST_CASE("data: MOV immediate, moffs and memory forms") {
    Rig r;
    r.poke(kBase + 0x200, {0x34, 0x12});
    // mov al,[0x200] ; mov [0x202],ax ; mov word [bx],0xbeef ; mov cx,0x1234
    r.s.gpr[kRbx] = 0x204;
    r.s.gpr[kRax] = 0xff00;
    r.run({0xa0, 0x00, 0x02, 0xa3, 0x02, 0x02, 0xc7, 0x07, 0xef, 0xbe, 0xb9, 0x34, 0x12}, 4);
    CHECK(r.s.gpr[kRax] == 0xff34);
    CHECK(r.peek(kBase + 0x202, 2) == 0xff34);
    CHECK(r.peek(kBase + 0x204, 2) == 0xbeef);
    CHECK(r.s.gpr[kRcx] == 0x1234);
}

TEST_CASE("data: MOV to and from segment registers") {
    Rig r;
    r.s.gpr[kRax] = 0x2345;
    r.s.gpr[kRbx] = 0xffffffff;
    r.poke(kBase + 0x200, {0xaa, 0xaa, 0xaa, 0xaa});
    // mov es,ax ; mov ebx,es ; mov [0x200],es ; mov ss,ax
    r.run({0x8e, 0xc0, 0x66, 0x8c, 0xc3, 0x8c, 0x06, 0x00, 0x02, 0x8e, 0xd0}, 1);
    CHECK(r.s.seg[kEs].selector == 0x2345);
    CHECK(r.s.seg[kEs].base == 0x23450);
    r.step(2);
    CHECK(r.s.gpr[kRbx] == 0x2345);  // zero-extended
    CHECK(r.peek(kBase + 0x200, 4) == 0xaaaa2345);  // 16 bits written
    r.cpu.run(1);
    CHECK(r.s.seg[kSs].selector == 0x2345);
    CHECK(r.s.interrupt_shadow);
}

TEST_CASE("data: MOVZX and MOVSX") {
    Rig r;
    r.s.gpr[kRbx] = 0x80f0;
    // movzx ax,bl ; movsx cx,bl ; movsx edx,bx
    r.run({0x0f, 0xb6, 0xc3, 0x0f, 0xbe, 0xcb, 0x66, 0x0f, 0xbf, 0xd3}, 3);
    CHECK(r.s.gpr[kRax] == 0x00f0);
    CHECK(r.s.gpr[kRcx] == 0xfff0);
    CHECK(r.s.gpr[kRdx] == 0xffff80f0);
}

TEST_CASE("data: XCHG register and memory, XADD") {
    Rig r;
    r.s.gpr[kRax] = 0x1111;
    r.s.gpr[kRbx] = 0x2222;
    r.s.gpr[kRcx] = 0x0001;
    r.poke(kBase + 0x200, {0x33, 0x33});
    // xchg ax,bx ; xchg [0x200],ax ; xadd [0x200],cx
    r.run({0x93, 0x87, 0x06, 0x00, 0x02, 0x0f, 0xc1, 0x0e, 0x00, 0x02}, 2);
    CHECK(r.s.gpr[kRax] == 0x3333);
    CHECK(r.s.gpr[kRbx] == 0x1111);
    CHECK(r.peek(kBase + 0x200, 2) == 0x2222);
    r.step();
    CHECK(r.peek(kBase + 0x200, 2) == 0x2223);
    CHECK(r.s.gpr[kRcx] == 0x2222);
    CHECK(!r.f(flags::ZF));
}

TEST_CASE("data: CMPXCHG equal and not equal") {
    Rig r;
    r.s.gpr[kRax] = 0x0005;
    r.s.gpr[kRcx] = 0x0009;
    r.poke(kBase + 0x200, {0x05, 0x00});
    // cmpxchg [0x200],cx twice
    r.run({0x0f, 0xb1, 0x0e, 0x00, 0x02, 0x0f, 0xb1, 0x0e, 0x00, 0x02}, 1);
    CHECK(r.f(flags::ZF));
    CHECK(r.peek(kBase + 0x200, 2) == 9);
    CHECK(r.s.gpr[kRax] == 5);
    r.step();
    CHECK(!r.f(flags::ZF));
    CHECK(r.s.gpr[kRax] == 9);
    CHECK(r.peek(kBase + 0x200, 2) == 9);
    CHECK(r.f(flags::CF));  // flags of CMP AX(5), [mem](9)
}

TEST_CASE("data: CMPXCHG8B both outcomes") {
    Rig r;
    r.poke(kBase + 0x200, {1, 0, 0, 0, 2, 0, 0, 0});
    r.s.gpr[kRax] = 1;
    r.s.gpr[kRdx] = 2;
    r.s.gpr[kRbx] = 0xaaaaaaaa;
    r.s.gpr[kRcx] = 0xbbbbbbbb;
    r.run({0x0f, 0xc7, 0x0e, 0x00, 0x02, 0x0f, 0xc7, 0x0e, 0x00, 0x02}, 1);
    CHECK(r.f(flags::ZF));
    CHECK(r.peek(kBase + 0x200, 8) == 0xbbbbbbbbaaaaaaaaull);
    r.step();
    CHECK(!r.f(flags::ZF));
    CHECK(r.s.gpr[kRax] == 0xaaaaaaaa);
    CHECK(r.s.gpr[kRdx] == 0xbbbbbbbb);
}

TEST_CASE("data: BSWAP 32-bit and 16-bit") {
    Rig r;
    r.s.gpr[kRax] = 0x12345678;
    r.s.gpr[kRbx] = 0xaaaa1234;
    r.run({0x66, 0x0f, 0xc8, 0x0f, 0xcb}, 2);
    CHECK(r.s.gpr[kRax] == 0x78563412);
    CHECK(r.s.gpr[kRbx] == 0xaaaa0000);
}

TEST_CASE("data: LEA truncates to the operand size") {
    Rig r;
    r.s.gpr[kRbx] = 0xfff0;
    r.s.gpr[kRsi] = 0x20;
    r.run({0x8d, 0x40, 0x05, 0x66, 0x67, 0x8d, 0x0c, 0x33}, 2);  // lea ax,[bx+si+5] ; lea ecx,[ebx+esi]
    CHECK(r.s.gpr[kRax] == 0x0015);
    CHECK(r.s.gpr[kRcx] == 0x10010);
}

TEST_CASE("data: CBW, CWDE, CWD, CDQ") {
    Rig r;
    r.s.gpr[kRax] = 0x1280;
    r.run({0x98, 0x99, 0x66, 0x98, 0x66, 0x99}, 1);
    CHECK(r.s.gpr[kRax] == 0xff80);
    r.step();
    CHECK(r.s.gpr[kRdx] == 0xffff);
    r.s.gpr[kRax] = 0x7fff;
    r.step();
    CHECK(r.s.gpr[kRax] == 0x00007fff);
    r.step();
    CHECK(r.s.gpr[kRdx] == 0);
}

TEST_CASE("data: LAHF, SAHF, XLAT, SALC") {
    Rig r;
    r.setf(flags::CF | flags::ZF | flags::OF);
    r.s.gpr[kRbx] = 0x200;
    r.poke(kBase + 0x205, {0x99});
    r.run({0x9f, 0x9e, 0xd7, 0xd6}, 1);
    CHECK((r.s.gpr[kRax] >> 8) == (flags::CF | flags::ZF | flags::FIXED1));
    r.s.gpr[kRax] = (flags::SF | flags::PF) << 8 | 5;
    r.step();
    CHECK((r.cpu.eflags() & flags::ARITH) == (flags::SF | flags::PF | flags::OF));
    r.step();
    CHECK((r.s.gpr[kRax] & 0xff) == 0x99);
    r.step();
    CHECK((r.s.gpr[kRax] & 0xff) == 0x00);
}

TEST_CASE("data: PUSH/POP forms") {
    Rig r;
    r.s.gpr[kRsp] = 0x1000;
    // push -128 (imm8) ; push sp ; pop word [bx] ; push ds (o32) ; pop cx
    r.s.gpr[kRbx] = 0x200;
    r.run({0x6a, 0x80, 0x54, 0x8f, 0x07, 0x66, 0x1e, 0x59}, 1);
    CHECK(r.sp() == 0x0ffe);
    CHECK(r.stack(0) == 0xff80);
    r.step();
    CHECK(r.stack(0) == 0x0ffe);  // the value before the decrement
    r.step();
    CHECK(r.peek(kBase + 0x200, 2) == 0x0ffe);
    CHECK(r.sp() == 0x0ffe);
    r.step();
    CHECK(r.sp() == 0x0ffa);
    CHECK(r.stack(0, 4) == 0x0ffe1000);  // only 16 bits written, ESP moved by 4
    r.step();
    CHECK(r.s.gpr[kRcx] == 0x1000);
}

TEST_CASE("data: POP into memory addressed with SP uses SP after the increment") {
    Rig r;
    r.s.gpr[kRsp] = 0x1000;
    r.poke(kBase + 0x1000, {0x34, 0x12});
    r.run({0x67, 0x8f, 0x44, 0x24, 0x02});  // pop word [esp+2]
    CHECK(r.sp() == 0x1002);
    CHECK(r.peek(kBase + 0x1004, 2) == 0x1234);
}

TEST_CASE("data: PUSHA and POPA") {
    Rig r;
    r.s.gpr[kRsp] = 0x1000;
    for (unsigned i = 0; i < 8; i++)
        if (i != kRsp) r.s.gpr[i] = 0x1110 * (i + 1);
    r.run({0x60});
    CHECK(r.sp() == 0x0ff0);
    CHECK(r.stack(0) == 0x1110 * 8);   // DI
    CHECK(r.stack(6) == 0x1000);       // SP before
    CHECK(r.stack(14) == 0x1110);      // AX
    for (unsigned i = 0; i < 8; i++)
        if (i != kRsp) r.s.gpr[i] = 0;
    r.poke(kBase + 0x0ff6, {0x99, 0x99});  // the saved SP slot is skipped
    r.poke(kCode + 1, {0x61});
    r.step();
    CHECK(r.sp() == 0x1000);
    CHECK(r.s.gpr[kRax] == 0x1110);
    CHECK(r.s.gpr[kRdi] == 0x1110 * 8);
    CHECK(r.s.gpr[kRbp] == 0x1110 * 6);
}

TEST_CASE("data: PUSHF/POPF in real mode") {
    Rig r;
    r.setf(flags::CF | flags::DF);
    r.s.gpr[kRsp] = 0x1000;
    r.run({0x9c, 0x9d}, 1);
    CHECK(r.stack(0) == (flags::CF | flags::DF | flags::FIXED1));
    r.poke(kBase + 0x0ffe, {0xd5, 0x02});  // IF, ARITH without OF
    r.step();
    CHECK(r.sp() == 0x1000);
    CHECK(r.cpu.eflags() == 0x02d7);
}

TEST_CASE("data: POPFD at CPL 3 keeps IF and IOPL") {
    test::CpuRig r;
    r.flat32(0x1000);
    r.s.cpl = 3;
    r.s.set_rflags(flags::FIXED1 | flags::IF);  // IOPL 0
    r.poke(0x1000, {0x9d});
    r.poke(0x90000 - 4, {0x01, 0x30, 0x00, 0x00});  // CF, IOPL 3, IF clear
    r.s.gpr[kRsp] = 0x90000 - 4;
    r.cpu.run(1);
    CHECK(r.cpu.flag(flags::CF));
    CHECK(r.cpu.flag(flags::IF));
    CHECK(r.s.iopl() == 0);
    CHECK(r.s.gpr[kRsp] == 0x90000);
}

TEST_CASE("data: POPFD at CPL 0 changes IF and IOPL, never VM/RF") {
    test::CpuRig r;
    r.flat32(0x1000);
    r.poke(0x1000, {0x9d});
    r.poke(0x90000 - 4, {0x00, 0x32, 0x03, 0x00});  // IF, IOPL 3, RF, VM
    r.s.gpr[kRsp] = 0x90000 - 4;
    r.cpu.run(1);
    CHECK(r.cpu.flag(flags::IF));
    CHECK(r.s.iopl() == 3);
    CHECK(!r.cpu.flag(flags::VM));
    CHECK(!r.cpu.flag(flags::RF));
}

TEST_CASE("data: CMOVcc and SETcc") {
    Rig r;
    r.setf(flags::ZF);
    r.s.gpr[kRax] = 1;
    r.s.gpr[kRbx] = 2;
    r.s.gpr[kRcx] = 3;
    // cmovz ax,bx ; cmovnz cx,bx ; setz dl ; setb dh
    r.run({0x0f, 0x44, 0xc3, 0x0f, 0x45, 0xcb, 0x0f, 0x94, 0xc2, 0x0f, 0x92, 0xc6}, 4);
    CHECK(r.s.gpr[kRax] == 2);
    CHECK(r.s.gpr[kRcx] == 3);
    CHECK(r.s.gpr[kRdx] == 0x0001);
}

TEST_CASE("data: CLC/STC/CMC/CLD/STD and NOPs") {
    Rig r;
    r.run({0xf9, 0xf5, 0xfd, 0x90, 0x0f, 0x1f, 0x00, 0xf5, 0xfc, 0xf8}, 1);
    CHECK(r.f(flags::CF));
    r.step();
    CHECK(!r.f(flags::CF));
    r.step(3);
    CHECK(r.f(flags::DF));
    CHECK(r.s.rip == 0x107);
    r.step(3);
    CHECK(!r.f(flags::DF));
    CHECK(!r.f(flags::CF));
}

TEST_CASE("data: ENTER with nesting level 3 and LEAVE") {
    Rig r;
    r.s.gpr[kRsp] = 0x1000;
    r.s.gpr[kRbp] = 0x2000;
    r.poke(kBase + 0x1ffe, {0x11, 0x11});
    r.poke(kBase + 0x1ffc, {0x22, 0x22});
    r.run({0xc8, 0x08, 0x00, 0x03, 0xc9}, 1);  // enter 8,3 ; leave
    CHECK(r.s.gpr[kRbp] == 0x0ffe);
    CHECK(r.peek(kBase + 0x0ffe, 2) == 0x2000);
    CHECK(r.peek(kBase + 0x0ffc, 2) == 0x1111);
    CHECK(r.peek(kBase + 0x0ffa, 2) == 0x2222);
    CHECK(r.peek(kBase + 0x0ff8, 2) == 0x0ffe);
    CHECK(r.sp() == 0x0ff8 - 8);
    r.step();
    CHECK(r.sp() == 0x1000);
    CHECK(r.s.gpr[kRbp] == 0x2000);
}

TEST_CASE("data: ENTER level 0 and 32-bit LEAVE in flat mode") {
    test::CpuRig r;
    r.flat32(0x1000);
    r.s.gpr[kRbp] = 0x12345678;
    const uint64_t esp = r.s.gpr[kRsp];
    r.poke(0x1000, {0xc8, 0x10, 0x00, 0x00, 0xc9});
    r.step();
    CHECK(r.s.gpr[kRbp] == esp - 4);
    CHECK(r.s.gpr[kRsp] == esp - 4 - 0x10);
    CHECK(r.peek(esp - 4, 4) == 0x12345678);
    r.step();
    CHECK(r.s.gpr[kRsp] == esp);
    CHECK(r.s.gpr[kRbp] == 0x12345678);
}

TEST_CASE("data: BOUND in range and #BR") {
    Rig r;
    r.poke(5 * 4, {0x40, 0x00, 0x00, 0x20});  // IVT 5 -> 2000:0040
    r.poke(kBase + 0x200, {0xfe, 0xff, 0x10, 0x00});  // [-2, 16]
    r.s.gpr[kRax] = 0xfffe;
    r.run({0x62, 0x06, 0x00, 0x02, 0x62, 0x06, 0x00, 0x02}, 1);
    CHECK(r.s.rip == 0x104);
    r.s.gpr[kRax] = 17;
    r.step();
    CHECK(r.s.seg[kCs].selector == 0x2000);
    CHECK(r.s.rip == 0x40);
    CHECK(r.stack(0) == 0x104);  // a fault: the pushed IP is the BOUND
}

TEST_CASE("data: LDS and LES load offset then selector") {
    Rig r;
    r.poke(kBase + 0x200, {0x11, 0x11, 0x00, 0x30});
    r.run({0xc5, 0x36, 0x00, 0x02});  // lds si,[0x200]
    CHECK(r.s.gpr[kRsi] == 0x1111);
    CHECK(r.s.seg[kDs].selector == 0x3000);
    CHECK(r.s.seg[kDs].base == 0x30000);
}

TEST_CASE("data: WAIT raises #NM with MP and TS") {
    Rig r;
    r.poke(7 * 4, {0x40, 0x00, 0x00, 0x20});
    r.s.cr0 |= cr0::MP | cr0::TS;
    r.run({0x9b});
    CHECK(r.s.seg[kCs].selector == 0x2000);
    Rig r2;
    r2.s.cr0 |= cr0::TS;
    r2.run({0x9b});
    CHECK(r2.s.rip == 0x101);
}
