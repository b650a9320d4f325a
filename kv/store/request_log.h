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
// Two applications of one id: nodes that applied the same id before hearing
// of each other (an owner cut off from the others applied it, a retry applied
// it again on the other side) each hold a record of it. When their records
// meet, every log keeps the earlier one (applied_ms, then dot), and the node
// whose own application lost takes it back (Withdrawal, Store::Withdraw): the
// link counts the id once.
//
// Time is passed in (absl::Time): the log has no clock. Thread safety: not
// thread-safe; the owner (the Store, under the replica's lock) serialises calls.
#ifndef KV_STORE_REQUEST_LOG_H_
#define KV_STORE_REQUEST_LOG_H_

#include <cstddef>
#include <cstdint>
#include <optional>
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

// What a node's own application of a request id did, so that it can take it
// back if another application of the id wins (Store::Withdraw). Only writes
// that would count twice have one: an add (its amount) and a push (its item,
// the operation's dot). Kept by the log beside the node's own records; never
// sent.
struct Withdrawal {
  std::string key;
  Dot dot;              // the application's operation
  int64_t added = 0;    // add: the amount added
  bool pushed = false;  // push: the item `dot` pushed
};

class RequestLog {
 public:
  static constexpr size_t kMaxIdBytes = 128;
  static constexpr size_t kMaxReplyBytes = 1024;
  // Defaults: 100,000 records (a retry window of 2 minutes at 800 writes/s
  // with ids) in at most 32 MiB.
  static constexpr size_t kDefaultMaxEntries = 100000;
  static constexpr size_t kDefaultMaxBytes = size_t{32} << 20;

  // `window`: how long a record lives (zero: the log is off: records nothing,
  // finds nothing). `max_ahead`: how far ahead of the clock a record may be
  // stamped (the store's max_clock_skew).
  explicit RequestLog(absl::Duration window, size_t max_entries = kDefaultMaxEntries,
                      size_t max_bytes = kDefaultMaxBytes,
                      absl::Duration max_ahead = absl::Seconds(60));
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

  // Records `record` unless it is invalid (CheckId, a reply over
  // kMaxReplyBytes), out of the window at `now`, or stamped more than
  // `max_ahead` ahead of `now` (a peer's clock far ahead would pin it). When the id is
  // known already, the earlier application stays ((applied_ms, dot) order; the
  // same dot is the same application): a later one is not recorded, an earlier
  // one replaces the record, and if the replaced record was this node's own
  // application (`own`, given when the node applied the write itself) its
  // Withdrawal is queued (TakeWithdrawals). Drops expired records, then the
  // oldest while over the bounds. True when recorded.
  bool Record(RequestRecord record, absl::Time now,
              std::optional<Withdrawal> own = std::nullopt);

  // The node's own applications that lost to an earlier application of their
  // id since the last call, to be taken back (Store::Withdraw).
  std::vector<Withdrawal> TakeWithdrawals();

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
  const absl::Duration max_ahead_;
  const size_t max_entries_;
  const size_t max_bytes_;
  struct Entry {
    RequestRecord record;
    std::optional<Withdrawal> own;  // this node's own application
  };
  // The bytes an entry is counted for: its record's, and its withdrawal's.
  static size_t Bytes(const Entry& e) {
    return EntryBytes(e.record) + (e.own ? e.own->key.size() + 48 : 0);
  }
  absl::flat_hash_map<std::string, Entry> by_id_;
  std::set<std::pair<int64_t, std::string>> by_time_;  // (applied_ms, id)
  std::vector<Withdrawal> withdrawals_;
  size_t bytes_ = 0;
};

}  // namespace kv::store

#endif  // KV_STORE_REQUEST_LOG_H_
