// The parts of Replica that decide whom tombstone collection waits for and what a
// stale replica does (docs/replication.md, "Tombstone collection"): heartbeats'
// membership fields, garbage collection, goodbyes and stale resets, and the
// figures a replica reports (stats()).
#include <algorithm>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kv/replication/replica.h"

namespace kv::replication {
namespace {

using store::NodeId;

std::string Hex(NodeId node) { return absl::StrFormat("%016x", node); }

}  // namespace

codec::Heartbeat Replica::MakeHeartbeat(absl::Time now, bool goodbye) {
  codec::Heartbeat hb;
  hb.node = node();
  hb.vv = store_->vv();
  hb.digest = store_->digest();
  hb.keys = store_->stats().keys;
  hb.hlc = store_->NextHlcFloor();
  hb.collected = store_->collected();
  hb.members = peers_->Members(now);
  hb.departed = peers_->Departed(now);
  hb.retired = store_->Retired();
  for (const auto& [origin, seq] : vouched_) {
    if (hb.retiring.size() == codec::kMaxListedNodes) break;  // what decoding takes
    auto mark = store_->vv().find(origin);
    if (mark != store_->vv().end() && mark->second == seq)
      hb.retiring.insert({origin, seq});
  }
  hb.goodbye = goodbye;
  hb.view = ownership_->view();
  hb.view_since_ms = absl::ToUnixMillis(ownership_->view_since());
  hb.sent_ms = absl::ToUnixMillis(now);
  return hb;
}

void Replica::CollectGarbage(absl::Time now) {
  GcBounds bounds = peers_->Collect(store_->vv(), now);
  for (NodeId node : bounds.forgotten) Log(absl::StrCat("forgetting peer ", Hex(node)));
  // A replica waited for was never heard (a joiner's peers listed it): wait.
  if (!bounds.complete) return;
  std::vector<store::ExpiredKey> expired;
  counters_.tombstones_collected +=
      store_->CollectGarbage(bounds.stable, bounds.hlc_floor, options_.expiry_grace,
                             options_.on_change ? &expired : nullptr);
  AnnounceExpired(expired, bounds.waited);
  RetireOrigins(bounds.waited, now);
}

void Replica::AnnounceExpired(const std::vector<store::ExpiredKey>& expired,
                              const std::vector<NodeId>& waited) {
  if (expired.empty()) return;
  // Every replica reclaims the key on its own; one announces it: the key's last
  // writer while collection waits for it (a member), else the member with the
  // lowest id (docs/replication.md, "Expiry notifications").
  const NodeId lowest =
      waited.empty() ? node() : *std::min_element(waited.begin(), waited.end());
  for (const store::ExpiredKey& k : expired) {
    const bool member = std::find(waited.begin(), waited.end(), k.writer) != waited.end();
    if ((member ? k.writer : lowest) != node()) continue;
    store::Event note;
    note.dot = store::Dot{node(), 0};
    note.delta.key = k.key;
    NotifyChange(note, "expired");
  }
}

absl::Time Replica::CollectAlone(absl::Time now) {
  if (now - last_gc_ >= options_.gc_interval) {
    std::vector<store::ExpiredKey> expired;
    counters_.tombstones_collected += store_->CollectGarbage(
        store_->vv(), store_->NextHlcFloor(), options_.expiry_grace,
        options_.on_change ? &expired : nullptr);
    AnnounceExpired(expired, {node()});
    last_gc_ = now;
  }
  return last_gc_ + options_.gc_interval;
}

void Replica::RetireOrigins(const std::vector<NodeId>& waited, absl::Time now) {
  // Gone: it said goodbye, or nobody heard it for forget_after; nobody waits
  // for it.
  std::vector<NodeId> gone;
  for (const auto& [origin, seq] : store_->vv()) {
    if (peers_->Gone(origin, now) &&
        std::find(waited.begin(), waited.end(), origin) == waited.end()) {
      gone.push_back(origin);
    }
  }
  // Applied entirely: this replica holds it exactly up to its mark, and every
  // replica waited for says the same of the same mark (in its heartbeat's
  // `retiring`) or retired it there.
  vouched_ = store_->Vouch(gone);
  for (auto it = vouched_.begin(); it != vouched_.end();) {
    const auto [origin, seq] = *it;
    if (!peers_->AllApplied(origin, seq, waited)) {
      ++it;  // not yet
      continue;
    }
    if (!store_->Retire(origin)) {
      // The retired set is full of origins the data still names: each further
      // try would scan the store again for nothing.
      if (store_->stats().retired_origins >= store::Store::kMaxRetired) break;
      ++it;
      continue;
    }
    it = vouched_.erase(it);
    peers_->ForgetOrigin(origin);
    ++counters_.origins_retired;
    Log(absl::StrCat("retired origin ", Hex(origin), " (every replica applied its ", seq,
                     " operations)"));
  }
}

std::optional<std::string> Replica::RetiredElsewhere(const codec::Heartbeat& hb,
                                                     absl::Time now) const {
  for (const auto& [origin, seq] : hb.retired) {
    // Retired here too, at a lower seq: the peer applied (and collected)
    // operations of it this replica never will.
    if (std::optional<uint64_t> here = store_->RetiredSeq(origin)) {
      if (*here >= seq) continue;
      return absl::StrCat("peer ", Hex(hb.node), " retired origin ", Hex(origin),
                          " at seq ", seq, ", this replica at seq ", *here);
    }
    // Holding more of it: the peer is wrong (it un-retires it on hearing this
    // replica's vector). Holding less of a live origin: catch-up from the
    // origin repairs it.
    auto mark = store_->vv().find(origin);
    if (mark == store_->vv().end() || mark->second >= seq || !peers_->Gone(origin, now)) {
      continue;
    }
    return absl::StrCat("peer ", Hex(hb.node), " retired origin ", Hex(origin),
                        " at seq ", seq, ", this replica lacks ", seq - mark->second,
                        " of its operations");
  }
  return std::nullopt;
}

void Replica::ReconcileRetired(store::VersionVector* v, bool keep_above,
                               bool may_unretire) {
  for (auto it = v->begin(); it != v->end();) {
    const store::NodeId origin = it->first;
    if (!store_->IsRetired(origin)) {
      ++it;
      continue;
    }
    const uint64_t retired_at = *store_->RetiredSeq(origin);
    if (it->second > retired_at && may_unretire) {
      // A peer holds operations of it above the seq it was retired at: it was
      // not gone (this replica was cut off, or it was paused for long).
      (void)store_->Unretire(origin);
      ++counters_.origins_unretired;
      Log(absl::StrCat("origin ", Hex(origin), " retired at seq ", retired_at,
                       " is not gone: a peer has seq ", it->second, " of it"));
      if (keep_above) {
        ++it;
        continue;
      }
    }
    it = v->erase(it);
  }
}

void Replica::DropClosedSubscriptions() {
  std::vector<std::unique_ptr<Subscription>> closed;
  {
    absl::MutexLock lock(&mu_);
    closed.swap(closed_subs_);
  }
  // Outside the lock: each waits for its callback in progress.
}

void Replica::Reset(absl::string_view why) {
  const size_t keys = store_->stats().keys;
  Log(absl::StrCat("stale: ", why, "; discarding ", keys,
                   " keys and rejoining under a new node id"));
  if (sync_) EndSync("stale");
  const absl::Time now = clock_->Now();
  (void)bus_->Publish(Subject("hb"), "",
                      codec::EncodeHeartbeat(MakeHeartbeat(now, true)));
  NodeId fresh = options_.new_node_id ? options_.new_node_id() : NewNodeId();
  if (fresh == 0) fresh = NewNodeId();
  node_.store(fresh, std::memory_order_release);
  ++generation_;
  store_ = std::make_unique<store::Store>(fresh, clock_, options_.limits);
  counters_.heartbeats_ignored += peers_->ignored();
  peers_ = std::make_unique<PeerTable>(
      fresh, PeerTableOptions{options_.heartbeat, options_.divergence_grace,
                              options_.forget_after, 2 * options_.sync_timeout});
  ownership_ = std::make_unique<Ownership>(fresh, OwnershipFor(options_), now);
  ready_.store(false, std::memory_order_release);
  if (any_sub_) closed_subs_.push_back(std::move(any_sub_));
  if (absl::Status s = SubscribeSync(); !s.ok()) {
    Log(absl::StrCat("cannot subscribe to sync.", Hex(fresh), ": ", s.message()));
  }
  join_attempts_ = 0;
  gaps_.clear();
  vouched_.clear();
  // A new replica: it joins as a fresh one would (a copy, not a merge).
  ever_ready_ = false;
  provisional_ = false;
  restored_ = false;
  next_join_ = absl::InfinitePast();
  next_heartbeat_ = absl::InfinitePast();
  last_gc_ = now;
  ++counters_.stale_resets;
  counters_.node = Hex(fresh);
  Log("new node id after a stale reset");
}

ReplicaStats Replica::stats() const {
  absl::MutexLock lock(&mu_);
  ReplicaStats s = counters_;
  s.ready = ready();
  const store::StoreStats st = store_->stats();
  s.keys = st.keys;
  s.tombstones = st.tombstones;
  s.memory_bytes = st.memory_bytes;
  s.max_memory_bytes = st.max_memory_bytes;
  s.evicted = st.evicted;
  s.expired = st.expired;
  s.retired_origins = st.retired_origins;
  s.vv = store_->vv();
  s.digest = store_->digest();
  const absl::Time now = clock_->Now();
  s.peers = peers_->LivePeers(now);
  s.lag = peers_->Lag(s.vv, now);
  s.heartbeats_ignored += peers_->ignored();
  return s;
}

}  // namespace kv::replication
