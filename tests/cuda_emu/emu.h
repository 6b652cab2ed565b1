// A CPU emulation of the small part of CUDA that csrc/cuda/ uses, so that its kernels and
// their launch code run without a GPU (tests/cuda_emu/build.py). Force-included before
// every translation unit; tests/cuda_emu/include/ stands in for the CUDA headers.
//
// Each block runs its threads as fibers on the calling thread, one block after another. A
// fiber runs until it reaches a barrier (__syncthreads for the block; the warp's for
// __shfl_down_sync and __ballot_sync), then the next one runs. What a GPU would reject,
// this rejects too, with an error naming it: a barrier that not every thread of its group
// reaches (a hang on a GPU), a block larger than 1024 threads, a grid dimension over the
// device limits, a warp operation with a partial mask. Misaligned vector accesses are
// caught by UBSan's alignment check and accesses outside a tensor by AddressSanitizer (the
// build's -fsanitize=address,alignment).
//
// Races: between two of the block's barriers, the warps run one at a time, whole, in
// order (blocks too, in grid order), or all in reverse order with
// RELU_EXT_EMU_ORDER=reverse; a warp's threads likewise between its own barriers. A barrier
// missing between a write to shared memory and another warp's (or thread's) read of it
// then shows in one of the two orders, where the reader runs first and reads what was there
// before (a GPU's schedule may do either). So the tests that reach the kernels with barriers
// run in both orders (make cuda-emu-test).
#pragma once

#include <ucontext.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

namespace relu_ext_emu {

[[noreturn]] inline void fail(const std::string& what) {
  throw std::runtime_error("CUDA emulation: " + what);
}

// Threads and blocks run in reverse order (RELU_EXT_EMU_ORDER=reverse; "forward", the
// default, runs them in order).
inline bool reverse() {
  static const bool r = [] {
    const char* o = std::getenv("RELU_EXT_EMU_ORDER");
    const std::string order = o ? o : "forward";
    if (order != "forward" && order != "reverse") {
      fail("RELU_EXT_EMU_ORDER must be forward or reverse, not " + order);
    }
    return order == "reverse";
  }();
  return r;
}

// Switching between fibers: on x86-64 a few instructions (the callee-saved registers and
// the floating-point control words pushed on the stack that is left); elsewhere ucontext,
// whose every switch is a system call.
#if defined(__x86_64__)
struct Context {
  void* sp = nullptr;
};
// Saves the current context into *from and resumes `to`.
__attribute__((naked, noinline)) inline void switch_context(Context* /*from*/, Context* /*to*/) {
  asm volatile(
      "pushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n\t"
      "subq $8, %rsp\n\tstmxcsr (%rsp)\n\tfnstcw 4(%rsp)\n\t"
      "movq %rsp, (%rdi)\n\tmovq (%rsi), %rsp\n\t"
      "ldmxcsr (%rsp)\n\tfldcw 4(%rsp)\n\taddq $8, %rsp\n\t"
      "popq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n\tret\n\t");
}
// A context that, when first switched to, calls entry() on the given stack.
inline void make_context(Context* c, char* stack, size_t size, void (*entry)()) {
  auto* top = reinterpret_cast<uint64_t*>(
      (reinterpret_cast<uintptr_t>(stack + size) & ~uintptr_t{15}));
  *--top = 0;                                   // entry's return address: it never returns
  *--top = reinterpret_cast<uint64_t>(entry);   // switch_context's ret goes here
  for (int r = 0; r < 6; ++r) *--top = 0;       // rbp rbx r12 r13 r14 r15
  uint32_t mxcsr;
  uint16_t fpucw;
  asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(fpucw));
  *--top = uint64_t{mxcsr} | (uint64_t{fpucw} << 32);
  c->sp = top;
}
#else
struct Context {
  ucontext_t uc;
};
inline void switch_context(Context* from, Context* to) { swapcontext(&from->uc, &to->uc); }
inline void make_context(Context* c, char* stack, size_t size, void (*entry)()) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = stack;
  c->uc.uc_stack.ss_size = size;
  c->uc.uc_link = nullptr;
  makecontext(&c->uc, entry, 0);
}
#endif

// AddressSanitizer builds (tests/cuda_emu/build.py): tell it which stack is in use, and
// clear what a finished fiber left poisoned on a stack before it is used again.
inline void start_switch(void** fake, const void* bottom, size_t size) {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(fake, bottom, size);
#endif
}
inline void finish_switch(void* fake, const void** bottom, size_t* size) {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(fake, bottom, size);
#endif
}
inline void unpoison(char* stack, size_t size) {
#if defined(__SANITIZE_ADDRESS__)
  ASAN_UNPOISON_MEMORY_REGION(stack, size);
#endif
}

class Block {
 public:
  static constexpr size_t kStack = 128 * 1024;

  // Runs body() as every thread of one block; throws if the block deadlocks.
  void run(unsigned nthreads, const std::function<void()>& body) {
    n_ = nthreads;
    body_ = &body;
    while (stacks_.size() < n_) stacks_.emplace_back(new char[kStack]);  // untouched until used
    fibers_.assign(n_, Fiber{});
    groups_.assign(1 + (n_ + 31) / 32, Group{});
    // A fiber's frames are gone when it returns, but for the first one (entry), which never
    // returns; only a block that failed leaves more behind.
    const size_t dirty = clean_ ? 4096 : kStack;
    clean_ = false;
    for (unsigned t = 0; t < n_; ++t) {
      unpoison(stacks_[t].get() + kStack - dirty, dirty);
      make_context(&fibers_[t].ctx, stacks_[t].get(), kStack, &entry);
    }
    // Phases end at the block's barriers. In each, the warps run one after another (in
    // order, or reversed), each until all its threads wait at the block's barrier or have
    // returned; a warp runs in segments ending at its own barriers, its threads in order
    // (or reversed) in each. A barrier's last thread to arrive stops there too, so every
    // phase and segment starts afresh in the chosen order.
    unsigned done = 0;
    while (done < n_) {
      bool ran = false;
      for (unsigned t = 0; t < n_; ++t) {
        if (fibers_[t].state == kReleased && fibers_[t].group == 0) fibers_[t].state = kRunnable;
      }
      const unsigned warps = (n_ + 31) / 32;
      for (unsigned i = 0; i < warps; ++i) {
        const unsigned w = reverse() ? warps - 1 - i : i;
        const unsigned lanes = warp_lanes(w);
        for (bool segment = true; segment;) {
          segment = false;
          for (unsigned l = 0; l < lanes; ++l) {
            Fiber& f = fibers_[32 * w + l];
            if (f.state == kReleased && f.group != 0) f.state = kRunnable;
          }
          for (unsigned l = 0; l < lanes; ++l) {
            const unsigned t = 32 * w + (reverse() ? lanes - 1 - l : l);
            if (fibers_[t].state != kRunnable) continue;
            resume(t);
            ran = segment = true;
            if (fibers_[t].state == kDone) ++done;
            if (!error_.empty()) fail(error_);
          }
        }
      }
      if (done == n_) clean_ = true;
      if (!ran) {
        fail("deadlock: " + std::to_string(n_ - done) + " of " + std::to_string(n_) +
             " threads wait at a barrier that the others never reach (" +
             std::to_string(done) + " returned first)");
      }
    }
  }

  // Waits until every thread of the block (group 0) or of the caller's warp (group 1 + warp)
  // has arrived: released, they run again from the next phase (the block's) or segment (a
  // warp's) on.
  void barrier(unsigned group) {
    Group& g = groups_[group];
    const unsigned need = group == 0 ? n_ : warp_lanes(group - 1);
    const unsigned me = current_;
    fibers_[me].state = kWaiting;
    fibers_[me].group = group;
    if (++g.arrived == need) {
      g.arrived = 0;
      for (unsigned t = 0; t < n_; ++t) {
        if (fibers_[t].state == kWaiting && fibers_[t].group == group) fibers_[t].state = kReleased;
      }
    }
    void* fake = nullptr;
    start_switch(&fake, scheduler_bottom_, scheduler_size_);
    switch_context(&fibers_[me].ctx, &scheduler_);
    finish_switch(fake, &scheduler_bottom_, &scheduler_size_);
  }

  unsigned warp() const { return current_ / 32; }
  unsigned lane() const { return current_ % 32; }
  // Threads in warp w (32 but in a last, partial warp).
  unsigned warp_lanes(unsigned w) const { return std::min(32u, n_ - 32 * w); }
  void set_error(const std::string& e) {
    if (error_.empty()) error_ = e;
  }
  void clear_error() { error_.clear(); }
  // The exchange slots of one warp: 8 bytes per lane.
  uint64_t* slots(unsigned warp) { return groups_[1 + warp].slots; }

 private:
  enum State { kRunnable, kWaiting, kReleased, kDone };
  struct Fiber {
    Context ctx;
    State state = kRunnable;
    unsigned group = 0;
  };
  struct Group {
    unsigned arrived = 0;
    uint64_t slots[32] = {};
  };

  static void entry();

  // Runs thread t until it waits at a barrier or returns.
  void resume(unsigned t) {
    current_ = t;
    threadIdx.x = t % blockDim.x;
    threadIdx.y = (t / blockDim.x) % blockDim.y;
    threadIdx.z = t / (blockDim.x * blockDim.y);
    void* fake = nullptr;
    start_switch(&fake, stacks_[t].get(), kStack);
    switch_context(&scheduler_, &fibers_[t].ctx);
    finish_switch(fake, nullptr, nullptr);
  }

  unsigned n_ = 0, current_ = 0;
  bool clean_ = false;  // every fiber of the last block returned
  const std::function<void()>* body_ = nullptr;
  std::vector<std::unique_ptr<char[]>> stacks_;
  std::vector<Fiber> fibers_;
  std::vector<Group> groups_;
  Context scheduler_;
  const void* scheduler_bottom_ = nullptr;  // the scheduler's stack (AddressSanitizer)
  size_t scheduler_size_ = 0;
  std::string error_;
};

inline Block& block() {
  static Block b;
  return b;
}

// A fiber's first frame: runs the kernel, then hands back to the scheduler for good.
inline void Block::entry() {
  Block& b = block();
  finish_switch(nullptr, &b.scheduler_bottom_, &b.scheduler_size_);
  try {
    (*b.body_)();
  } catch (const std::exception& e) {
    b.set_error(std::string("a kernel thread threw: ") + e.what());
  }
  b.fibers_[b.current_].state = kDone;
  start_switch(nullptr, b.scheduler_bottom_, b.scheduler_size_);  // this fiber ends
  switch_context(&b.fibers_[b.current_].ctx, &b.scheduler_);
  __builtin_unreachable();
}

inline std::mutex& launch_mutex() {
  static std::mutex m;
  return m;
}

// kernel<<<grid, block, ...>>>(args...) becomes launch(grid, block, kernel-caller, args...).
template <typename F, typename... Args>
void launch(dim3 grid, dim3 blk, F kernel, Args... args) {
  const std::lock_guard<std::mutex> lock(launch_mutex());
  const uint64_t threads = uint64_t{blk.x} * blk.y * blk.z;
  if (threads == 0 || threads > 1024 || blk.z > 64) {
    fail("invalid block (" + std::to_string(blk.x) + ", " + std::to_string(blk.y) + ", " +
         std::to_string(blk.z) + ")");
  }
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 ||
      grid.z > 65535) {
    fail("invalid grid (" + std::to_string(grid.x) + ", " + std::to_string(grid.y) + ", " +
         std::to_string(grid.z) + ")");
  }
  const std::function<void()> body = [&] {
    auto copies = std::make_tuple(args...);  // each thread gets its own copy, as on a GPU
    std::apply(kernel, copies);
  };
  gridDim = grid;
  blockDim = blk;
  Block& b = block();
  b.clear_error();
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint64_t id = reverse() ? blocks - 1 - i : i;
    blockIdx.x = static_cast<unsigned>(id % grid.x);
    blockIdx.y = static_cast<unsigned>(id / grid.x % grid.y);
    blockIdx.z = static_cast<unsigned>(id / grid.x / grid.y);
    b.run(static_cast<unsigned>(threads), body);
  }
}

inline void check_full_warp(unsigned mask, const char* op) {
  Block& b = block();
  const unsigned lanes = b.warp_lanes(b.warp());
  const unsigned full = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1);
  if (mask != 0xffffffffu && mask != full) {
    b.set_error(std::string(op) + " with a partial mask is not emulated");
  }
}

}  // namespace relu_ext_emu

inline void __syncthreads() { relu_ext_emu::block().barrier(0); }

template <typename T>
T __shfl_down_sync(unsigned mask, T v, int offset) {
  static_assert(sizeof(T) <= 8, "__shfl_down_sync of a type over 8 bytes");
  relu_ext_emu::check_full_warp(mask, "__shfl_down_sync");
  auto& b = relu_ext_emu::block();
  const unsigned warp = b.warp(), lane = b.lane(), lanes = b.warp_lanes(warp);
  uint64_t* slots = b.slots(warp);
  std::memcpy(&slots[lane], &v, sizeof(T));
  b.barrier(1 + warp);
  T r = v;
  if (lane + offset < lanes) std::memcpy(&r, &slots[lane + offset], sizeof(T));
  b.barrier(1 + warp);  // every lane has read before the slots are written again
  return r;
}

inline unsigned __ballot_sync(unsigned mask, int predicate) {
  relu_ext_emu::check_full_warp(mask, "__ballot_sync");
  auto& b = relu_ext_emu::block();
  const unsigned warp = b.warp(), lane = b.lane(), lanes = b.warp_lanes(warp);
  uint64_t* slots = b.slots(warp);
  slots[lane] = predicate != 0;
  b.barrier(1 + warp);
  unsigned word = 0;
  for (unsigned l = 0; l < lanes; ++l) word |= static_cast<unsigned>(slots[l] != 0) << l;
  b.barrier(1 + warp);
  return word;
}
