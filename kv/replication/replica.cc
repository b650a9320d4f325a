#include "kv/replication/replica.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kv::replication {
namespace {

using store::NodeId;
using store::VersionVector;

// Keys examined per page of a catch-up (under the replica lock).
constexpr size_t kSyncPageKeys = 4096;

std::string Hex(NodeId node) { return absl::StrFormat("%016x", node); }

uint64_t At(const VersionVector& v, NodeId node) {
  auto it = v.find(node);
  return it == v.end() ? 0 : it->second;
}

// Operations `theirs` has that `ours` lacks (0 when `ours` covers `theirs`).
uint64_t Missing(const VersionVector& ours, const VersionVector& theirs) {
  uint64_t missing = 0;
  for (const auto& [node, seq] : theirs) {
    const uint64_t have = At(ours, node);
    if (seq > have) missing += seq - have;
  }
  return missing;
}

bool SameVector(const VersionVector& a, const VersionVector& b) {
  return Missing(a, b) == 0 && Missing(b, a) == 0;
}

// Splits a key state too large for one chunk into partial states: each keeps the
// key and the component stamps, and carries a share of the items. Merging the parts
// is the same as merging the whole (merges are joins of independent atoms).
std::vector<store::KeyState> Split(const store::KeyState& ks, size_t budget) {
  std::vector<store::KeyState> parts;
  auto fresh = [&]() -> store::KeyState& {
    store::KeyState p;
    p.key = ks.key;
    parts.push_back(std::move(p));
    return parts.back();
  };
  store::KeyState* cur = &fresh();
  size_t used = 0;
  auto room = [&](size_t n) {
    if (used > 0 && used + n > budget) {
      cur = &fresh();
      used = 0;
    }
    used += n;
  };
  if (ks.reg) {
    room(64 + ks.reg->value.size());
    cur->reg = ks.reg;
  }
  auto counter = [&]() -> store::CounterState& {
    if (!cur->counter) cur->counter = store::CounterState{ks.counter->stamp, ks.counter->stamp_seq, {}, {}};
    return *cur->counter;
  };
  if (ks.counter) {
    counter();
    for (const auto& p : ks.counter->incs) { room(56); counter().incs.push_back(p); }
    for (const auto& p : ks.counter->dels) { room(56); counter().dels.push_back(p); }
  }
  auto list = [&]() -> store::ListState& {
    if (!cur->list) cur->list = store::ListState{ks.list->stamp, ks.list->stamp_seq, {}, {}};
    return *cur->list;
  };
  if (ks.list) {
    list();
    for (const auto& r : ks.list->removed) { room(40); list().removed.push_back(r); }
    for (const auto& i : ks.list->items) { room(40 + i.value.size()); list().items.push_back(i); }
  }
  auto set = [&]() -> store::SetState& {
    if (!cur->set) cur->set = store::SetState{ks.set->stamp, ks.set->stamp_seq, {}, {}};
    return *cur->set;
  };
  if (ks.set) {
    set();
    for (const auto& r : ks.set->removed) { room(40); set().removed.push_back(r); }
    for (const auto& i : ks.set->items) { room(40 + i.value.size()); set().items.push_back(i); }
  }
  // A part may have ended up with only a key: drop such parts.
  parts.erase(std::remove_if(parts.begin(), parts.end(),
                             [](const store::KeyState& p) {
                               return !p.reg && !p.counter && !p.list && !p.set;
                             }),
              parts.end());
  return parts;
}

}  // namespace

void ReplicaStats::LagHistogram::Add(uint64_t ms) {
  ++counts[ms < static_cast<uint64_t>(kBuckets) ? ms : kBuckets - 1];
  ++total;
  max_ms = std::max(max_ms, ms);
}

uint64_t ReplicaStats::LagHistogram::Quantile(double q) const {
  if (total == 0) return 0;
  const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total - 1));
  uint64_t seen = 0;
  for (int ms = 0; ms < kBuckets; ++ms) {
    seen += counts[ms];
    if (seen > rank) return static_cast<uint64_t>(ms);
  }
  return kBuckets - 1;
}

NodeId NewNodeId() {
  absl::BitGen gen;
  NodeId id = 0;
  while (id == 0) id = absl::Uniform<uint64_t>(gen);
  return id;
}

Replica::Replica(natsConnection* nc, store::Clock* clock, ReplicaOptions options)
    : nc_(nc),
      clock_(clock),
      options_(std::move(options)),
      node_(NewNodeId()),
      node_hex_(Hex(node_)),
      store_(std::make_unique<store::Store>(node_, clock, options_.limits)) {
  counters_.link = options_.link;
  counters_.node = node_hex_;
  last_gc_ = clock_->Now();
}

absl::StatusOr<std::unique_ptr<Replica>> Replica::Start(natsConnection* nc,
                                                        store::Clock* clock,
                                                        ReplicaOptions options) {
  std::unique_ptr<Replica> r(new Replica(nc, clock, std::move(options)));
  if (!r->options_.enabled) {
    r->ready_ = true;
    return r;
  }
  if (absl::Status s = r->Subscribe(); !s.ok()) return s;
  r->housekeeping_ = std::thread([p = r.get()] { p->Housekeeping(); });
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
  struct Sub {
    std::string subject;
    natsMsgHandler handler;
  };
  const Sub subs[] = {
      {Subject("events"), &Replica::OnEvents},
      {Subject("hb"), &Replica::OnHeartbeat},
      {Subject(absl::StrCat("sync.", node_hex_)), &Replica::OnSyncRequest},
  };
  for (const Sub& s : subs) {
    natsSubscription* sub = nullptr;
    natsStatus st = natsConnection_Subscribe(&sub, nc_, s.subject.c_str(), s.handler, this);
    if (st != NATS_OK) {
      return absl::UnavailableError(absl::StrCat("cannot subscribe to ", s.subject,
                                                 ": ", natsStatus_GetText(st)));
    }
    // Never drop replication traffic for being slow: a burst of events or chunks
    // is worth its memory.
    natsSubscription_SetPendingLimits(sub, -1, -1);
    subs_.push_back(sub);
  }
  return absl::OkStatus();
}

void Replica::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    if (sync_) EndSync("stopping");
  }
  if (housekeeping_.joinable()) housekeeping_.join();
  natsSubscription* any = nullptr;
  {
    absl::MutexLock lock(&mu_);
    any = any_sub_;
    any_sub_ = nullptr;
  }
  if (any != nullptr) subs_.push_back(any);
  const bool connected = natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
  for (natsSubscription* sub : subs_) {
    // Drain waits for the callbacks in progress, so none runs after Stop; it
    // needs the server, so without one the subscription is just closed.
    if (connected && natsSubscription_Drain(sub) == NATS_OK) {
      natsSubscription_WaitForDrainCompletion(sub, 2000);
    } else {
      natsSubscription_Unsubscribe(sub);
    }
    natsSubscription_Destroy(sub);
  }
  subs_.clear();
}

// ---- Publishing.

void Replica::PublishEvent(const store::Event& event) {
  if (!options_.enabled) return;
  const std::string bytes = codec::EncodeEvents({event});
  const std::string subject = Subject("events");
  natsStatus st = natsConnection_Publish(nc_, subject.c_str(), bytes.data(),
                                         static_cast<int>(bytes.size()));
  if (st == NATS_OK) {
    ++counters_.events_out;
  } else {
    // The peers will see the gap (heartbeat vectors) and catch up.
    Log(absl::StrCat("cannot publish event ", event.dot.seq, ": ", natsStatus_GetText(st)));
  }
}

void Replica::PublishHeartbeat() {
  codec::Heartbeat hb;
  {
    absl::MutexLock lock(&mu_);
    hb.node = node_;
    hb.vv = store_->vv();
    hb.digest = store_->digest();
    hb.keys = store_->stats().keys;
    hb.hlc = store_->NextHlcFloor();
    Peer& self = peers_[node_];
    self.vv = hb.vv;
    self.last_seen = clock_->Now();
    self.marks.emplace_back(At(hb.vv, node_), hb.hlc);
    if (self.marks.size() > 64) self.marks.pop_front();
  }
  const std::string bytes = codec::EncodeHeartbeat(hb);
  const std::string subject = Subject("hb");
  natsConnection_Publish(nc_, subject.c_str(), bytes.data(), static_cast<int>(bytes.size()));
}

// ---- Receiving.

void Replica::OnEvents(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<Replica*>(closure)->HandleEvents(
      absl::string_view(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)));
  natsMsg_Destroy(msg);
}

void Replica::OnHeartbeat(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<Replica*>(closure)->HandleHeartbeat(
      absl::string_view(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)));
  natsMsg_Destroy(msg);
}

void Replica::OnSyncRequest(natsConnection*, natsSubscription*, natsMsg* msg,
                            void* closure) {
  static_cast<Replica*>(closure)->HandleSyncRequest(msg);
  natsMsg_Destroy(msg);
}

void Replica::OnChunk(natsConnection*, natsSubscription* sub, natsMsg* msg, void* closure) {
  static_cast<Replica*>(closure)->HandleChunk(
      sub, absl::string_view(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)));
  natsMsg_Destroy(msg);
}

void Replica::HandleEvents(absl::string_view data) {
  auto events = codec::DecodeEvents(data);
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  if (options_.drop_events > 0 && absl::Bernoulli(drop_gen_, options_.drop_events)) return;
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
    const int64_t origin_ms = static_cast<int64_t>(store::EventHlc(e) >> 16);
    const int64_t now_ms = absl::ToUnixMillis(clock_->Now());
    counters_.apply_lag.Add(now_ms > origin_ms ? now_ms - origin_ms : 0);
    if (applied->gap && ready()) {  // before ready, the join catch-up covers it
      ++counters_.gaps;
      // The origin certainly has what we lack; if it is gone, the heartbeats of
      // the others will lead to another peer.
      StartSync(e.dot.node, false);
    }
  }
}

void Replica::HandleHeartbeat(absl::string_view data) {
  auto hb = codec::DecodeHeartbeat(data);
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  if (!hb.ok()) {
    ++counters_.bad_messages;
    return;
  }
  if (hb->node == node_ || hb->node == 0) return;
  const absl::Time now = clock_->Now();
  auto [it, inserted] = peers_.try_emplace(hb->node);
  Peer& peer = it->second;
  if (inserted || now - peer.last_seen > 3 * options_.heartbeat) {
    Log(absl::StrCat("peer ", Hex(hb->node), " seen (", hb->keys, " keys)"));
  }
  peer.previous_vv = inserted ? hb->vv : std::move(peer.vv);
  peer.vv = hb->vv;
  peer.digest = hb->digest;
  peer.last_seen = now;
  peer.marks.emplace_back(At(hb->vv, hb->node), hb->hlc);
  if (peer.marks.size() > 64) peer.marks.pop_front();
  if (!ready()) return;

  const VersionVector& ours = store_->vv();
  if (Missing(ours, peer.previous_vv) > 0) {
    // Still lacking, a heartbeat later, what the peer had then: lost events.
    StartSync(hb->node, false);
    peer.mismatch_since = absl::InfiniteFuture();
  } else if (SameVector(ours, hb->vv) && store_->digest() != hb->digest) {
    if (peer.mismatch_since == absl::InfiniteFuture()) {
      peer.mismatch_since = now;
    } else if (now - peer.mismatch_since > options_.divergence_grace) {
      Log(absl::StrCat("state differs from peer ", Hex(hb->node),
                       " with equal vectors; full catch-up"));
      StartSync(hb->node, true);
      peer.mismatch_since = absl::InfiniteFuture();
    }
  } else {
    peer.mismatch_since = absl::InfiniteFuture();
  }
}

void Replica::HandleSyncRequest(natsMsg* msg) {
  auto request = codec::DecodeSyncRequest(
      absl::string_view(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)));
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
  if (const char* reply = natsMsg_GetReply(msg); reply != nullptr && *reply) {
    natsConnection_PublishString(nc_, reply, node_hex_.c_str());
  }
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
  const int64_t max_payload = natsConnection_GetMaxPayload(nc_);
  size_t budget = options_.max_chunk_bytes;
  if (max_payload > 4096) {
    budget = std::min<size_t>(budget, static_cast<size_t>(max_payload) - 2048);
  }
  codec::DeltaChunk chunk;
  chunk.from = node_;
  size_t used = 0;
  size_t keys = 0;
  auto flush = [&](bool last) {
    chunk.last = last;
    if (last) chunk.delta.vv = vv;
    const std::string bytes = codec::EncodeDeltaChunk(chunk);
    natsConnection_Publish(nc_, request.reply_to.c_str(), bytes.data(),
                           static_cast<int>(bytes.size()));
    ++chunk.part;
    chunk.delta.entries.clear();
    used = 0;
  };
  auto add = [&](store::KeyState ks, size_t size) {
    if (used > 0 && used + size > budget) flush(false);
    chunk.delta.entries.push_back(std::move(ks));
    used += size;
  };
  std::string after;
  do {
    std::vector<store::KeyState> page;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      page = store_->DeltaPage(request.vv, after, kSyncPageKeys, &after);
    }
    for (store::KeyState& ks : page) {
      ++keys;
      const size_t size = codec::EncodedSize(ks);
      if (size <= budget) {
        add(std::move(ks), size);
      } else {
        for (store::KeyState& part : Split(ks, budget / 2)) {
          const size_t part_size = codec::EncodedSize(part);
          add(std::move(part), part_size);
        }
      }
    }
  } while (!after.empty());
  flush(true);
  Log(absl::StrCat("served catch-up to ", Hex(request.from), ": ", keys, " keys in ",
                   chunk.part, " chunks"));
}

bool Replica::BeginSync(NodeId peer, bool full) {
  if (sync_ || stopping_) return false;
  Sync sync;
  sync.peer = peer;
  sync.full = full;
  natsInbox* inbox = nullptr;
  if (natsInbox_Create(&inbox) != NATS_OK) return false;
  sync.inbox = inbox;
  natsInbox_Destroy(inbox);
  if (natsConnection_Subscribe(&sync.sub, nc_, sync.inbox.c_str(), &Replica::OnChunk,
                               this) != NATS_OK) {
    return false;
  }
  natsSubscription_SetPendingLimits(sync.sub, -1, -1);
  sync.deadline = clock_->Now() + options_.sync_timeout;
  sync_ = std::move(sync);
  return true;
}

void Replica::StartSync(NodeId peer, bool full) {
  if (!BeginSync(peer, full)) return;
  codec::SyncRequest request{node_, sync_->inbox, full ? VersionVector() : store_->vv()};
  const std::string bytes = codec::EncodeSyncRequest(request);
  const std::string subject = Subject(absl::StrCat("sync.", Hex(peer)));
  natsConnection_Publish(nc_, subject.c_str(), bytes.data(), static_cast<int>(bytes.size()));
}

void Replica::EndSync(absl::string_view why) {
  if (!sync_) return;
  if (why != "done") Log(absl::StrCat("catch-up from ", Hex(sync_->peer), " ended: ", why));
  natsSubscription_Unsubscribe(sync_->sub);
  natsSubscription_Destroy(sync_->sub);
  sync_.reset();
}

void Replica::HandleChunk(natsSubscription* sub, absl::string_view data) {
  auto chunk = codec::DecodeDeltaChunk(data);
  absl::MutexLock lock(&mu_);
  if (stopping_ || !sync_ || sync_->sub != sub) return;  // a stale catch-up
  if (!chunk.ok()) {
    ++counters_.bad_messages;
    EndSync("undecodable chunk");
    return;
  }
  if (sync_->peer == 0) sync_->peer = chunk->from;
  sync_->deadline = clock_->Now() + options_.sync_timeout;  // still making progress
  store::Delta entries_only;
  entries_only.entries = std::move(chunk->delta.entries);
  if (absl::Status s = store_->MergeDelta(entries_only); !s.ok()) {
    ++counters_.bad_messages;
    EndSync(absl::StrCat("invalid chunk: ", s.message()));
    return;
  }
  ++sync_->parts;
  if (!chunk->last) return;
  if (sync_->parts != chunk->part + 1) {
    EndSync(absl::StrCat("lost ", chunk->part + 1 - sync_->parts, " chunks"));
    return;
  }
  store::Delta vector_only;
  vector_only.vv = std::move(chunk->delta.vv);
  (void)store_->MergeDelta(vector_only);
  ++counters_.catchups;
  const std::string peer = Hex(sync_->peer);
  const uint32_t parts = sync_->parts;
  EndSync("done");
  if (!ready()) {
    ready_.store(true, std::memory_order_release);
    Log(absl::StrCat("ready: caught up with ", peer, " (", store_->stats().keys,
                     " keys, ", parts, " chunks)"));
  } else {
    Log(absl::StrCat("caught up with ", peer, " (", parts, " chunks)"));
  }
}

// ---- Joining and housekeeping.

void Replica::Join() {
  const std::string subject = Subject("sync.any");
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  for (int attempt = 1;; ++attempt) {
    std::string inbox;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      // Peer 0: whoever answers. (No other catch-up runs before ready.)
      if (!BeginSync(0, true)) {
        mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.join_timeout);
        continue;
      }
      inbox = sync_->inbox;
    }
    const std::string bytes =
        codec::EncodeSyncRequest(codec::SyncRequest{node_, inbox, VersionVector()});
    natsMsg* reply = nullptr;
    natsStatus st =
        natsConnection_Request(&reply, nc_, subject.c_str(), bytes.data(),
                               static_cast<int>(bytes.size()),
                               absl::ToInt64Milliseconds(options_.join_timeout));
    absl::MutexLock lock(&mu_);
    if (st == NATS_NO_RESPONDERS) {
      EndSync("done");
      ready_.store(true, std::memory_order_release);
      Log("ready: no peer answers, first replica of the link");
      return;
    }
    if (st == NATS_OK) {
      natsMsg_Destroy(reply);
      // Wait while chunks keep coming (each one pushes the deadline back).
      auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !sync_;
      };
      while (!mu_.AwaitWithTimeout(absl::Condition(&done), options_.sync_timeout) &&
             clock_->Now() < sync_->deadline) {
      }
      if (ready() || stopping_) return;
    }
    // Not ready until caught up: answering from a partial copy would serve stale
    // reads, and deletes would miss what this node has not seen.
    EndSync(absl::StrCat("join attempt ", attempt, " failed (",
                         st == NATS_OK ? "catch-up incomplete" : natsStatus_GetText(st),
                         "); retrying"));
    mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.join_timeout);
  }
}

void Replica::Housekeeping() {
  Join();
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      const std::string subject = Subject("sync.any");
      natsStatus st = natsConnection_QueueSubscribe(&any_sub_, nc_, subject.c_str(), "sync",
                                                    &Replica::OnSyncRequest, this);
      if (st != NATS_OK) Log(absl::StrCat("cannot subscribe to ", subject));
    }
  }
  while (true) {
    PublishHeartbeat();
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    const absl::Time now = clock_->Now();
    if (sync_ && now > sync_->deadline) EndSync("timed out");
    if (now - last_gc_ >= options_.gc_interval) {
      CollectGarbage();
      last_gc_ = now;
    }
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.heartbeat);
    if (stopping_) return;
  }
}

void Replica::CollectGarbage() {
  const absl::Time now = clock_->Now();
  // Every replica heard from recently enough (this one included).
  std::vector<const std::pair<const NodeId, Peer>*> live;
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (it->first != node_ && now - it->second.last_seen > options_.forget_after) {
      Log(absl::StrCat("forgetting peer ", Hex(it->first)));
      it = peers_.erase(it);
    } else {
      live.push_back(&*it);
      ++it;
    }
  }
  // stable = element-wise minimum of the live replicas' vectors.
  VersionVector stable = store_->vv();
  for (auto& [node, seq] : stable) {
    for (const auto* p : live) seq = std::min(seq, At(p->second.vv, node));
  }
  // floor = for each live replica, the highest stamp bound of a heartbeat whose
  // own seq every replica has applied; the minimum of those.
  uint64_t floor = std::numeric_limits<uint64_t>::max();
  for (const auto* p : live) {
    uint64_t best = 0;
    for (const auto& [seq, hlc] : p->second.marks) {
      if (seq <= At(stable, p->first)) best = std::max(best, hlc);
    }
    floor = std::min(floor, best);
  }
  if (live.empty()) floor = 0;
  const size_t dropped = store_->CollectGarbage(stable, floor);
  counters_.tombstones_collected += dropped;
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
  for (const auto& [node, peer] : peers_) {
    if (node == node_ || now - peer.last_seen > 3 * options_.heartbeat) continue;
    ++s.peers;
    s.lag = std::max(s.lag, Missing(s.vv, peer.vv));
  }
  return s;
}

}  // namespace kv::replication
