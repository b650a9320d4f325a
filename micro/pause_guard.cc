#include "micro/pause_guard.h"

#include <utility>

namespace micro {

PauseGuard::PauseGuard(absl::Duration max_pause, absl::Duration margin,
                       std::function<absl::Duration()> now)
    : max_pause_(max_pause), margin_(margin), now_(std::move(now)) {
  absl::MutexLock lock(&mu_);
  last_beat_ = now_();
}

void PauseGuard::Check(absl::Duration now) {
  if (now - last_beat_ > max_pause_) {
    ++pauses_;
    resumed_at_ = now;
  }
  last_beat_ = now;
}

bool PauseGuard::Tick() {
  absl::MutexLock lock(&mu_);
  const uint64_t before = pauses_;
  Check(now_());
  return pauses_ != before;
}

bool PauseGuard::Refuse(Queue* queue, int backlog) {
  absl::MutexLock lock(&mu_);
  const absl::Duration now = now_();
  // The first request after a resume may run before the watchdog does.
  Check(now);
  if (queue->pause != pauses_) {
    queue->pause = pauses_;
    // A queue whose first request since the resume comes `margin` after it,
    // with nothing behind it, had nothing waiting through the pause (what
    // waited is handled at once).
    queue->refusing = backlog > 0 || now - resumed_at_ < margin_;
    queue->drained = false;
  }
  if (!queue->refusing) return false;
  if (!queue->drained && backlog == 0) {
    queue->drained = true;
    queue->drained_at = now;
  }
  if (queue->drained && now - queue->drained_at >= margin_) {
    queue->refusing = false;
    return false;
  }
  ++refused_;
  return true;
}

uint64_t PauseGuard::pauses() const {
  absl::MutexLock lock(&mu_);
  return pauses_;
}

uint64_t PauseGuard::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

}  // namespace micro
