// Replica: serving catch-ups to peers (docs/replication.md, "Catch-up"): the
// serving limits, the answer on the request's reply subject, the store read in
// pages and sent in payload-sized chunks.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kv/replication/replica.h"

namespace kv::replication {
namespace {

using store::NodeId;
using store::VersionVector;

// Keys examined per page of a catch-up (under the replica lock).
constexpr size_t kSyncPageKeys = 4096;

std::string Hex(NodeId node) { return absl::StrFormat("%016x", node); }

}  // namespace

void Replica::HandleSyncRequest(const Message& msg) {
  auto request = codec::DecodeSyncRequest(msg.data);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    // The answer goes to the message's reply subject, which the server
    // validated as a subject: nothing in the payload names where it goes.
    if (!request.ok() || msg.reply.empty()) {
      ++counters_.bad_messages;
      return;
    }
    // A join only from a ready replica: the joiner takes our state as the
    // link's. A replica back to 503 to catch up (provisional) still serves
    // catch-ups of peers: they merge, never replace.
    if (!ready() && (request->join || !ever_ready_)) return;  // ask elsewhere
  }
  // A request to a node id this replica left (a stale reset) goes unanswered.
  if (msg.subject != Subject("sync.any") &&
      msg.subject != Subject(absl::StrCat("sync.", Hex(node())))) {
    return;
  }
  if (!AdmitSync(request->from)) return;  // the requester asks again, or elsewhere
  // A join is acknowledged with our node id, so the joiner knows whom it is
  // syncing with.
  if (request->join) (void)bus_->Publish(msg.reply, "", Hex(node()));
  ServeSync(*request, msg.reply);
}

bool Replica::AdmitSync(NodeId requester) {
  absl::MutexLock lock(&mu_);
  if (serving_.Admit(requester, clock_->Now())) return true;
  ++counters_.catchups_refused;
  return false;
}

void Replica::ServeSync(const codec::SyncRequest& request, absl::string_view reply) {
  size_t sent = 0;  // bytes, owed to the serving limits when done
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    serving_.Done(request.from, sent, clock_->Now());
  };
  // The store is read in pages, letting requests in between: a large catch-up
  // does not stall the service. The vector is the one before the first page.
  // With the vector go the watermark and the members (a joiner waits for them),
  // and to a joiner the retired origins (its copy holds their dots).
  VersionVector vv;
  VersionVector collected;
  VersionVector retired;
  std::vector<NodeId> members;
  std::vector<store::RequestRecord> requests;
  uint64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    vv = store_->vv();
    collected = store_->collected();
    members = peers_->Members(clock_->Now());
    members.push_back(node());
    if (request.join) retired = store_->Retired();
    // The request log goes in the last chunk, as much as fits.
    requests = store_->requests().Newest(
        clock_->Now(), ChunkBudget(options_.max_chunk_bytes, bus_->MaxPayload()));
    generation = generation_;
    ++counters_.catchups_served;
  }
  ChunkWriter writer(node(), ChunkBudget(options_.max_chunk_bytes, bus_->MaxPayload()),
                     [&](const codec::DeltaChunk& chunk) {
                       const std::string bytes = codec::EncodeDeltaChunk(chunk);
                       sent += bytes.size();
                       return bus_->Publish(reply, "", bytes);
                     });
  writer.SetCollected(std::move(collected), std::move(members), std::move(retired));
  writer.SetRequests(std::move(requests));
  std::string after;
  do {
    std::vector<store::KeyState> page;
    {
      absl::MutexLock lock(&mu_);
      // After a reset the store is another one: the requester times out.
      if (stopping_ || generation_ != generation) {
        done();
        return;
      }
      // A join (or a full catch-up: an empty vector) takes everything, the
      // retired origins' operations included.
      page = store_->DeltaPage(request.vv, after, kSyncPageKeys, &after,
                               request.join || request.vv.empty());
    }
    for (store::KeyState& ks : page) writer.Add(std::move(ks));
  } while (!after.empty() && writer.status().ok());
  const absl::Status finished = writer.Finish(std::move(vv));
  {
    absl::MutexLock lock(&mu_);
    done();
    if (!finished.ok()) {
      // The requester gets no last chunk: its catch-up times out and is retried
      // (from another peer for a join).
      if (!absl::IsResourceExhausted(finished)) ++counters_.publish_errors;
      ++counters_.catchups_failed;
      Log(absl::StrCat("catch-up to ", Hex(request.from), " failed after ",
                       writer.chunks(), " chunks: ", finished.message()));
      return;
    }
  }
  Log(absl::StrCat("served catch-up to ", Hex(request.from), ": ", writer.keys(),
                   " keys in ", writer.chunks(), " chunks"));
}

}  // namespace kv::replication
