// ThreadPool: intra-op parallelism with results that do not depend on the thread count.
//
// parallel_for splits [0, n) into chunks whose boundaries depend only on n and the grain, never
// on how many threads there are; threads take whole chunks. As long as a kernel computes each
// output element within one chunk (no reductions across chunks), its results are bit-identical
// for any pool size, including 1.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mixq::exec {

class ThreadPool {
 public:
  // `threads` <= 0 means one per hardware thread. The calling thread works too, so a pool of
  // size N starts N - 1 workers.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) for consecutive chunks [k*grain, min((k+1)*grain, n)) and returns when
  // all are done. Runs inline when there is one chunk or one thread. Not reentrant: a chunk must
  // not call parallel_for on the same pool (nested calls run inline).
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // A grain that gives about `chunks_per_thread` chunks per hardware thread for n items of
  // `cost` work each, but never splits below `min_grain`. Depends only on n and the arguments
  // — never on size() — so chunking stays thread-count independent.
  static int64_t grain_for(int64_t n, int64_t min_grain);

  // Background work for idle threads (calibration observes activations with it while the
  // forward pass goes on): `fn` is called by workers between jobs, and by the thread in
  // parallel_for while it waits for the workers to finish their chunks; it returns whether it
  // did some work (a thread that found none waits as before). It must be safe to call from
  // several threads at once and should keep each call short: work published meanwhile waits
  // until it returns. Setting it wakes sleeping workers (a worker that later goes to sleep
  // waits for the next job). Pass null to stop; set_idle_work returns once no thread is still
  // inside the previous function. Not to be called while a parallel_for runs.
  void set_idle_work(std::function<bool()> fn);

 private:
  struct Job {
    const std::function<void(int64_t, int64_t)>* fn = nullptr;
    int64_t n = 0;
    int64_t grain = 1;
    int64_t chunks = 0;
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
    // Workers inside run_chunks; changed under mutex_ (the job must outlive them) and read
    // without it while the caller spins.
    std::atomic<int> active{0};
  };

  void worker_loop();
  void run_chunks(Job& job);
  bool try_idle_work();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable finished_;
  Job* job_ = nullptr;
  uint64_t generation_ = 0;
  // generation_ and stop_, readable without the mutex: idle workers spin on them for a short
  // while before sleeping, since waking a sleeping thread costs tens of microseconds and models
  // run hundreds of small parallel ops back to back.
  std::atomic<uint64_t> published_generation_{0};
  std::atomic<bool> stopping_{false};
  bool stop_ = false;
  std::atomic<bool> busy_{false};
  std::function<bool()> idle_fn_;
  std::atomic<const std::function<bool()>*> idle_{nullptr};  // &idle_fn_ while set
  std::atomic<int> in_idle_{0};                              // threads inside idle_fn_
};

}  // namespace mixq::exec
