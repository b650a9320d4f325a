// Replica: the order of a client's requests (docs/guarantees.md, "A sequential
// client"): events leave through the request's connection, gaps wait a grace for
// reordered events, and requests wait for the events received before them.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kv/replication/replica.h"

namespace kv::replication {

using store::VersionVector;

void Replica::PublishEvents(const std::vector<store::Event>& events, const Output& out) {
  if (!options_.enabled || events.empty()) return;
  if (!out.hold) {
    // What is held has lower seqs: it leaves first, on the bus's connection,
    // which carries the held replies after it (this write's `publish` may be
    // another connection: a reply held there could overtake its event).
    if (held_messages_ > 0) FlushHeldLocked(to_bus_);
    PublishEncoded(codec::EncodeEvents(events), events.size(), events.front().dot.seq,
                   *out.publish);
    return;
  }
  // Joins the last held message if it fits: the events of one call stay in
  // one message (a batch's peers apply it under one lock).
  size_t bytes = 0;
  for (const store::Event& e : events) {
    bytes += codec::EncodedSize(e.delta) + 32;
    if (e.request) bytes += codec::EncodedSize(*e.request) + 8;
  }
  const size_t limit =
      std::min<size_t>(kMaxHeldMessageBytes,
                       static_cast<size_t>(std::max<int64_t>(1, bus_->MaxPayload())));
  if (held_messages_ == 0 || held_events_[held_messages_ - 1].size() + bytes > limit) {
    if (held_events_.size() == held_messages_) held_events_.emplace_back();
    ++held_messages_;
  }
  codec::EventsBuilder& m = held_events_[held_messages_ - 1];
  for (const store::Event& e : events) held_bytes_ += m.Add(e);
}

void Replica::PublishEncoded(absl::string_view bytes, size_t count, uint64_t first_seq,
                             const EventPublisher& publish) {
  const std::string subject = Subject("events");
  absl::Status s = publish ? publish(subject, bytes) : bus_->Publish(subject, "", bytes);
  if (s.ok()) {
    counters_.events_out += count;
  } else {
    // The peers will see the gap (heartbeat vectors) and catch up. (The log is
    // rate-limited by kind.)
    ++counters_.publish_errors;
    Log(absl::StrCat("cannot publish event", count > 1 ? "s " : " ", first_seq,
                     count > 1 ? absl::StrCat("..", first_seq + count - 1) : "", " (",
                     bytes.size(),
                     " bytes; peers repair it by catch-up): ", s.message()));
  }
}

void Replica::FlushHeld(const EventPublisher& publish) {
  absl::MutexLock lock(&mu_);
  FlushHeldLocked(publish);
}

void Replica::FlushHeldLocked(const EventPublisher& publish) {
  for (size_t i = 0; i < held_messages_; ++i) {
    codec::EventsBuilder& m = held_events_[i];
    PublishEncoded(m.bytes(), m.count(), m.first_seq(), publish);
    m.Clear();
  }
  held_messages_ = 0;
  held_bytes_ = 0;
}

void Replica::NotifyChange(const store::Event& event, absl::string_view op) {
  if (options_.on_change) options_.on_change(*store_, event, op);
}

void Replica::WithdrawLost() {
  if (!ready()) return;  // they wait in the log until it is
  for (const store::Withdrawal& w : store_->requests().TakeWithdrawals()) {
    auto taken = store_->Withdraw(w);
    if (!taken.ok()) {
      Log(absl::StrCat("cannot take back a second application of a request id on key '",
                       w.key, "': ", taken.status().message()));
      continue;
    }
    if (!taken->event) continue;
    ++counters_.withdrawn;
    PublishEvents({*taken->event}, OutputOf(nullptr));
    NotifyChange(*taken->event, "withdraw");
  }
}

void Replica::EvictOverLimit(const Output& out, size_t own_bytes) {
  const size_t slack = store_->limits().max_memory_bytes / 8;
  size_t freed = 0;
  for (int i = 0; i < kMaxEvictionsPerWrite && store_->OverMemoryLimit(); ++i) {
    if (freed >= own_bytes && !store_->OverMemoryLimit(slack)) return;
    const size_t before = store_->MemoryBytes();
    absl::StatusOr<store::Change<bool>> evicted = store_->Evict();
    if (!evicted.ok()) {
      Log(absl::StrCat("over the memory limit, nothing left to evict: ",
                       evicted.status().message()));
      return;
    }
    if (evicted->event) {
      PublishEvents({*evicted->event}, out);
      NotifyChange(*evicted->event, "evict");
    }
    const size_t after = store_->MemoryBytes();
    if (after < before) freed += before - after;
  }
}

absl::Time Replica::TickGaps(absl::Time now) {
  absl::Time next = absl::InfiniteFuture();
  for (auto it = gaps_.begin(); it != gaps_.end();) {
    const auto& [origin, gap] = *it;
    if (store::Covers(store_->vv(), store::Dot{origin, gap.seq})) {
      it = gaps_.erase(it);  // the missing events came: only reordered
      continue;
    }
    const absl::Time due = gap.since + options_.gap_grace;
    // A catch-up runs (a probe gives way): look again after it.
    if (now < due || (sync_ && (!sync_->probe || sync_->join))) {
      next = std::min(next, std::max(due, now + options_.gap_grace));
      ++it;
      continue;
    }
    // Lost. The origin certainly has what we lack; if it is gone, or stale (it
    // lacks what we collected), the heartbeats of the others lead to another peer.
    ++counters_.gaps;
    if (peers_->Usable(origin, store_->collected(), clock_->Now()))
      StartSync(origin, false);
    it = gaps_.erase(it);
  }
  return next;
}

bool Replica::AwaitEventsReceived(absl::Duration timeout) const {
  if (!options_.enabled || events_sub_ == nullptr) return true;
  return events_sub_->AwaitReceived(timeout);
}

bool Replica::Covered(CoverWait* w) {
  for (const auto& [node, seq] : *w->position) {
    if (seq != 0 && !w->replica->store_->HasApplied(store::Dot{node, seq})) return false;
  }
  return true;
}

bool Replica::AwaitApplied(const VersionVector& position, absl::Duration timeout) const {
  CoverWait wait{this, &position};
  absl::MutexLock lock(&mu_);
  // An origin this replica never heard of (no operation, no heartbeat) will not
  // be applied within the wait: fail at once rather than hold the caller.
  for (const auto& [origin, seq] : position) {
    if (origin != node() && store_->vv().count(origin) == 0 &&
        !store_->IsRetired(origin) && !peers_->Knows(origin)) {
      return false;
    }
  }
  return mu_.AwaitWithTimeout(absl::Condition(&Replica::Covered, &wait), timeout);
}

}  // namespace kv::replication
