// Binary encoding of replication messages (cereal portable binary, versioned).
//
// Every message starts with a 4-byte magic, a kind byte and a format version, so a
// node can reject traffic it does not understand. Decoding never trusts a length: a
// string or list longer than the bytes left is an error before anything is allocated,
// so garbage costs at most the size of the input.
#ifndef KV_CODEC_BINARY_H_
#define KV_CODEC_BINARY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kv/store/state.h"

namespace kv::codec {

inline constexpr uint32_t kFormatVersion = 6;

// The most node ids a heartbeat or chunk lists (members, departed); decoding
// refuses more.
inline constexpr size_t kMaxListedNodes = 1024;

// The most origins a version vector (or watermark) may name in any message;
// decoding refuses more. A replica never grows its own vector past it
// (Replica refuses events of a new origin beyond it), so its messages decode.
inline constexpr size_t kMaxVectorOrigins = 4096;

enum class MessageKind : uint8_t {
  kEvents = 1,  // one or more change events
  kDelta = 2,   // a chunk of a catch-up answer
  kSyncRequest = 3,
  kHeartbeat = 4,
};

// "Send me what I lack": the requester's vector. The answer (delta chunks, and
// the acknowledgement of a join) goes to the NATS message's reply subject, which
// the server validates; no subject travels in the payload.
struct SyncRequest {
  store::NodeId from = 0;
  // A join: the requester takes the answer as the link's state, so only a ready
  // replica serves it, and acknowledges it first with its node id.
  bool join = false;
  store::VersionVector vv;
};

// Published periodically by every node.
struct Heartbeat {
  store::NodeId node = 0;
  store::VersionVector vv;
  store::Digest digest;
  uint64_t keys = 0;
  // Every operation of this node after vv[node] will be stamped at or above this.
  uint64_t hlc = 0;
  // The sender's collected watermark (Store::collected()).
  store::VersionVector collected;
  // Replicas the sender heard directly within forget_after (itself excluded), and
  // replicas it heard say goodbye; at most kMaxListedNodes each.
  std::vector<store::NodeId> members;
  std::vector<store::NodeId> departed;
  // Origins the sender retired, each with the seq every replica had applied
  // (Store::Retired()), and those it is ready to retire: gone, and applied here
  // up to that seq with nothing above it (Store::Vouch); at most kMaxListedNodes
  // each.
  store::VersionVector retired;
  store::VersionVector retiring;
  // The sender leaves for good: nobody waits for it any more.
  bool goodbye = false;
  // Ownership (kv/replication/ownership.h): the live nodes the sender sees
  // (itself included, sorted; at most kMaxListedNodes), since when (Unix ms,
  // its clock), and when it sent this heartbeat (Unix ms, its clock).
  std::vector<store::NodeId> view;
  int64_t view_since_ms = 0;
  int64_t sent_ms = 0;
};

// One chunk of a catch-up answer, numbered from 0. The vector may be taken once
// every chunk up to the `last` one has arrived.
struct DeltaChunk {
  store::NodeId from = 0;
  uint32_t part = 0;
  bool last = false;
  store::Delta delta;
  // The sender's collected watermark when it took delta.vv (in every chunk).
  store::VersionVector collected;
  // Replicas the sender waits for before collecting (at most kMaxListedNodes).
  std::vector<store::NodeId> members;
  // Every origin the sender retired, with its final seq (last chunk only; at
  // most kMaxListedNodes).
  store::VersionVector retired;
  // The sender's live request log, newest first, as much as the chunk's budget
  // leaves (last chunk only; ids and replies within RequestLog's bounds).
  std::vector<store::RequestRecord> requests = {};
};

std::string EncodeEvents(const std::vector<store::Event>& events);
absl::StatusOr<std::vector<store::Event>> DecodeEvents(absl::string_view bytes);

std::string EncodeDeltaChunk(const DeltaChunk& chunk);
absl::StatusOr<DeltaChunk> DecodeDeltaChunk(absl::string_view bytes);

std::string EncodeSyncRequest(const SyncRequest& request);
absl::StatusOr<SyncRequest> DecodeSyncRequest(absl::string_view bytes);

std::string EncodeHeartbeat(const Heartbeat& heartbeat);
absl::StatusOr<Heartbeat> DecodeHeartbeat(absl::string_view bytes);

// Bytes a key state takes once encoded (for chunking under a payload limit): an
// upper bound of what it adds to a chunk or an event.
size_t EncodedSize(const store::KeyState& ks);

// Bytes a request record takes once encoded (in a chunk or an event), exact.
size_t EncodedSize(const store::RequestRecord& record);

// Bytes `chunk` takes once encoded without its entries (its header: the vectors
// and members, which grow with the number of origins), exact.
size_t EncodedHeaderSize(const DeltaChunk& chunk);

// The most bytes a set, push or set_add event message (one event) takes beyond
// its key and value, measured by encoding each (a set_add replacing one earlier
// dot of its member). An event of such a write with key k and value v takes at
// most k + v + MaxEventOverhead() bytes.
size_t MaxEventOverhead();

}  // namespace kv::codec

#endif  // KV_CODEC_BINARY_H_
