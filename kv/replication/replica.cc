#include "kv/replication/replica.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kv/store/hlc.h"

namespace kv::replication {
namespace {

using store::NodeId;
using store::VersionVector;

std::string Hex(NodeId node) { return absl::StrFormat("%016x", node); }

// A node id as Hex writes it: exactly 16 hex digits.
bool IsNodeId(absl::string_view data) {
  return data.size() == 16 && std::all_of(data.begin(), data.end(), [](char c) {
           return absl::ascii_isxdigit(static_cast<unsigned char>(c));
         });
}

}  // namespace

NodeId NewNodeId() {
  absl::BitGen gen;
  NodeId id = 0;
  while (id == 0) id = absl::Uniform<uint64_t>(gen);
  return id;
}

Replica::Replica(Bus* bus, store::Clock* clock, ReplicaOptions options)
    : bus_(bus),
      clock_(clock),
      options_(std::move(options)),
      node_(options_.node != 0 ? options_.node : NewNodeId()),
      store_(std::make_unique<store::Store>(node(), clock, options_.limits)),
      peers_(std::make_unique<PeerTable>(
          node(), PeerTableOptions{options_.heartbeat, options_.divergence_grace,
                                   options_.forget_after, 2 * options_.sync_timeout})),
      ownership_(
          std::make_unique<Ownership>(node(), OwnershipFor(options_), clock->Now())),
      joiner_(JoinerOptions{options_.heartbeat, options_.first_replica_silence,
                            2 * options_.sync_timeout + options_.join_timeout},
              clock->Now()),
      serving_(options_.serve, clock->Now()) {
  counters_.link = options_.link;
  counters_.node = Hex(node());
  last_gc_ = clock_->Now();
  if (options_.restore) Restore();
}

absl::StatusOr<std::unique_ptr<Replica>> Replica::Start(Bus* bus, store::Clock* clock,
                                                        ReplicaOptions options) {
  std::unique_ptr<Replica> r(new Replica(bus, clock, std::move(options)));
  if (!r->options_.enabled) {
    r->ready_ = true;
    return r;
  }
  if (r->options_.first_replica_silence < 2 * r->options_.heartbeat) {
    return absl::InvalidArgumentError(
        absl::StrCat("first_replica_silence (",
                     absl::FormatDuration(r->options_.first_replica_silence),
                     ") must be at least two heartbeats (",
                     absl::FormatDuration(2 * r->options_.heartbeat), ")"));
  }
  if (absl::Status s = r->Subscribe(); !s.ok()) return s;
  return r;
}

Replica::~Replica() { Stop(); }

std::string Replica::Subject(absl::string_view suffix) const {
  return absl::StrCat("_kv.", options_.link, ".", suffix);
}

void Replica::Log(absl::string_view line) const {
  if (options_.log) {
    options_.log(absl::StrCat("link ", options_.link, " node ", Hex(node()), ": ", line));
  }
}

absl::Status Replica::Subscribe() {
  inbox_ = bus_->NewInbox();
  struct Sub {
    std::string subject;
    void (Replica::*handle)(const Message&);
    std::unique_ptr<Subscription>* sub;
  };
  Sub subs[] = {
      {Subject("events"), &Replica::HandleEvents, &events_sub_},
      {Subject("hb"), &Replica::HandleHeartbeat, &hb_sub_},
      {absl::StrCat(inbox_, ".>"), &Replica::HandleInbox, &inbox_sub_},
  };
  for (Sub& s : subs) {
    auto sub = bus_->Subscribe(s.subject, "",
                               [this, h = s.handle](const Message& m) { (this->*h)(m); });
    if (!sub.ok()) return sub.status();
    *s.sub = *std::move(sub);
  }
  absl::MutexLock lock(&mu_);
  return SubscribeSync();
}

absl::Status Replica::SubscribeSync() {
  auto sub = bus_->Subscribe(Subject(absl::StrCat("sync.", Hex(node()))), "",
                             [this](const Message& m) { HandleSyncRequest(m); });
  if (!sub.ok()) return sub.status();
  if (sync_sub_) closed_subs_.push_back(std::move(sync_sub_));
  sync_sub_ = *std::move(sub);
  return absl::OkStatus();
}

void Replica::Stop() {
  std::vector<std::unique_ptr<Subscription>> subs;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    if (sync_) EndSync("stopping");
    if (options_.enabled && ready()) {
      // Nobody waits for this node id any more before collecting.
      (void)bus_->Publish(Subject("hb"), "",
                          codec::EncodeHeartbeat(MakeHeartbeat(clock_->Now(), true)));
    }
    subs = std::move(closed_subs_);
    subs.push_back(std::move(any_sub_));
    subs.push_back(std::move(sync_sub_));
  }
  // Outside the lock: each waits for its callback in progress, which may wait
  // for the lock.
  subs.clear();
  events_sub_.reset();
  hb_sub_.reset();
  inbox_sub_.reset();
}

// ---- Publishing.

void Replica::PublishHeartbeat(absl::Time now) {
  const codec::Heartbeat hb = MakeHeartbeat(now, false);
  peers_->RecordSelf(hb.vv, hb.hlc, now);
  const std::string bytes = codec::EncodeHeartbeat(hb);
  if (absl::Status s = bus_->Publish(Subject("hb"), "", bytes); !s.ok()) {
    ++counters_.publish_errors;
    Log(absl::StrCat("cannot publish heartbeat (", bytes.size(),
                     " bytes): ", s.message()));
  }
}

// ---- Receiving.

void Replica::HandleEvents(const Message& msg) {
  auto events = codec::DecodeEvents(msg.data);
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  if (options_.drop_events > 0 && absl::Bernoulli(drop_gen_, options_.drop_events)) {
    return;
  }
  if (!events.ok()) {
    ++counters_.bad_messages;
    return;
  }
  for (const store::Event& e : *events) {
    if (e.dot.node == node()) continue;  // our own, echoed back
    // The vector stays within what any message may carry (heartbeats, chunks),
    // with room for this replica's own origin.
    const VersionVector& vv = store_->vv();
    if (vv.count(e.dot.node) == 0 && !store_->IsRetired(e.dot.node) &&
        vv.size() - vv.count(node()) + 1 >= codec::kMaxVectorOrigins) {
      ++counters_.events_refused;
      continue;
    }
    auto applied = store_->Apply(e);
    if (!applied.ok()) {
      ++counters_.bad_messages;
      continue;
    }
    if (applied->duplicate) {
      ++counters_.events_duplicate;
      continue;
    }
    ++counters_.events_in;
    const int64_t origin_ms = store::HlcMillis(store::EventHlc(e));
    const absl::Time now = clock_->Now();
    peers_->Prove(e.dot.node, now);  // its heartbeats count from now on
    const int64_t now_ms = absl::ToUnixMillis(now);
    counters_.apply_lag.Add(now_ms > origin_ms ? now_ms - origin_ms : 0);
    if (applied->gap && ready()) {  // before ready, the join catch-up covers it
      // Possibly only reordered: TickGaps decides after the grace.
      auto [gap, inserted] = gaps_.try_emplace(e.dot.node, OpenGap{e.dot.seq, now});
      if (!inserted) gap->second.seq = std::max(gap->second.seq, e.dot.seq);
    }
  }
  WithdrawLost();
  // Peers evict for their own writes; a node far over its limit (a peer with
  // another limit, evictions in flight) evicts too.
  if (ready() && store_->OverMemoryLimit(store_->limits().max_memory_bytes / 8)) {
    EvictOverLimit(OutputOf(nullptr), 0);
  }
}

void Replica::HandleHeartbeat(const Message& msg) {
  auto hb = codec::DecodeHeartbeat(msg.data);
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  if (!hb.ok()) {
    ++counters_.bad_messages;
    return;
  }
  if (hb->node == node() || hb->node == 0) return;
  const absl::Time now = clock_->Now();
  // Its HLC mark bounds garbage collection (the HLC floor): a forged one far
  // ahead would let tombstones go too early. Refused as the store refuses
  // operations stamped beyond the skew.
  if (hb->hlc >
      store::HlcCeiling(absl::ToUnixMillis(now),
                        absl::ToInt64Milliseconds(options_.limits.max_clock_skew))) {
    ++counters_.bad_messages;
    return;
  }
  // Origins retired here are no longer compared (the peer may not have retired
  // them yet); only a proven replica's vector can show one was not gone.
  const bool proven = peers_->Proven(hb->node, now);
  ReconcileRetired(&hb->vv, /*keep_above=*/true, /*may_unretire=*/proven);
  ReconcileRetired(&hb->collected, /*keep_above=*/true, /*may_unretire=*/proven);
  if (peers_->Record(*hb, now)) {
    Log(absl::StrCat("peer ", Hex(hb->node), " seen (", hb->keys, " keys)"));
  }
  if (hb->goodbye) {
    Log(absl::StrCat("peer ", Hex(hb->node), " said goodbye"));
    ownership_->Forget(hb->node);
    if (ready()) RefreshView(now);
    return;
  }
  if (!ready()) {
    // Only a proven replica's heartbeat may discard a restored snapshot.
    if (auto why = restored_ && proven ? SnapshotStale(hb->collected, hb->retired)
                                       : std::nullopt) {
      DiscardSnapshot(absl::StrCat("peer ", Hex(hb->node), " ", *why));
    }
    HeardWhileJoining(hb->node, now);
    return;
  }
  if (!peers_->Proven(hb->node, now)) {
    HeardUnproven(*hb, now);  // its heartbeats do not count yet
    return;
  }
  HeardView(*hb, now);
  // A provisional first replica never held the link's data, so nothing it holds
  // can be a collected record: it merges with the peer (Demote) instead. One
  // restored from a snapshot did hold it.
  const bool held = !provisional_ || restored_;
  if (held && peers_->StaleAgainst(*hb, store_->vv(), store_->collected())) {
    Reset(absl::StrCat("peer ", Hex(hb->node), " collected records never applied here"));
    return;
  }
  if (std::optional<std::string> why = RetiredElsewhere(*hb, now); why && held) {
    Reset(*why);
    return;
  }
  switch (peers_->Decide(hb->node, store_->vv(), store_->collected(), store_->digest(),
                         now)) {
    case CatchUp::kNone:
      // A peer that holds nothing this replica lacks: it is one replica of the
      // link among others, no longer a provisional first.
      provisional_ = false;
      break;
    case CatchUp::kMissing:
      if (provisional_) {
        Demote(hb->node, Missing(store_->vv(), hb->vv), now);
      } else {
        StartSync(hb->node, false);
      }
      break;
    case CatchUp::kFull:
      Log(absl::StrCat("state differs from peer ", Hex(hb->node),
                       " with equal vectors; full catch-up"));
      StartSync(hb->node, true);
      break;
  }
}

void Replica::HandleInbox(const Message& msg) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || !sync_ || msg.subject != sync_->inbox) return;  // a stale catch-up
  // Everything answering the request comes here: "no responders" from the
  // server, a join's acknowledgement (the peer's node id in 16 hex digits),
  // and the chunks (a chunk never looks like a node id: it starts with magic).
  if (msg.no_responders) {
    if (sync_->join) {
      HandleJoinAnswer(msg);
    } else {
      EndSync("the peer is gone (no responders)");
    }
  } else if (IsNodeId(msg.data)) {
    if (sync_->join) HandleJoinAnswer(msg);
  } else {
    HandleChunk(msg.data);
  }
}

void Replica::HandleChunk(absl::string_view data) {
  auto chunk = codec::DecodeDeltaChunk(data);
  if (!chunk.ok()) {
    ++counters_.bad_messages;
    EndSync("undecodable chunk");
    return;
  }
  if (sync_->peer == 0) sync_->peer = chunk->from;
  if (sync_->probe && sync_->demote > 0 && provisional_ && ready()) {
    // A real peer with operations this provisional first replica lacks.
    Demote(sync_->peer, sync_->demote, clock_->Now());
  }
  ReconcileRetired(&chunk->collected, /*keep_above=*/true, /*may_unretire=*/true);
  if (ready() && !CoversAll(store_->vv(), chunk->collected)) {
    Reset(absl::StrCat("peer ", Hex(chunk->from),
                       " collected records never applied here (catch-up)"));
    return;
  }
  // A restored replica's state may be stale (retired origins: a join's last chunk).
  const VersionVector retired = chunk->last ? chunk->retired : VersionVector();
  if (auto why = restored_ ? SnapshotStale(chunk->collected, retired) : std::nullopt) {
    DiscardSnapshot(absl::StrCat("peer ", Hex(chunk->from), " ", *why));
    return;
  }
  sync_->acknowledged = true;  // a peer took the join request
  if (!ready()) joiner_.Answered(clock_->Now());
  if (sync_->join && !ever_ready_ && !restored_ && !sync_->copying) {
    // What this joiner holds so far (events, chunks of failed attempts) may hold
    // records the peer collected, without what removed them: start a new store
    // from the peer's watermark (the events it drops come back by catch-up). A
    // replica that was ready before (provisional, back at 503) merges instead:
    // it keeps the writes it took.
    sync_->copying = true;
    store_ = std::make_unique<store::Store>(node(), clock_, options_.limits);
    (void)store_->AdoptCollected(chunk->collected);
  }
  sync_->deadline = clock_->Now() + options_.sync_timeout;  // still making progress
  const ChunkAssembler::Outcome outcome = sync_->chunks.Take(*chunk);
  store::Delta entries_only;
  entries_only.entries = std::move(chunk->delta.entries);
  absl::Status s =
      sync_->copying ? store_->MergeCopy(entries_only) : store_->MergeDelta(entries_only);
  if (!s.ok()) {
    ++counters_.bad_messages;
    EndSync(absl::StrCat("invalid chunk: ", s.message()));
    return;
  }
  if (outcome == ChunkAssembler::Outcome::kMore) return;
  if (outcome == ChunkAssembler::Outcome::kLost) {
    EndSync(absl::StrCat("lost ", sync_->chunks.lost(), " chunks"));
    return;
  }
  store::Delta vector_only;
  vector_only.vv = std::move(chunk->delta.vv);
  // The entries of an origin retired during the catch-up were skipped: its seq
  // is not taken, even if it turned out not gone (heartbeats then lead to what
  // it lacks).
  ReconcileRetired(&vector_only.vv, /*keep_above=*/false, /*may_unretire=*/true);
  for (const auto& [origin, seq] : sync_->retired) vector_only.vv.erase(origin);
  (void)store_->MergeDelta(vector_only);
  // Whatever the peer collected, this replica now holds what remains of it.
  (void)store_->AdoptCollected(chunk->collected);
  for (auto& r : chunk->requests) store_->requests().Record(std::move(r), clock_->Now());
  WithdrawLost();
  // A copy holds the dots of the origins the peer retired.
  if (sync_->copying) (void)store_->AdoptRetired(chunk->retired);
  if (restored_) SnapshotMerged(sync_->peer, sync_->join ? retired : VersionVector());
  const absl::Time now = clock_->Now();
  peers_->Prove(sync_->peer, now);  // it answered: a real replica
  peers_->AddListed(chunk->members, now);
  ++counters_.catchups;
  const std::string peer = Hex(sync_->peer);
  const uint32_t parts = sync_->chunks.parts();
  EndSync("done");
  if (provisional_) {
    Log(absl::StrCat("merged with peer ", peer, "; no longer provisional"));
  }
  provisional_ = false;
  if (!ready()) {
    // A copy of a stale peer: another peer collected what it lacks.
    if (NodeId other = peers_->StalePeer(store_->vv(), store_->collected(), now)) {
      Reset(absl::StrCat("joined from ", peer, ", but peer ", Hex(other),
                         " collected records never applied there"));
      return;
    }
    SetReady(absl::StrCat(ever_ready_ ? "ready again" : "ready", ": caught up with ",
                          peer, " (", store_->stats().keys, " keys, ", parts,
                          " chunks)"));
  } else {
    Log(absl::StrCat("caught up with ", peer, " (", parts, " chunks)"));
  }
}

// ---- Catch-ups.

bool Replica::BeginSync(NodeId peer) {
  if (sync_ || stopping_) return false;
  sync_.emplace();
  sync_->peer = peer;
  sync_->inbox = absl::StrCat(inbox_, ".", ++syncs_started_);
  sync_->deadline = clock_->Now() + options_.sync_timeout;
  sync_->retired = store_->Retired();
  return true;
}

void Replica::StartSync(NodeId peer, bool full) {
  // A probe of an unproven node gives way to a catch-up that is needed.
  if (sync_ && sync_->probe && !sync_->join) sync_.reset();
  if (!BeginSync(peer)) return;
  codec::SyncRequest request{node(), false, full ? VersionVector() : store_->vv()};
  // The chunks come to the reply subject (and "no responders" when the peer
  // is gone). The subject is built from a node id's hex digits only: a valid
  // subject whatever the id.
  (void)bus_->Publish(Subject(absl::StrCat("sync.", Hex(peer))), sync_->inbox,
                      codec::EncodeSyncRequest(request));
}

void Replica::EndSync(absl::string_view why) {
  if (!sync_) return;
  if (why != "done" && sync_->join && !stopping_) {
    JoinFailed(why, clock_->Now());
  } else if (why != "done") {
    Log(absl::StrCat("catch-up from ", Hex(sync_->peer), " ended: ", why));
  }
  // A failed join attempt is retried a join_timeout later.
  if (sync_->join) next_join_ = clock_->Now() + options_.join_timeout;
  sync_.reset();
}

void Replica::SetReady(absl::string_view line) {
  ready_.store(true, std::memory_order_release);
  ever_ready_ = true;
  Log(line);
  // Serve joiners from now on (kept while demoted), and tell the peers at once.
  const std::string subject = Subject("sync.any");
  if (any_sub_ == nullptr) {
    auto sub = bus_->Subscribe(subject, "sync",
                               [this](const Message& m) { HandleSyncRequest(m); });
    if (sub.ok()) {
      any_sub_ = *std::move(sub);
    } else {
      Log(absl::StrCat("cannot subscribe to ", subject));
    }
  }
  const absl::Time now = clock_->Now();
  PublishHeartbeat(now);
  next_heartbeat_ = now + options_.heartbeat;
}

// ---- Timed work.

absl::Time Replica::Tick() {
  DropClosedSubscriptions();
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::InfiniteFuture();
  const absl::Time now = clock_->Now();
  if (!options_.enabled) return CollectAlone(now);
  for (const auto& [peer, silent] : peers_->TakeLost(now)) {
    Log(absl::StrCat("peer ", Hex(peer), " lost (not heard for ",
                     absl::FormatDuration(absl::Trunc(silent, absl::Milliseconds(1))),
                     ")"));
  }
  if (!ready()) return TickJoin(now);
  WithdrawLost();  // those queued while not ready (a demotion's catch-up)
  if (sync_ && now > sync_->deadline) EndSync("timed out");
  RefreshView(now);
  if (now >= next_heartbeat_) {
    PublishHeartbeat(now);
    next_heartbeat_ = now + options_.heartbeat;
  }
  if (now - last_gc_ >= options_.gc_interval) {
    CollectGarbage(now);
    last_gc_ = now;
  }
  absl::Time next = std::min(next_heartbeat_, last_gc_ + options_.gc_interval);
  next = std::min(next, TickGaps(now));
  if (sync_) next = std::min(next, sync_->deadline + absl::Nanoseconds(1));
  return next;
}

}  // namespace kv::replication
