// The request log of one link: the writes made with a client's request id (the
// Nats-Msg-Id header) within the dedup window, each with the reply it got, so
// that a retry of the id is answered that reply instead of being applied again
// (README.md, "Idempotent retries").
//
// Every replica records an id when it applies the write's event, and a joiner
// receives the live records with its catch-up; the log is merged, never
// replaced: an id keeps the record it was first known with.
//
// Bounded: ids of 1 to kMaxIdBytes printable ASCII bytes, replies of at most
// kMaxReplyBytes (a longer one is not recorded: its retries are applied
// again), at most `max_entries` records and `max_bytes` bytes (EntryBytes);
// beyond, the oldest records go first. Records older than the window go too.
//
// Time is passed in (absl::Time): the log has no clock. Thread safety: not
// thread-safe; the owner (the Store, under the replica's lock) serialises calls.
#ifndef KV_STORE_REQUEST_LOG_H_
#define KV_STORE_REQUEST_LOG_H_

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kv/store/state.h"

namespace kv::store {

class RequestLog {
 public:
  static constexpr size_t kMaxIdBytes = 128;
  static constexpr size_t kMaxReplyBytes = 1024;
  // Defaults: 100,000 records (a retry window of 2 minutes at 800 writes/s
  // with ids) in at most 32 MiB.
  static constexpr size_t kDefaultMaxEntries = 100000;
  static constexpr size_t kDefaultMaxBytes = size_t{32} << 20;

  // `window`: how long a record lives (zero: the log is off: records nothing,
  // finds nothing).
  explicit RequestLog(absl::Duration window, size_t max_entries = kDefaultMaxEntries,
                      size_t max_bytes = kDefaultMaxBytes);
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  // OK when `id` is a valid request id (1 to kMaxIdBytes bytes of printable
  // ASCII, space to '~'); else InvalidArgument naming the header.
  static absl::Status CheckId(absl::string_view id);

  // The bytes a record is counted for (its strings, twice the id: the index
  // keeps a copy, and a fixed overhead).
  static size_t EntryBytes(const RequestRecord& record);

  bool enabled() const { return window_ > absl::ZeroDuration(); }
  absl::Duration window() const { return window_; }

  // The record of `id` when it was applied within the window before `now`;
  // nullptr otherwise. The pointer is valid until the next non-const call.
  const RequestRecord* Find(absl::string_view id, absl::Time now) const;

  // Records `record` unless its id is known already (the first record stays),
  // it is invalid (CheckId, a reply over kMaxReplyBytes), it is out of the
  // window at `now`, or stamped more than a window ahead of `now` (a peer's
  // clock far ahead would pin it). Drops expired records, then the oldest while
  // over the bounds. True when recorded.
  bool Record(RequestRecord record, absl::Time now);

  // The live records at `now`, newest first, while their EntryBytes sum stays
  // within `max_bytes` (what a catch-up may carry).
  std::vector<RequestRecord> Newest(absl::Time now, size_t max_bytes) const;

  size_t size() const { return by_id_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  // Drops the records out of the window at `now`, then the oldest while over
  // the bounds.
  void Trim(absl::Time now);
  void DropOldest();
  int64_t CutoffMs(absl::Time now) const;

  const absl::Duration window_;
  const size_t max_entries_;
  const size_t max_bytes_;
  absl::flat_hash_map<std::string, RequestRecord> by_id_;
  std::set<std::pair<int64_t, std::string>> by_time_;  // (applied_ms, id)
  size_t bytes_ = 0;
};

}  // namespace kv::store

#endif  // KV_STORE_REQUEST_LOG_H_
