#include "kv/replication/replica.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kv/store/hlc.h"

namespace kv::replication {
namespace {

using store::NodeId;
using store::VersionVector;

// Keys examined per page of a catch-up (under the replica lock).
constexpr size_t kSyncPageKeys = 4096;

std::string Hex(NodeId node) { return absl::StrFormat("%016x", node); }

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
      node_hex_(Hex(node_)),
      store_(std::make_unique<store::Store>(node_, clock, options_.limits)),
      peers_(node_, PeerTableOptions{options_.heartbeat, options_.divergence_grace,
                                     options_.forget_after}) {
  counters_.link = options_.link;
  counters_.node = node_hex_;
  last_gc_ = clock_->Now();
}

absl::StatusOr<std::unique_ptr<Replica>> Replica::Start(Bus* bus, store::Clock* clock,
                                                        ReplicaOptions options) {
  std::unique_ptr<Replica> r(new Replica(bus, clock, std::move(options)));
  if (!r->options_.enabled) {
    r->ready_ = true;
    return r;
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
    options_.log(absl::StrCat("link ", options_.link, " node ", node_hex_, ": ", line));
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
      {Subject(absl::StrCat("sync.", node_hex_)), &Replica::HandleSyncRequest,
       &sync_sub_},
      {absl::StrCat(inbox_, ".>"), &Replica::HandleInbox, &inbox_sub_},
  };
  for (Sub& s : subs) {
    auto sub = bus_->Subscribe(s.subject, "",
                               [this, h = s.handle](const Message& m) { (this->*h)(m); });
    if (!sub.ok()) return sub.status();
    *s.sub = *std::move(sub);
  }
  return absl::OkStatus();
}

void Replica::Stop() {
  std::unique_ptr<Subscription> any;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    if (sync_) EndSync("stopping");
    any = std::move(any_sub_);
  }
  // Outside the lock: each waits for its callback in progress, which may wait
  // for the lock.
  any.reset();
  events_sub_.reset();
  hb_sub_.reset();
  sync_sub_.reset();
  inbox_sub_.reset();
}

// ---- Publishing.

void Replica::PublishEvent(const store::Event& event, const EventPublisher& publish) {
  if (!options_.enabled) return;
  const std::string bytes = codec::EncodeEvents({event});
  const std::string subject = Subject("events");
  absl::Status s = publish ? publish(subject, bytes) : bus_->Publish(subject, "", bytes);
  if (s.ok()) {
    ++counters_.events_out;
  } else {
    // The peers will see the gap (heartbeat vectors) and catch up.
    Log(absl::StrCat("cannot publish event ", event.dot.seq, ": ", s.message()));
  }
}

void Replica::PublishHeartbeat(absl::Time now) {
  codec::Heartbeat hb;
  hb.node = node_;
  hb.vv = store_->vv();
  hb.digest = store_->digest();
  hb.keys = store_->stats().keys;
  hb.hlc = store_->NextHlcFloor();
  peers_.RecordSelf(hb.vv, hb.hlc, now);
  (void)bus_->Publish(Subject("hb"), "", codec::EncodeHeartbeat(hb));
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
    if (e.dot.node == node_) continue;  // our own, echoed back
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
    const int64_t now_ms = absl::ToUnixMillis(now);
    counters_.apply_lag.Add(now_ms > origin_ms ? now_ms - origin_ms : 0);
    if (applied->gap && ready()) {  // before ready, the join catch-up covers it
      // Possibly only reordered: TickGaps decides after the grace.
      auto [gap, inserted] = gaps_.try_emplace(e.dot.node, OpenGap{e.dot.seq, now});
      if (!inserted) gap->second.seq = std::max(gap->second.seq, e.dot.seq);
    }
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
  if (hb->node == node_ || hb->node == 0) return;
  const absl::Time now = clock_->Now();
  if (peers_.Record(*hb, now)) {
    Log(absl::StrCat("peer ", Hex(hb->node), " seen (", hb->keys, " keys)"));
  }
  if (!ready()) return;
  switch (peers_.Decide(hb->node, store_->vv(), store_->digest(), now)) {
    case CatchUp::kNone:
      break;
    case CatchUp::kMissing:
      StartSync(hb->node, false);
      break;
    case CatchUp::kFull:
      Log(absl::StrCat("state differs from peer ", Hex(hb->node),
                       " with equal vectors; full catch-up"));
      StartSync(hb->node, true);
      break;
  }
}

void Replica::HandleSyncRequest(const Message& msg) {
  auto request = codec::DecodeSyncRequest(msg.data);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    if (!request.ok() || request->reply_to.empty()) {
      ++counters_.bad_messages;
      return;
    }
  }
  if (!ready()) return;  // let the requester time out and ask someone else
  // A join request (sync.any) is acknowledged with our node id, so the joiner
  // knows whom it is syncing with.
  if (!msg.reply.empty()) (void)bus_->Publish(msg.reply, "", node_hex_);
  ServeSync(*request);
}

void Replica::ServeSync(const codec::SyncRequest& request) {
  // The store is read in pages, letting requests in between: a large catch-up
  // does not stall the service. The vector is the one before the first page.
  VersionVector vv;
  {
    absl::MutexLock lock(&mu_);
    vv = store_->vv();
    ++counters_.catchups_served;
  }
  ChunkWriter writer(node_, ChunkBudget(options_.max_chunk_bytes, bus_->MaxPayload()),
                     [&](const codec::DeltaChunk& chunk) {
                       (void)bus_->Publish(request.reply_to, "",
                                           codec::EncodeDeltaChunk(chunk));
                     });
  std::string after;
  do {
    std::vector<store::KeyState> page;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      page = store_->DeltaPage(request.vv, after, kSyncPageKeys, &after);
    }
    for (store::KeyState& ks : page) writer.Add(std::move(ks));
  } while (!after.empty());
  writer.Finish(std::move(vv));
  Log(absl::StrCat("served catch-up to ", Hex(request.from), ": ", writer.keys(),
                   " keys in ", writer.chunks(), " chunks"));
}

void Replica::HandleInbox(const Message& msg) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || !sync_) return;  // a stale catch-up
  if (msg.subject == sync_->inbox) {
    HandleChunk(msg.data);
  } else if (sync_->join && absl::StartsWith(msg.subject, sync_->inbox) &&
             msg.subject.substr(sync_->inbox.size()) == ".join") {
    HandleJoinAnswer(msg);
  }
}

void Replica::HandleJoinAnswer(const Message& msg) {
  if (msg.no_responders) {
    EndSync("done");
    SetReady("ready: no peer answers, first replica of the link");
    return;
  }
  NodeId peer = 0;
  if (sync_->peer == 0 && absl::SimpleHexAtoi(msg.data, &peer)) sync_->peer = peer;
  sync_->acknowledged = true;
}

void Replica::HandleChunk(absl::string_view data) {
  auto chunk = codec::DecodeDeltaChunk(data);
  if (!chunk.ok()) {
    ++counters_.bad_messages;
    EndSync("undecodable chunk");
    return;
  }
  if (sync_->peer == 0) sync_->peer = chunk->from;
  sync_->acknowledged = true;  // a peer took the join request
  sync_->deadline = clock_->Now() + options_.sync_timeout;  // still making progress
  const ChunkAssembler::Outcome outcome = sync_->chunks.Take(*chunk);
  store::Delta entries_only;
  entries_only.entries = std::move(chunk->delta.entries);
  if (absl::Status s = store_->MergeDelta(entries_only); !s.ok()) {
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
  (void)store_->MergeDelta(vector_only);
  ++counters_.catchups;
  const std::string peer = Hex(sync_->peer);
  const uint32_t parts = sync_->chunks.parts();
  EndSync("done");
  if (!ready()) {
    SetReady(absl::StrCat("ready: caught up with ", peer, " (", store_->stats().keys,
                          " keys, ", parts, " chunks)"));
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
  return true;
}

void Replica::StartSync(NodeId peer, bool full) {
  if (!BeginSync(peer)) return;
  codec::SyncRequest request{node_, sync_->inbox, full ? VersionVector() : store_->vv()};
  (void)bus_->Publish(Subject(absl::StrCat("sync.", Hex(peer))), "",
                      codec::EncodeSyncRequest(request));
}

void Replica::EndSync(absl::string_view why) {
  if (!sync_) return;
  if (why != "done") {
    Log(absl::StrCat("catch-up from ", Hex(sync_->peer), " ended: ", why));
  }
  // A failed join attempt is retried a join_timeout later.
  if (sync_->join) next_join_ = clock_->Now() + options_.join_timeout;
  sync_.reset();
}

void Replica::SetReady(absl::string_view line) {
  ready_.store(true, std::memory_order_release);
  Log(line);
  // Serve joiners from now on, and tell the peers at once.
  const std::string subject = Subject("sync.any");
  auto sub = bus_->Subscribe(subject, "sync",
                             [this](const Message& m) { HandleSyncRequest(m); });
  if (sub.ok()) {
    any_sub_ = *std::move(sub);
  } else {
    Log(absl::StrCat("cannot subscribe to ", subject));
  }
  const absl::Time now = clock_->Now();
  PublishHeartbeat(now);
  next_heartbeat_ = now + options_.heartbeat;
}

// ---- Timed work.

absl::Time Replica::Tick() {
  absl::MutexLock lock(&mu_);
  if (stopping_ || !options_.enabled) return absl::InfiniteFuture();
  const absl::Time now = clock_->Now();
  if (!ready()) return TickJoin(now);
  if (sync_ && now > sync_->deadline) EndSync("timed out");
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

absl::Time Replica::TickGaps(absl::Time now) {
  absl::Time next = absl::InfiniteFuture();
  for (auto it = gaps_.begin(); it != gaps_.end();) {
    const auto& [origin, gap] = *it;
    if (store::Covers(store_->vv(), store::Dot{origin, gap.seq})) {
      it = gaps_.erase(it);  // the missing events came: only reordered
      continue;
    }
    const absl::Time due = gap.since + options_.gap_grace;
    if (now < due || sync_) {  // a catch-up runs: look again after it
      next = std::min(next, std::max(due, now + options_.gap_grace));
      ++it;
      continue;
    }
    // Lost. The origin certainly has what we lack; if it is gone, the
    // heartbeats of the others will lead to another peer.
    ++counters_.gaps;
    StartSync(origin, false);
    it = gaps_.erase(it);
  }
  return next;
}

absl::Time Replica::TickJoin(absl::Time now) {
  if (sync_) {
    // Not ready until caught up: answering from a partial copy would serve stale
    // reads, and deletes would miss what this node has not seen.
    const char* failed = nullptr;
    if (!sync_->acknowledged && now >= sync_->ack_deadline) {
      failed = "Timeout";
    } else if (sync_->acknowledged && now > sync_->deadline) {
      failed = "catch-up incomplete";
    }
    if (failed == nullptr) {
      return sync_->acknowledged ? sync_->deadline + absl::Nanoseconds(1)
                                 : sync_->ack_deadline;
    }
    EndSync(absl::StrCat("join attempt ", join_attempts_, " failed (", failed,
                         "); retrying"));
  }
  if (now < next_join_) return next_join_;
  ++join_attempts_;
  // Peer 0: whoever answers. (No other catch-up runs before ready.)
  BeginSync(0);
  sync_->join = true;
  sync_->ack_deadline = now + options_.join_timeout;
  const codec::SyncRequest request{node_, sync_->inbox, VersionVector()};
  absl::Status s = bus_->Publish(Subject("sync.any"), absl::StrCat(sync_->inbox, ".join"),
                                 codec::EncodeSyncRequest(request));
  if (!s.ok()) {
    EndSync(absl::StrCat("join attempt ", join_attempts_, " failed (", s.message(),
                         "); retrying"));
    return next_join_;
  }
  return sync_->ack_deadline;
}

void Replica::CollectGarbage(absl::Time now) {
  GcBounds bounds = peers_.Collect(store_->vv(), now);
  for (NodeId node : bounds.forgotten) Log(absl::StrCat("forgetting peer ", Hex(node)));
  counters_.tombstones_collected +=
      store_->CollectGarbage(bounds.stable, bounds.hlc_floor);
}

bool Replica::AwaitEventsReceived(absl::Duration timeout) const {
  if (!options_.enabled || events_sub_ == nullptr) return true;
  return events_sub_->AwaitReceived(timeout);
}

bool Replica::Covered(CoverWait* w) {
  for (const auto& [node, seq] : *w->position) {
    if (seq != 0 && !store::Covers(w->replica->store_->vv(), store::Dot{node, seq}))
      return false;
  }
  return true;
}

bool Replica::AwaitApplied(const VersionVector& position, absl::Duration timeout) const {
  CoverWait wait{this, &position};
  absl::MutexLock lock(&mu_);
  // An origin this replica never heard of (no operation, no heartbeat) will not
  // be applied within the wait: fail at once rather than hold the caller.
  for (const auto& [node, seq] : position) {
    if (node != node_ && store_->vv().count(node) == 0 && !peers_.Knows(node)) {
      return false;
    }
  }
  return mu_.AwaitWithTimeout(absl::Condition(&Replica::Covered, &wait), timeout);
}

ReplicaStats Replica::stats() const {
  absl::MutexLock lock(&mu_);
  ReplicaStats s = counters_;
  s.ready = ready();
  const store::StoreStats st = store_->stats();
  s.keys = st.keys;
  s.memory_bytes = st.memory_bytes;
  s.vv = store_->vv();
  s.digest = store_->digest();
  const absl::Time now = clock_->Now();
  s.peers = peers_.LivePeers(now);
  s.lag = peers_.Lag(s.vv, now);
  return s;
}

}  // namespace kv::replication
