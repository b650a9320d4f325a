#include "kv/service/confirm.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace kv::service {

std::string ConfirmSubject(absl::string_view link, store::NodeId origin) {
  return absl::StrFormat("_kv.%s.confirm.%016x", link, origin);
}

std::string AckPrefix(absl::string_view link, store::NodeId origin) {
  return absl::StrFormat("_kv.%s.ack.%016x", link, origin);
}

std::string AckSubject(absl::string_view link, store::NodeId origin) {
  return absl::StrCat(AckPrefix(link, origin), ".a");
}

Confirmations::Confirmations() : sweeper_([this] { Sweep(); }) {}

Confirmations::~Confirmations() {
  std::list<Waiting> left;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    left.swap(waiting_);
    waiting_bytes_ = 0;
  }
  sweeper_.join();
  for (Waiting& w : left) w.done(false);
}

bool Confirmations::Confirmed(const Waiting& w) const {
  size_t n = 0;
  for (store::NodeId m : w.members) {
    auto it = acked_.find(m);
    if (it != acked_.end() && it->second >= w.seq) ++n;
  }
  return n >= w.needed;
}

void Confirmations::Record(store::NodeId peer, uint64_t seq,
                           const std::vector<store::NodeId>& live) {
  std::list<Waiting> done;
  {
    absl::MutexLock lock(&mu_);
    auto it = acked_.find(peer);
    if (it == acked_.end()) {
      if (acked_.size() >= kMaxPeers) {  // make room: peers that left the view
        for (auto a = acked_.begin(); a != acked_.end();) {
          const bool gone = std::find(live.begin(), live.end(), a->first) == live.end();
          a = gone ? acked_.erase(a) : std::next(a);
        }
        if (acked_.size() >= kMaxPeers) return;
      }
      acked_.emplace(peer, seq);
    } else {
      it->second = std::max(it->second, seq);
    }
    // A confirmation after a decision's deadline does not count (the sweeper
    // answers that one).
    const absl::Time now = absl::Now();
    for (auto w = waiting_.begin(); w != waiting_.end();) {
      auto next = std::next(w);
      if (w->deadline > now && Confirmed(*w)) {
        waiting_bytes_ -= w->bytes;
        done.splice(done.end(), waiting_, w);
      }
      w = next;
    }
  }
  for (Waiting& w : done) w.done(true);
}

void Confirmations::Await(uint64_t seq, std::vector<store::NodeId> members, size_t needed,
                          absl::Time deadline, std::function<void(bool)> done,
                          size_t bytes) {
  Waiting w{seq, std::move(members), needed, deadline, std::move(done), bytes};
  bool now = false;
  bool full = false;
  {
    absl::MutexLock lock(&mu_);
    now = w.deadline > absl::Now() && Confirmed(w);
    full = !now && (stop_ || waiting_.size() >= kMaxWaiting ||
                    waiting_bytes_ + bytes > kMaxWaitingBytes);
    if (!now && !full) {
      waiting_bytes_ += bytes;
      waiting_.push_back(std::move(w));
      return;
    }
  }
  w.done(now);
}

void Confirmations::Clear() {
  absl::MutexLock lock(&mu_);
  acked_.clear();
}

void Confirmations::Sweep() {
  for (;;) {
    std::list<Waiting> late;
    {
      absl::MutexLock lock(&mu_);
      absl::Time next = absl::InfiniteFuture();
      for (const Waiting& w : waiting_) next = std::min(next, w.deadline);
      // Wakes at the first deadline, or when stopped; a new decision's
      // deadline is never earlier than one already waiting by much (they are
      // all now + the same window), so a wake every 100 ms at most is enough.
      next = std::min(next, absl::Now() + absl::Milliseconds(100));
      mu_.AwaitWithDeadline(absl::Condition(&stop_), next);
      if (stop_) return;
      const absl::Time now = absl::Now();
      for (auto w = waiting_.begin(); w != waiting_.end();) {
        auto after = std::next(w);
        if (w->deadline <= now) {
          waiting_bytes_ -= w->bytes;
          late.splice(late.end(), waiting_, w);
        }
        w = after;
      }
    }
    for (Waiting& w : late) w.done(false);
  }
}

}  // namespace kv::service
