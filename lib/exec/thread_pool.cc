#include "mixq/exec/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace mixq::exec {
namespace {

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Busy-waits up to ~kSpin for `ready` to return true; false if it did not.
constexpr auto kSpin = std::chrono::microseconds(200);
template <typename F>
bool spin_until(F&& ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > deadline) return false;
  }
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    stopping_.store(true);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

int64_t ThreadPool::grain_for(int64_t n, int64_t min_grain) {
  // 64 chunks is enough to balance up to ~16 threads; fewer, larger chunks cost less to hand
  // out. Fixed, so the split never depends on the machine or the pool size.
  constexpr int64_t kTargetChunks = 64;
  return std::max<int64_t>(min_grain, (n + kTargetChunks - 1) / kTargetChunks);
}

void ThreadPool::run_chunks(Job& job) {
  for (;;) {
    const int64_t k = job.next.fetch_add(1);
    if (k >= job.chunks) return;
    const int64_t begin = k * job.grain;
    const int64_t end = std::min(job.n, begin + job.grain);
    (*job.fn)(begin, end);
    job.done.fetch_add(1);
  }
}

void ThreadPool::set_idle_work(std::function<bool()> fn) {
  // Sequentially consistent: a thread that entered after the null store reads null; one that
  // entered before is waited for.
  idle_.store(nullptr);
  while (in_idle_.load() != 0) cpu_relax();
  idle_fn_ = std::move(fn);
  if (!idle_fn_) return;
  idle_.store(&idle_fn_);
  // Wake workers asleep on wake_ (a new generation without a job) so they look for the work.
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    published_generation_.store(generation_);
  }
  wake_.notify_all();
}

bool ThreadPool::try_idle_work() {
  if (idle_.load(std::memory_order_relaxed) == nullptr) return false;  // the usual case: none
  ++in_idle_;
  const std::function<bool()>* fn = idle_.load();
  const bool did = fn != nullptr && (*fn)();
  --in_idle_;
  return did;
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    Job* job = nullptr;
    // While no job comes, background work (set_idle_work) before spinning and sleeping.
    bool did_idle_work = false;
    spin_until([&] {
      if (stopping_.load() || published_generation_.load() != seen) return true;
      did_idle_work = try_idle_work();
      return did_idle_work;
    });
    if (did_idle_work) continue;  // wait again, with a fresh spin
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
      if (job == nullptr) continue;
      ++job->active;
    }
    run_chunks(*job);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --job->active;
    }
    finished_.notify_all();
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t chunks = (n + grain - 1) / grain;
  bool expected = false;
  if (chunks == 1 || workers_.empty() || !busy_.compare_exchange_strong(expected, true)) {
    // One chunk, no workers, or a nested call: run inline, chunk by chunk, in order.
    for (int64_t b = 0; b < n; b += grain) fn(b, std::min(n, b + grain));
    return;
  }
  Job job;
  job.fn = &fn;
  job.n = n;
  job.grain = grain;
  job.chunks = chunks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &job;
    ++generation_;
    published_generation_.store(generation_);
  }
  wake_.notify_all();
  run_chunks(job);
  {
    // Every chunk is done and no worker still holds the job (it lives on this stack frame).
    // Meanwhile the calling thread does background work (set_idle_work) too.
    const auto finished = [&] { return job.done.load() == job.chunks && job.active.load() == 0; };
    spin_until([&] { return finished() || (try_idle_work() && finished()); });
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, finished);
    job_ = nullptr;
  }
  busy_.store(false);
}

}  // namespace mixq::exec
