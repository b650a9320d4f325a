// The parts of Replica that decide whom tombstone collection waits for and what a
// stale replica does (docs/replication.md, "Tombstone collection"): heartbeats'
// membership fields, garbage collection, goodbyes and stale resets.
#include <memory>
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
  hb.goodbye = goodbye;
  return hb;
}

void Replica::CollectGarbage(absl::Time now) {
  GcBounds bounds = peers_->Collect(store_->vv(), now);
  for (NodeId node : bounds.forgotten) Log(absl::StrCat("forgetting peer ", Hex(node)));
  // A replica waited for was never heard (a joiner's peers listed it): wait.
  if (!bounds.complete) return;
  counters_.tombstones_collected +=
      store_->CollectGarbage(bounds.stable, bounds.hlc_floor);
}

void Replica::DropRetired() {
  std::vector<std::unique_ptr<Subscription>> retired;
  {
    absl::MutexLock lock(&mu_);
    retired.swap(retired_);
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
  ready_.store(false, std::memory_order_release);
  if (any_sub_) retired_.push_back(std::move(any_sub_));
  if (absl::Status s = SubscribeSync(); !s.ok()) {
    Log(absl::StrCat("cannot subscribe to sync.", Hex(fresh), ": ", s.message()));
  }
  join_attempts_ = 0;
  gaps_.clear();
  // A new replica: it joins as a fresh one would (a copy, not a merge).
  ever_ready_ = false;
  provisional_ = false;
  next_join_ = absl::InfinitePast();
  next_heartbeat_ = absl::InfinitePast();
  last_gc_ = now;
  ++counters_.stale_resets;
  counters_.node = Hex(fresh);
  Log("new node id after a stale reset");
}

}  // namespace kv::replication
