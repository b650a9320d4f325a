// Catch-up answers in chunks: the sender splits a delta into numbered chunks
// under a byte budget (on the codec's encoded sizes); the receiver merges each
// chunk as it comes and takes the sender's vector only when every chunk
// arrived.
#ifndef KV_REPLICATION_CHUNKER_H_
#define KV_REPLICATION_CHUNKER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "kv/codec/binary.h"
#include "kv/store/state.h"

namespace kv::replication {

// The byte budget of one encoded chunk (header and entries): `max_chunk_bytes`,
// at most the bus's max payload (when positive).
size_t ChunkBudget(size_t max_chunk_bytes, int64_t max_payload);

// Splits a key state too large for one chunk into partial states: each keeps
// the key and the component stamps, and carries a share of the items of about
// `budget` bytes. Merging the parts is the same as merging the whole (merges
// are joins of independent atoms).
std::vector<store::KeyState> Split(const store::KeyState& ks, size_t budget);

// Sender side. Every chunk it emits encodes to at most `budget` bytes: the
// entries' budget is what the chunk's header (vectors, members: they grow with
// the number of origins) leaves. What cannot fit (a header alone, or one part
// of a key with its header) is an error: the writer emits nothing more and
// status() says why; so does an error of `emit`. Thread safety: not
// thread-safe.
class ChunkWriter {
 public:
  // Sends one chunk; an error ends the catch-up (nothing more is emitted).
  using Emit = std::function<absl::Status(const codec::DeltaChunk&)>;

  // `emit` receives each chunk in order, parts numbered from 0.
  ChunkWriter(store::NodeId from, size_t budget, Emit emit);
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Adds one key state: to the current chunk when it fits in the budget (a
  // chunk is sent first when it would not), else split (Split, half the
  // entries' budget) into parts added one by one. Does nothing after an error.
  void Add(store::KeyState ks);
  // Every chunk carries `collected`, the last one `members` and `retired` too
  // (the sender's watermark, whom it waits for, the origins it retired). Call
  // before the first Add.
  void SetCollected(store::VersionVector collected, std::vector<store::NodeId> members,
                    store::VersionVector retired = {});
  // The last chunk carries `requests` (the sender's request log, newest
  // first), as many of the first ones as the budget leaves beside its header
  // and entries; the others are left out.
  void SetRequests(std::vector<store::RequestRecord> requests) {
    requests_ = std::move(requests);
  }
  // Sends the last chunk (possibly without entries), carrying `vv` (after the
  // entries gathered so far, in a chunk of their own when they do not fit
  // beside the last chunk's header) and the request records that fit.
  // Returns status().
  absl::Status Finish(store::VersionVector vv);

  // OK, or why the catch-up stopped: ResourceExhausted when a chunk's header,
  // or a key's part with its header, exceeds the budget; emit's error.
  const absl::Status& status() const { return status_; }
  size_t keys() const { return keys_; }
  uint32_t chunks() const { return chunk_.part; }

 private:
  void Append(store::KeyState ks, size_t size);
  void Flush(bool last);
  void Fail(absl::Status s);

  // The budget left for entries once a chunk's header is counted (0 when the
  // header alone does not fit).
  size_t EntryBudget() const { return budget_ > header_ ? budget_ - header_ : 0; }

  const size_t budget_;
  const Emit emit_;
  codec::DeltaChunk chunk_;
  std::vector<store::NodeId> members_;
  store::VersionVector retired_;
  std::vector<store::RequestRecord> requests_;
  size_t header_ = 0;  // encoded bytes of a chunk without entries (not the last)
  size_t used_ = 0;
  size_t keys_ = 0;
  absl::Status status_;
};

// Receiver side of one catch-up. Thread safety: not thread-safe.
class ChunkAssembler {
 public:
  enum class Outcome {
    kMore,  // merge the entries; more chunks to come
    kDone,  // merge the entries, then the vector: the catch-up is complete
    kLost,  // merge the entries; some chunks never came: the catch-up failed
  };

  // Takes one chunk (any order; a duplicate part counts once). kLost when the
  // last part arrived but some part before it had not (`lost()` says how many).
  Outcome Take(const codec::DeltaChunk& chunk);

  // Distinct parts received.
  uint32_t parts() const { return static_cast<uint32_t>(received_.size()); }
  uint32_t lost() const { return lost_; }

 private:
  std::set<uint32_t> received_;
  uint32_t lost_ = 0;
};

}  // namespace kv::replication

#endif  // KV_REPLICATION_CHUNKER_H_
