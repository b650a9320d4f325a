// The replicated data model of one link: registers, counters, lists and sets per key,
// with merge rules that make replicas converge whatever the order, duplication or
// batching of what they receive.
//
// Thread safety: a Store is not thread-safe; the owner serialises all calls.
// The store does no I/O and has no threads; time comes from the injected Clock.
//
// Semantics (docs/merge-rules.md):
//   * set/del: last writer wins on the operation's Stamp (HLC, then node id).
//   * counters: per-origin cumulative contributions; del removes what it observed,
//     so a concurrent increment elsewhere is never lost.
//   * lists: items ordered by the push's (hlc, node, seq); list_del/clear/del remove the
//     observed item dots (a concurrent push survives).
//   * sets: add-wins observed-remove; set_add of a present element gives it a fresh dot
//     and removes the dots it had, so an add concurrent with a remove wins.
//   * types: every component of a key (register, counter, list, set) merges on its own.
//     A key shows the non-empty component whose latest operation has the highest
//     stamp (ties, only possible after a del, go to register > counter > list > set).
//     Locally, an operation on a key that shows another type fails with
//     FailedPrecondition ("wrong type") and emits nothing. So when different types are
//     created concurrently on two replicas, the later creation wins on every replica;
//     the loser's data stays hidden until a del removes it or it is shown again.
//   * TTL: a register holds its absolute expiry time; reads treat an expired register as
//     absent. Expired registers are purged like tombstones (CollectGarbage).
#ifndef KV_STORE_STORE_H_
#define KV_STORE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kv/store/clock.h"
#include "kv/store/request_log.h"
#include "kv/store/state.h"

namespace kv::store {

// What a store over its memory limit does (Limits::max_memory_bytes).
enum class Eviction {
  kAllKeysLru,   // evicts any key, least recently used first (approximated: Evict)
  kVolatileTtl,  // evicts keys with a TTL, soonest expiry first (sampled: Evict)
  kNoEviction,   // refuses writes that may add data
};

// The payload of a ResourceExhausted status that means "over the memory limit"
// (HTTP 507), not "too large" (413).
inline constexpr absl::string_view kInsufficientStorage = "natskv/insufficient-storage";

// Explicit input limits of local requests. A key that is empty or longer than
// max_key_bytes fails with InvalidArgument (as does a peer's key state with such a
// key, in Apply and MergeDelta); a request beyond any other limit fails with
// OutOfRange ("too large"). Peers' events and deltas are not held to the other
// limits.
struct Limits {
  size_t max_key_bytes = 1024;
  size_t max_value_bytes = 1 << 20;
  // Bytes of key plus value one set, push or set_add may carry: room for the
  // write's event in one message once its encoding is counted (kvd: the max
  // payload less codec::MaxEventOverhead() and a margin). Beyond it, OutOfRange
  // before anything changes. 0 = no limit.
  size_t max_write_bytes = 0;
  size_t max_list_items = 1 << 20;  // per list
  size_t max_set_items = 1 << 20;   // per set
  size_t max_keys_per_query = 128;  // set_union / set_intersection
  size_t max_page = 10000;          // keys per page
  size_t max_range = 100000;        // values returned by one range
  // Bytes of values or keys one read may return (each counted with 3 bytes of
  // framing): range, set_query, set_union and set_intersection beyond it fail with
  // OutOfRange; a keys page stops early at it (its cursor continues). 0 = no limit.
  size_t max_reply_bytes = 0;
  // Membership probes one set_intersection may make (members of the smallest set
  // times the other distinct sets); beyond it, OutOfRange.
  size_t max_intersection_probes = 16 << 20;
  // How far ahead of this node's clock a peer's stamps may be: a peer's event or
  // key state stamped (any of its HLCs, list items included) beyond the clock's
  // now + max_clock_skew (HlcCeiling) is refused with OutOfRange by Apply,
  // MergeDelta and MergeCopy, so that no forged stamp near 2^64 can make every
  // later local write lose to it.
  absl::Duration max_clock_skew = absl::Seconds(60);
  // Heap bytes the store may hold (stats().memory_bytes; 0 = no limit). With
  // kNoEviction, a local set, add, push or set_add fails with ResourceExhausted
  // (payload kInsufficientStorage) once the store holds that much; reads and
  // deletes keep working. With the other policies the owner calls Evict after
  // its writes while OverMemoryLimit().
  size_t max_memory_bytes = 0;
  Eviction eviction = Eviction::kAllKeysLru;
  // The TTL of keys created without one (by set, add, push or set_add); zero:
  // none.
  absl::Duration default_ttl = absl::ZeroDuration();
  // How long requests() remembers a write's request id; zero: off.
  absl::Duration dedup_window = absl::ZeroDuration();
};

// What `ttl` reads of a key.
struct KeyTtl {
  bool exists = false;
  std::optional<absl::Duration> ttl;  // nullopt: the key has none
};

// What a key shows now, in short (Store::Summarize): for change notifications.
struct KeySummary {
  enum class Type { kNone, kString, kCounter, kList, kSet };
  Type type = Type::kNone;
  uint64_t revision = 0;  // Store::Revision
  std::string value;      // kString: the value
  int64_t count = 0;      // kCounter: its value; kList: length; kSet: size
};

// A mutation's result and the event to publish (none when nothing changed).
template <typename T>
struct Change {
  T result;
  std::optional<Event> event;
};

// The end of a list Pop takes an item from.
enum class ListEnd { kLeft, kRight };

struct KeysPage {
  std::vector<std::string> keys;
  std::string cursor;  // empty when there are no more keys
};

// What Apply saw about an event's place in its origin's sequence.
struct ApplyResult {
  bool duplicate = false;  // already applied (nothing changed)
  bool gap = false;        // seq > vv[origin] + 1: some earlier events are missing
  bool retired = false;    // of a retired origin: ignored (duplicate is set too)
  bool unretired = false;  // above a retired origin's seq: it was not gone (Unretire)
};

struct StoreStats {
  // Keys that show a value (expired ones count until reclaimed: CollectGarbage).
  size_t keys = 0;
  size_t tombstones = 0;    // keys held only for deleted state, until collected
  size_t memory_bytes = 0;  // heap bytes held by entries and the index (approximate)
  size_t max_memory_bytes = 0;
  uint64_t evicted = 0;  // keys this store evicted (Evict)
  uint64_t expired = 0;  // expired keys reclaimed (CollectGarbage)
  uint64_t events_applied = 0;
  uint64_t events_duplicate = 0;
  size_t retired_origins = 0;  // origins retired and still remembered
};

// A key CollectGarbage reclaimed because its TTL passed (it showed a value),
// for expiry notifications (docs/replication.md).
struct ExpiredKey {
  std::string key;
  NodeId writer = 0;  // the node of its highest stamp (its last writer)
};

// A retired origin (Store::Retire): the seq up to which every replica applied its
// operations, and when this store retired it.
struct RetiredOrigin {
  uint64_t seq = 0;
  absl::Time since;
};
using RetiredOrigins = absl::flat_hash_map<NodeId, RetiredOrigin>;

namespace internal {
class Entry;     // compact in-memory form of one key (entry.h)
class Coverage;  // what a vector covers (store_internal.h)
}  // namespace internal

class Store {
 public:
  // `node` must be non-zero and never reused; `clock` must outlive the store.
  Store(NodeId node, Clock* clock, Limits limits = Limits());
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store();

  NodeId node() const { return node_; }
  const Limits& limits() const { return limits_; }
  absl::Time Now() const { return clock_->Now(); }
  // Writes made with a request id (request_log.h): the service records its
  // own, Apply an event's, the replica a catch-up's. Outside the digest.
  RequestLog& requests() { return requests_; }
  const RequestLog& requests() const { return requests_; }

  // ---- Local reads. Errors: InvalidArgument (bad key), FailedPrecondition (wrong
  // type), OutOfRange (limit exceeded). An absent or expired key reads as empty.

  // A register's value, or a counter's value in decimal. nullopt when absent.
  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) const;
  // True when the key holds a visible value of any type.
  absl::StatusOr<bool> Exists(absl::string_view key) const;
  // How many removal records a `del` of `key` would carry (a register tombstone,
  // one per counter contribution, list item or set element it removes): what
  // bounds the size of its event. 0 when the key shows nothing.
  size_t RemovalCount(absl::string_view key) const;
  // List items from `start` to `stop` inclusive; negative indices count from the end
  // (-1 is the last), as Redis LRANGE.
  absl::StatusOr<std::vector<std::string>> Range(absl::string_view key, int64_t start,
                                                 int64_t stop) const;
  absl::StatusOr<std::vector<std::string>> SetQuery(absl::string_view key) const;
  absl::StatusOr<std::vector<std::string>> SetUnion(
      const std::vector<std::string>& keys) const;
  absl::StatusOr<std::vector<std::string>> SetIntersection(
      const std::vector<std::string>& keys) const;
  // Visible keys starting with `prefix`, in byte order, after `cursor` (exclusive;
  // empty = from the start), at most `limit` (0 = max_page). The returned cursor
  // resumes the listing; it stays valid whatever is written in between.
  absl::StatusOr<KeysPage> Keys(absl::string_view prefix, size_t limit,
                                absl::string_view cursor) const;

  // The key's revision: the highest HLC stamp of anything it holds (register,
  // container stamps, TTL), so it grows with every write to the key and is the
  // same on every replica that applied the same operations. 0 when the key shows
  // nothing (absent, deleted or expired) or is not a valid key. (revision.cc)
  uint64_t Revision(absl::string_view key) const;
  // What the key shows now and its revision (type kNone when nothing).
  KeySummary Summarize(absl::string_view key) const;

  // ---- Local mutations. Each returns its result and the event to publish.
  // Errors: InvalidArgument (bad key or ttl), FailedPrecondition (wrong type),
  // OutOfRange (a limit exceeded, counter overflow). A failed mutation changes
  // nothing and emits nothing.

  // `ttl` > 0 makes the value expire; nullopt = never.
  absl::StatusOr<Change<bool>> Set(absl::string_view key, absl::string_view value,
                                   std::optional<absl::Duration> ttl);
  // Deletes whatever the key holds. Result: whether it held a visible value.
  absl::StatusOr<Change<bool>> Del(absl::string_view key);
  // Adds `delta` to a counter (created at 0). Result: the new value.
  // OutOfRange when the new value would not fit in int64.
  absl::StatusOr<Change<int64_t>> Add(absl::string_view key, int64_t delta,
                                      std::optional<absl::Duration> ttl = std::nullopt);
  // Appends to a list. Result: the new length.
  absl::StatusOr<Change<int64_t>> Push(absl::string_view key, absl::string_view value,
                                       std::optional<absl::Duration> ttl = std::nullopt);
  // Removes every item equal to `value`. Result: the new length.
  absl::StatusOr<Change<int64_t>> ListDel(absl::string_view key, absl::string_view value);
  // Removes the first (kLeft) or last (kRight) item of a list, by its dot: one
  // removal, merged once however many replicas pop it. Result: its value,
  // nullopt (no event) when the key shows nothing. (pop.cc)
  absl::StatusOr<Change<std::optional<std::string>>> Pop(absl::string_view key,
                                                         ListEnd end);
  // Takes back this node's own application of a request id that lost to an
  // earlier one (RequestLog::TakeWithdrawals): removes a push's item if still
  // there, adds the opposite of an add while the node's contribution counts it.
  // Result: whether anything was taken back (else no event). (withdraw.cc)
  absl::StatusOr<Change<bool>> Withdraw(const Withdrawal& w);
  // Removes every item of a list. Result: whether the list had items.
  absl::StatusOr<Change<bool>> Clear(absl::string_view key);
  // Result: the set's new size.
  absl::StatusOr<Change<int64_t>> SetAdd(
      absl::string_view key, absl::string_view value,
      std::optional<absl::Duration> ttl = std::nullopt);
  // TTL control (any type). A write with `ttl` gives the key that TTL; one without
  // keeps the key's TTL, except set, which replaces it (Redis semantics); a key
  // created without one gets Limits::default_ttl. A write to an expired key
  // starts it anew (it removes what it observed). Expire: sets the TTL of an
  // existing key (false: no such key). Persist: removes it (false: no such key,
  // or no TTL).
  absl::StatusOr<Change<bool>> Expire(absl::string_view key, absl::Duration ttl);
  absl::StatusOr<Change<bool>> Persist(absl::string_view key);
  absl::StatusOr<KeyTtl> Ttl(absl::string_view key) const;
  absl::StatusOr<Change<int64_t>> SetRemove(absl::string_view key,
                                            absl::string_view value);

  // ---- Memory limit (docs/merge-rules.md, "Memory limit and eviction").

  // Heap bytes of the entries and the index (stats().memory_bytes).
  size_t MemoryBytes() const;
  // ResourceExhausted (kInsufficientStorage) when kNoEviction and the store
  // would hold max_memory_bytes with `adding` more bytes (a batch's estimate;
  // each local write checks with 0 first).
  absl::Status CheckMemory(size_t adding = 0) const;
  // True when an evicting policy is set and memory_bytes exceeds the limit by
  // more than `slack` bytes.
  bool OverMemoryLimit(size_t slack = 0) const;
  // Deletes one key chosen by the policy, as Del does: a replicated delete
  // stamped now, so a concurrent newer write wins. The choice approximates LRU
  // with the CLOCK algorithm: a hand walks the keys in order, each read or write
  // marks a key, and the hand evicts the first unmarked key showing a value,
  // unmarking those it passes (kVolatileTtl: the soonest expiry among the next 16
  // unmarked keys with a TTL). It looks at 4,096 keys at most: past them it
  // takes the first candidate it unmarked. NotFound when no key can be evicted
  // among them.
  absl::StatusOr<Change<bool>> Evict();

  // ---- Replication.

  // Merges a peer's event. Idempotent; any order. InvalidArgument when the event is
  // malformed (e.g. dot from node 0, empty key, no component), OutOfRange when it
  // is stamped beyond HlcCeiling (limits().max_clock_skew ahead of the clock):
  // nothing changes.
  absl::StatusOr<ApplyResult> Apply(const Event& event);
  // Every key state that holds an operation not covered by `v` (tombstones
  // included), with this store's vector. Merging it into a store whose vector is `v`
  // gives that store everything this one has. The operations of retired origins
  // count as covered (every replica has them) unless `full` (a copy for a new
  // replica, which has nothing).
  Delta DeltaAbove(const VersionVector& v, bool full = false) const;
  // DeltaAbove in pages, so that a caller holding a lock around the store can let
  // go between pages: the key states above `v` among at most `max_scan` keys after
  // `after` (exclusive; "" = from the first key), in key order. `*next` receives
  // the key to pass as `after` for the next page, "" when the scan is complete
  // (`after` may view `*next`).
  // Pages of a changing store still make a valid delta: the states only hold
  // more. Take the vector to send (vv()) before the first page.
  std::vector<KeyState> DeltaPage(const VersionVector& v, absl::string_view after,
                                  size_t max_scan, std::string* next,
                                  bool full = false) const;
  // Merges key states (a catch-up answer, possibly in several chunks: pass the vector
  // only with the last). Like Apply, it never re-admits an atom covered by
  // collected() (see there). InvalidArgument on a malformed entry, OutOfRange on one
  // stamped beyond HlcCeiling (as Apply): earlier entries of the same call stay
  // merged (each is a valid merge on its own), the vector is not taken.
  absl::Status MergeDelta(const Delta& delta);
  // MergeDelta for the chunks of a full copy of a peer's state (a join), after
  // AdoptCollected(the peer's watermark): they are merged whole (the watermark
  // does not filter them: they are the peer's state above its watermark), while
  // Apply and MergeDelta still filter whatever else arrives meanwhile.
  absl::Status MergeCopy(const Delta& delta);
  // Highest seq applied contiguously, per origin (this node included; retired
  // origins excluded).
  const VersionVector& vv() const { return vv_; }
  // Whether this store applied `d` (vv() covers it, or its origin is retired).
  bool HasApplied(const Dot& d) const { return Covers(vv_, d) || IsRetired(d.node); }

  // ---- Retired origins (docs/replication.md, "Retired origins"). Node ids are new
  // for every process, so without retirement every restart would add an origin to
  // every vector for good.

  // The most retired origins a store remembers.
  static constexpr size_t kMaxRetired = 1024;
  // Of `origins`, those this store holds exactly up to their vv() mark: no gap,
  // and no dot of them above the mark anywhere in the data (a copy can hold
  // operations above a mark its peer had, beside a gap). Each with its mark.
  // Retiring is safe once every replica vouches the same mark. Scans the store.
  VersionVector Vouch(const std::vector<NodeId>& origins) const;
  // Retires `origin`: every replica has applied its operations up to vv()[origin]
  // and none will ever come. Its entry leaves vv() and collected(); its dots count
  // as covered by every vector (deltas, the watermark, collection); its events are
  // ignored (those above its seq un-retire it: Unretire) and its entries in
  // peers' vectors are not taken. False, changing
  // nothing, for this store's own node, an origin not in vv(), one with gaps, or
  // when kMaxRetired origins are remembered and the store's data names every
  // one of them (ForgetOldestRetired).
  bool Retire(NodeId origin);
  // Takes `origin` back into vv() and collected() at its retired seq: it was
  // not gone (a peer's vector or an event shows operations of it above that
  // seq). Apply does it for such an event. False when it is not retired.
  bool Unretire(NodeId origin);
  // Takes a peer's retired origins (the last chunk of a full copy): for each,
  // what Retire does, without its preconditions. Returns how many were new.
  size_t AdoptRetired(const VersionVector& retired);
  bool IsRetired(NodeId origin) const { return retired_.contains(origin); }
  // The seq `origin` was retired at; nullopt when it is not retired.
  std::optional<uint64_t> RetiredSeq(NodeId origin) const {
    auto it = retired_.find(origin);
    return it == retired_.end() ? std::nullopt : std::optional<uint64_t>(it->second.seq);
  }
  // Retired origins with their final seqs: those retired at or after `since`
  // (all by default).
  VersionVector Retired(absl::Time since = absl::InfinitePast()) const;
  // Forgets the retired origin retired longest ago among those that no dot of
  // the store names any more. Retire calls it when kMaxRetired origins are
  // remembered. Scans the store. False when every one is still named.
  bool ForgetOldestRetired();
  // Seqs applied above the contiguous mark (out of order), per origin.
  bool HasGaps() const;
  // Equal exactly when the states are equal (up to 128-bit hash collisions).
  Digest digest() const { return digest_; }

  // Tombstone collection, once no replica can still receive an operation a record
  // must hide: every replica applied `stable` (the minimum of the live replicas'
  // vectors) and none will emit or deliver anything stamped below `hlc_floor`. A
  // register tombstone (or a register expired before `now - grace`) goes when its
  // dot is in `stable` and its stamp below `hlc_floor`; removal records and fully
  // deleted counter origins when both dots are in `stable`; a key with nothing
  // left goes entirely.
  // Returns the number of records dropped. Raises collected() to include `stable`
  // (capped at vv()). Each key reclaimed because it expired and still showed a
  // value (counted in stats().expired) is appended to `expired` when given.
  size_t CollectGarbage(const VersionVector& stable, uint64_t hlc_floor,
                        absl::Duration grace = absl::Minutes(1),
                        std::vector<ExpiredKey>* expired = nullptr);
  // The collected watermark W: the element-wise maximum of every `stable` vector
  // passed to CollectGarbage (or adopted), never above vv(). Apply and MergeDelta
  // skip every atom whose dot it covers (it was applied here; its record may be
  // collected), but counter removals, which only take away (docs/replication.md,
  // "The collected watermark"). A peer whose W this vv() does not cover collected
  // records this store never applied.
  const VersionVector& collected() const { return collected_; }
  // Raises collected() to include `w` (a full copy of a peer whose watermark is
  // `w` was merged, or a new store is about to become one). FailedPrecondition,
  // changing nothing, when vv() does not cover `w` and the store is not new (it
  // applied or holds something).
  absl::Status AdoptCollected(const VersionVector& w);
  // The HLC this node has reached (the highest stamp it made or applied).
  uint64_t hlc() const { return hlc_; }
  // The lowest HLC any future local operation can be stamped with.
  uint64_t NextHlcFloor() const;

  // The full state of one key (nullopt when the store has no entry), for tests and
  // diagnostics.
  std::optional<KeyState> Export(absl::string_view key) const;
  StoreStats stats() const;

 private:
  using Entry = internal::Entry;
  // Orders entries by key; finds them by key.
  struct EntryLess {
    using is_transparent = void;
    bool operator()(const Entry* a, const Entry* b) const;
    bool operator()(const Entry* a, absl::string_view b) const;
    bool operator()(absl::string_view a, const Entry* b) const;
  };
  using Index = absl::btree_set<Entry*, EntryLess>;
  enum class Kind { kNone, kRegister, kCounter, kList, kSet };

  absl::Status CheckKey(absl::string_view key) const;
  // OutOfRange when a stamp of a peer's `ks` is beyond HlcCeiling(now, skew).
  absl::Status CheckStamps(const KeyState& ks) const;
  // The value's limits (max_value_bytes; max_write_bytes with `key`).
  absl::Status CheckValue(absl::string_view key, absl::string_view value) const;
  // The visible type of `e` now (kNone when it shows nothing).
  Kind Visible(const Entry* e) const;
  // The visible type of `e` at `now_ms` (0: ignoring expiry).
  Kind VisibleAt(const Entry* e, int64_t now_ms) const;
  // Keeps the count of keys that show something (StoreStats::keys) after `e`
  // changed; `gone`: `e` is about to be destroyed.
  void Recount(Entry* e, bool gone = false);
  // Marks `e` as used (the eviction hand spares it once).
  void Touch(const Entry* e) const;

  const Entry* Find(absl::string_view key) const;
  // Fails with FailedPrecondition when `key` shows a type other than `kind`.
  absl::StatusOr<const Entry*> FindAs(absl::string_view key, Kind kind) const;
  Stamp NextStamp();
  Dot NextDot();
  // Add without the memory check (a withdrawal frees, it must not be refused).
  absl::StatusOr<Change<int64_t>> AddAnyway(absl::string_view key, int64_t delta,
                                            std::optional<absl::Duration> ttl);
  // Merges `ks` into the store (creating the entry when needed), keeping the digest,
  // skipping the atoms `w` covers (the collected watermark, or nothing).
  absl::Status Merge(const KeyState& ks, const internal::Coverage& w);
  // MergeDelta and MergeCopy: merges `delta` skipping what `w` covers.
  absl::Status MergeFiltered(const Delta& delta, const internal::Coverage& w);
  // collected() with the retired origins.
  internal::Coverage Collected() const;  // (store_internal.h)
  // Adds to `ks` the removal of everything `e` shows (a register tombstone unless
  // `keep_register`, counter contributions, list items, set elements), by the
  // operation `dot` stamped `stamp`: what del does, and a write to an expired key.
  void AddRemovalOf(const Entry* e, const Stamp& stamp, const Dot& dot, KeyState* ks,
                    bool keep_register = false) const;
  // The absolute expiry (ms; 0 = none) for a write carrying `ttl`; InvalidArgument
  // when out of range. Without one: Limits::default_ttl, or none.
  absl::StatusOr<int64_t> ExpiryFor(std::optional<absl::Duration> ttl) const;
  // Gives `ks` (a write by `dot` at `stamp` to `e`, which shows nothing when
  // `fresh`) its TTL: `expires_ms` (ExpiryFor) when the write `given` one, or
  // for a new or expired key; else the key keeps its TTL. An expired key's
  // observed data is removed (AddRemovalOf).
  void WriteTtl(const Entry* e, bool fresh, bool given, int64_t expires_ms,
                const Stamp& stamp, const Dot& dot, KeyState* ks) const;
  // Drops `e` (at `it`) and every atom of it from the digest; returns the next.
  Index::iterator Purge(Index::iterator it);
  // Merges a local operation's delta and wraps it as an event.
  Event Emit(Dot dot, KeyState delta);
  // Records `dot` as applied in the vector (or above it); sets `result`.
  void Observe(const Dot& dot, ApplyResult* result);

  const NodeId node_;
  Clock* const clock_;
  const Limits limits_;

  Index index_;
  uint64_t hlc_ = 0;
  uint64_t seq_ = 0;
  VersionVector vv_;
  VersionVector collected_;  // <= vv_
  absl::flat_hash_map<NodeId, absl::btree_set<uint64_t>> above_;
  RetiredOrigins retired_;
  Digest digest_;
  size_t memory_bytes_ = 0;
  size_t counted_ = 0;      // entries with kCounted
  std::string clock_hand_;  // the key the eviction hand last stopped at
  uint64_t evicted_ = 0;
  uint64_t expired_ = 0;
  uint64_t events_applied_ = 0;
  uint64_t events_duplicate_ = 0;
  RequestLog requests_;
};

}  // namespace kv::store

#endif  // KV_STORE_STORE_H_
