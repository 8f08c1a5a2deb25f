// Fibers for the SIMT emulator: save the running context, resume another. On x86-64 a hand-written
// switch (callee-saved registers, MXCSR and the x87 control word, as the SysV ABI requires across a
// call); elsewhere ucontext, whose swapcontext also saves the signal mask (a system call per switch).
#pragma once
#include <cstddef>
#include <cstdint>

#if defined(__x86_64__) && !defined(SIM_UCONTEXT)

extern "C" void sim_fiber_switch(void** save_sp, void* load_sp);
// save_sp (rdi) gets this context's stack pointer; load_sp (rsi) is resumed where it left off.
asm(R"(
.text
.globl sim_fiber_switch
.type sim_fiber_switch, @function
sim_fiber_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size sim_fiber_switch, .-sim_fiber_switch
)");

namespace fiber {

struct Context {
  void* sp = nullptr;
};
inline void switch_to(Context& from, Context& to) { sim_fiber_switch(&from.sp, to.sp); }

// The fiber's first instructions: run `body`, then go back to `exit` for good.
inline void (*start_body)() = nullptr;
inline Context* start_exit = nullptr;
[[noreturn]] inline void trampoline() {
  Context* exit = start_exit;
  start_body();
  Context dead;
  switch_to(dead, *exit);
  __builtin_unreachable();
}

// Prepares `ctx` to run `body` on [stack, stack + bytes) when first switched to; on return from
// `body` it switches to `exit`. Every fiber of a launch has the same body and exit.
inline void start(Context& ctx, void* stack, size_t bytes, void (*body)(), Context& exit) {
  start_body = body;
  start_exit = &exit;
  auto top = reinterpret_cast<uintptr_t>(static_cast<char*>(stack) + bytes) & ~uintptr_t(15);
  auto* sp = reinterpret_cast<uint64_t*>(top);
  *--sp = 0;                                            // keeps rsp ≡ 8 (mod 16) at the trampoline's entry
  *--sp = reinterpret_cast<uint64_t>(&trampoline);      // where the first switch returns to
  for (int i = 0; i < 6; ++i) *--sp = 0;                // rbp rbx r12–r15
  uint32_t csr[2] = {0, 0};
  asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(csr[0]), "=m"(csr[1]));
  *--sp = (uint64_t)csr[0] | (uint64_t)(csr[1] & 0xFFFF) << 32;
  ctx.sp = sp;
}

}  // namespace fiber

#else
#include <ucontext.h>

namespace fiber {

struct Context {
  ucontext_t uc;
};
inline void switch_to(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
inline void start(Context& ctx, void* stack, size_t bytes, void (*body)(), Context& exit) {
  getcontext(&ctx.uc);
  ctx.uc.uc_stack.ss_sp = stack;
  ctx.uc.uc_stack.ss_size = bytes;
  ctx.uc.uc_link = &exit.uc;
  makecontext(&ctx.uc, body, 0);
}

}  // namespace fiber

#endif
