// Snapshot files of one link's replica (warm restarts, docs/replication.md,
// "Warm restarts"): the store's full state saved to a file and loaded into a new
// store, through the store's public API only.
//
// File format (version 1): the 8-byte magic "NKVSNAP\n", a little-endian u32
// format version, then records: a u32 payload length, the u32 CRC-32 (zlib) of
// the payload, the payload. Each payload is one catch-up chunk of the codec
// (kv/codec/binary.h, codec::DeltaChunk, numbered from 0, as ChunkWriter makes
// them for a join): every chunk carries the collected watermark, its entries are
// key states, and the last one (flagged) carries the vector and the retired
// origins. Nothing may follow the last chunk. A file of another codec format
// does not decode (an error, as any corruption).
//
// Thread safety: the functions are thread-safe; the store is read through
// `StoreReader`, which serialises access to it.
#ifndef KV_SNAPSHOT_SNAPSHOT_H_
#define KV_SNAPSHOT_SNAPSHOT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kv/store/clock.h"
#include "kv/store/state.h"
#include "kv/store/store.h"

namespace kv::snapshot {

inline constexpr char kMagic[] = "NKVSNAP\n";  // 8 bytes, no NUL in the file
inline constexpr uint32_t kFileVersion = 1;

// Calls `f` with the store, under whatever lock guards it, and returns OK; or
// an error without calling it (e.g. Aborted: the store was replaced). Save
// calls it once for the vectors and once per page of keys, so the owner can
// let other work in between.
using StoreReader =
    std::function<absl::Status(const std::function<void(const store::Store&)>& f)>;

struct SaveOptions {
  size_t chunk_bytes = 1 << 20;  // budget of one record's chunk
  size_t page_keys = 4096;       // keys read per call of the reader
};

struct SaveStats {
  size_t keys = 0;   // key states written (a split key counts per part)
  size_t bytes = 0;  // file size
  uint32_t chunks = 0;
};

// Writes the store's full state (every entry, tombstones included, with its
// vector, collected watermark and retired origins) to `path`: first to
// `path` + ".tmp", which is fsynced, then renamed over `path`, and the directory
// fsynced; `path` is never left half-written. The vectors are read before the
// first page (pages read later only hold more, which merges the same).
// Errors: the reader's; Internal (a chunk too large to encode, which the
// budget prevents); the file system's (errno as a Status, naming the path).
// The temporary file is removed on failure.
absl::StatusOr<SaveStats> Save(const std::string& path, const StoreReader& read,
                               const SaveOptions& options = SaveOptions());

struct LoadOptions {
  // Files larger than this are refused (OutOfRange) before anything is read;
  // 0 = the machine's physical memory (a store cannot hold more).
  uint64_t max_file_bytes = 0;
  // Records larger than this are refused (DataLoss) before allocation.
  size_t max_record_bytes = 64 << 20;
};

struct Loaded {
  std::unique_ptr<store::Store> store;
  store::NodeId saved_by = 0;  // the node id of the process that saved it
  size_t keys = 0;             // key states merged
  size_t bytes = 0;            // file size
};

// Reads the snapshot at `path` into a new store for node `node` (a new id: the
// saving node's id stays an origin of the vector). The collected watermark is
// adopted first, key states are merged whole (Store::MergeCopy), then the
// vector (a vector-only MergeDelta) and the retired origins (AdoptRetired).
// Keys that expired meanwhile read as absent and are reclaimed by collection
// like any expired key. Errors: NotFound when there is no file; OutOfRange when it is
// larger than max_file_bytes; DataLoss for a bad magic or version, a checksum mismatch, a
// truncated or undecodable record, chunks out of order, a key state the store refuses, or
// bytes after the last chunk; the file system's otherwise. Never crashes on any input.
absl::StatusOr<Loaded> Load(const std::string& path, store::NodeId node,
                            store::Clock* clock, const store::Limits& limits,
                            const LoadOptions& options = LoadOptions());

// The snapshot file of `link` in `dir`: "<dir>/<link>.snap".
std::string PathFor(absl::string_view dir, absl::string_view link);

}  // namespace kv::snapshot

#endif  // KV_SNAPSHOT_SNAPSHOT_H_
