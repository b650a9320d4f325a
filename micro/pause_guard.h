// Detects that the process was paused (SIGSTOP, a VM freeze, a debugger) and
// tells the dispatcher to refuse the requests that queued up meanwhile: they
// would run late, possibly after their requester gave up and wrote elsewhere.
#ifndef MICRO_PAUSE_GUARD_H_
#define MICRO_PAUSE_GUARD_H_

#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace micro {

// A watchdog calls Tick() every few tens of milliseconds on a monotonic clock;
// a gap between ticks (or between the last tick and a request) longer than
// `max_pause` means the process did not run for that long. From then on, every
// request of a queue is refused until that queue's backlog drained (its pending
// count was seen at 0) and `margin` more passed; each queue is followed on its
// own (a Queue per subscription). A queue whose first request after the resume
// comes `margin` or more after it, alone, is not refused: nothing of it waited.
//
// Thread safety: thread-safe.
class PauseGuard {
 public:
  // The refusal state of one subscription's queue, kept by the guard.
  struct Queue {
    uint64_t pause = 0;         // the last pause this queue was told of
    bool refusing = false;      // refusing requests since that pause
    bool drained = false;       // its backlog was seen empty at `drained_at`
    absl::Duration drained_at;  // (monotonic)
  };

  // `now` reads a monotonic clock (e.g. steady_clock since some origin).
  // `max_pause` > 0.
  PauseGuard(absl::Duration max_pause, absl::Duration margin,
             std::function<absl::Duration()> now);
  PauseGuard(const PauseGuard&) = delete;
  PauseGuard& operator=(const PauseGuard&) = delete;

  // The watchdog's beat. Returns true when it detected a pause.
  bool Tick() ABSL_LOCKS_EXCLUDED(mu_);

  // Called before a request of `queue` runs, with the number of requests
  // still waiting behind it. True: refuse it (the process was paused and this
  // queue's backlog of that time is not drained yet).
  bool Refuse(Queue* queue, int backlog) ABSL_LOCKS_EXCLUDED(mu_);

  // Pauses detected, and requests refused, so far.
  uint64_t pauses() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t refused() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Records a pause if the last beat is older than max_pause.
  void Check(absl::Duration now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration max_pause_;
  const absl::Duration margin_;
  const std::function<absl::Duration()> now_;

  mutable absl::Mutex mu_;
  absl::Duration last_beat_ ABSL_GUARDED_BY(mu_);
  uint64_t pauses_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration resumed_at_ ABSL_GUARDED_BY(mu_);  // when the last pause was seen
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace micro

#endif  // MICRO_PAUSE_GUARD_H_
