// Replica: a warm restart from a snapshot (docs/replication.md, "Warm
// restarts"): when a restored state is stale, and what a restored replica
// adopts once it merged with a peer.
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kv/replication/replica.h"

namespace kv::replication {
namespace {

using store::NodeId;
using store::VersionVector;

std::string Hex(NodeId node) { return absl::StrFormat("%016x", node); }

}  // namespace

std::optional<std::string> Replica::SnapshotStale(const VersionVector& collected,
                                                  const VersionVector& retired) const {
  const VersionVector& vv = store_->vv();
  if (!CoversAll(vv, collected)) {
    return absl::StrCat("collected ", Missing(vv, collected),
                        " operations the snapshot never applied");
  }
  for (const auto& [origin, seq] : retired) {
    if (store_->RetiredSeq(origin).value_or(0) >= seq) continue;
    auto mark = vv.find(origin);
    const uint64_t held = mark == vv.end() ? 0 : mark->second;
    if (held >= seq) continue;
    return absl::StrCat("retired origin ", Hex(origin), " at seq ", seq,
                        ", the snapshot holds ", held, " of its operations");
  }
  return std::nullopt;
}

void Replica::DiscardSnapshot(absl::string_view why) {
  restored_ = false;
  if (ever_ready_) {  // it took writes under its node id: a new one
    Reset(absl::StrCat("restored state: ", why));
    return;
  }
  Log(absl::StrCat("snapshot stale: ", why, "; discarding its ", store_->stats().keys,
                   " keys and joining as a new replica"));
  // Never ready: nothing of this store left the node, and its own node id
  // wrote nothing. The running join asked above the snapshot's vector.
  store_ = std::make_unique<store::Store>(node(), clock_, options_.limits);
  sync_.reset();
  next_join_ = clock_->Now();
}

void Replica::Restore() {
  std::unique_ptr<store::Store> restored = options_.restore(node());
  if (restored == nullptr || restored->node() != node()) return;
  store_ = std::move(restored);
  restored_ = true;
  // Loading took time during which nothing was heard: the silence of the
  // first-replica rule counts from now.
  joiner_.Connected(clock_->Now());
}

void Replica::SnapshotMerged(NodeId peer, const VersionVector& retired) {
  VersionVector adoptable;
  for (const auto& [origin, seq] : retired) {
    auto mark = store_->vv().find(origin);
    if (mark != store_->vv().end() && mark->second == seq)
      adoptable.insert({origin, seq});
  }
  (void)store_->AdoptRetired(adoptable);
  restored_ = false;
  Log(absl::StrCat("merged the snapshot with peer ", Hex(peer)));
}

}  // namespace kv::replication
