// The compact in-memory form of one key of the store.
//
// Most keys are plain registers, so an Entry is one allocation: a small header,
// then the key bytes, then the register's value. Counters, lists and sets are rare
// next to registers and live out of line, in Extras. The store keeps its own account
// of the heap bytes it holds (StoreStats::memory_bytes): AllocBytes() for the entry,
// Extras::bytes for the components, grown and shrunk with the *Bytes constants below
// as pieces come and go.
//
// Thread safety: none; the owning Store serialises all access.
#ifndef KV_STORE_ENTRY_H_
#define KV_STORE_ENTRY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "kv/store/state.h"

namespace kv::store::internal {

// Approximate heap bytes of the pieces of a component.
inline constexpr size_t kCounterPartBytes = 64;  // one origin's increment or removal
inline constexpr size_t kRemovalBytes = 48;      // one list or set removal record
inline constexpr size_t kSetDotBytes = 24;       // one dot of a set element
// One list item or set element holding `value`.
inline size_t ItemBytes(absl::string_view value) { return 64 + value.size(); }

// The heap bytes an allocation of `n` bytes takes (glibc: 8 bytes of header,
// 16-byte chunks, 32 at least), so that the store's account follows the process's
// heap, not just what it asked for.
inline size_t HeapChunk(size_t n) {
  const size_t chunk = (n + 8 + 15) & ~size_t{15};
  return chunk < 32 ? 32 : chunk;
}

// True when an expiry time (0 = never) has passed at `now_ms`.
inline bool Expired(int64_t expires_ms, int64_t now_ms) {
  return expires_ms != 0 && now_ms >= expires_ms;
}

// Wrapping arithmetic: counter sums are kept modulo 2^64, so no merge order can
// overflow; the visible value is checked when a local add is made.
inline int64_t WrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
inline int64_t WrapSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}

// A counter: per origin, its latest increment and its latest removal.
struct CounterComp {
  Stamp stamp;  // of the latest operation on the counter
  uint64_t stamp_seq = 0;
  std::map<NodeId, CounterPart> incs;  // per origin, the latest increment
  std::map<NodeId, CounterPart> dels;  // per origin, the latest removal

  // An origin's contribution is live unless a removal observed its latest
  // increment; what a removal observed in the same epoch is subtracted, a removal
  // of an older epoch no longer matters (that epoch was removed entirely).
  static bool Live(const CounterPart& inc, const CounterPart* del) {
    return del == nullptr || del->seq < inc.seq;
  }
  static int64_t Contribution(const CounterPart& inc, const CounterPart* del);
  // The removal recorded for origin `node`, or nullptr.
  const CounterPart* DelOf(NodeId node) const {
    auto d = dels.find(node);
    return d == dels.end() ? nullptr : &d->second;
  }
  // True when some origin's contribution is live (the counter shows).
  bool Live() const;
  // The sum of the live contributions, modulo 2^64.
  int64_t Value() const;
};

// The position of a list item: the push's (hlc, node, seq), the same on every
// replica.
struct ListPos {
  uint64_t hlc;
  NodeId node;
  uint64_t seq;
  friend bool operator<(const ListPos& a, const ListPos& b) {
    return std::tie(a.hlc, a.node, a.seq) < std::tie(b.hlc, b.node, b.seq);
  }
};

struct ListComp {
  Stamp stamp;  // of the latest operation on the list
  uint64_t stamp_seq = 0;
  absl::btree_map<ListPos, std::string> items;
  absl::flat_hash_map<Dot, uint64_t> hlc_of;  // item dot -> its hlc (finds items)
  absl::btree_map<Dot, Dot> removed;          // item dot -> removing dot
};

struct SetComp {
  Stamp stamp;  // of the latest operation on the set
  uint64_t stamp_seq = 0;
  // Element -> its dots. A node-based map: elem_of points at its keys.
  std::map<std::string, std::vector<Dot>, std::less<>> elems;
  absl::flat_hash_map<Dot, const std::string*> elem_of;  // dot -> its element
  absl::btree_map<Dot, Dot> removed;                     // element dot -> removing dot
};

// Counters, lists, sets and TTLs apart from a register's: rare next to plain
// registers, so kept out of line.
struct Extras {
  std::optional<CounterComp> counter;
  std::optional<ListComp> list;
  std::optional<SetComp> set;
  std::optional<TtlState> ttl;
  // Approximate heap bytes of this struct and its components.
  size_t bytes = HeapChunk(sizeof(Extras));
};

// One allocation per key: this header, then the key bytes, then the register value.
// 56 bytes of header on 64-bit targets; a 16-byte key with a 100-byte value takes one
// 172-byte allocation (a 192-byte glibc chunk).
// The register's fields are plain members; an entry without a register has them 0.
class Entry {
 public:
  static constexpr uint8_t kHasRegister = 1;
  static constexpr uint8_t kLive = 2;
  // Read or written since the eviction hand last passed (Store::Evict).
  static constexpr uint8_t kReferenced = 4;
  // Counted among the keys that show something (StoreStats::keys).
  static constexpr uint8_t kCounted = 8;

  // A new entry for `key` holding `value` and nothing else. Free with Destroy.
  static Entry* Create(absl::string_view key, absl::string_view value);
  // Frees `e` and its extras.
  static void Destroy(Entry* e);
  // An entry like `e` but holding `value`; `e` is consumed (reused in place when the
  // value has the same size, else freed: callers must replace their pointer).
  static Entry* WithValue(Entry* e, absl::string_view value);

  absl::string_view key() const { return {bytes(), key_len_}; }
  absl::string_view value() const { return {bytes() + key_len_, value_len_}; }
  // Heap bytes of the entry's own allocation (not the extras).
  size_t AllocBytes() const { return HeapChunk(sizeof(Entry) + key_len_ + value_len_); }
  // Bytes of the allocation and of the extras.
  size_t HeapBytes() const { return AllocBytes() + (extras ? extras->bytes : 0); }

  bool has_register() const { return flags & kHasRegister; }
  bool live() const { return flags & kLive; }
  Stamp reg_stamp() const { return {reg_hlc, reg_node}; }
  Dot reg_dot() const { return {reg_node, reg_seq}; }
  // True when the register holds a value and the key has not expired at `now_ms`.
  bool RegisterVisible(int64_t now_ms) const {
    return has_register() && live() && !Expired(KeyExpiry(), now_ms);
  }
  // Takes the register of `reg` (its value must already be the entry's value).
  void SetRegister(const RegisterState& reg);
  // Forgets the register's fields (the value must already be empty).
  void ClearRegister();
  // The extras, created empty when the entry has none.
  Extras& MutableExtras() {
    if (extras == nullptr) extras = new Extras();
    return *extras;
  }
  // True when the entry holds no register and no component.
  bool Empty() const {
    return !has_register() && (extras == nullptr || (!extras->counter && !extras->list &&
                                                     !extras->set && !extras->ttl));
  }
  // The key's expiry (0 = never): the register's or the TTL component's,
  // whichever was written later (the TTL's when one operation wrote both).
  int64_t KeyExpiry() const {
    const bool ttl_later = extras != nullptr && extras->ttl &&
                           (!has_register() || !(extras->ttl->stamp < reg_stamp()));
    return ttl_later ? extras->ttl->expires_ms : (has_register() ? expires_ms : 0);
  }

  uint64_t reg_hlc = 0;
  NodeId reg_node = 0;
  uint64_t reg_seq = 0;
  int64_t expires_ms = 0;
  Extras* extras = nullptr;  // owned; nullptr when the key has only a register
  uint8_t flags = 0;

 private:
  Entry() = default;
  ~Entry() = default;
  char* bytes() { return reinterpret_cast<char*>(this + 1); }
  const char* bytes() const { return reinterpret_cast<const char*>(this + 1); }

  uint32_t value_len_ = 0;
  uint16_t key_len_ = 0;
};

}  // namespace kv::store::internal

#endif  // KV_STORE_ENTRY_H_
