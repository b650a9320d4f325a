// The store's 128-bit state digest (Digest in state.h), built from atoms.
//
// Every independent piece of a key's state (a register, a container's stamp, one
// counter contribution, one list or set item, one removal record) is an atom, hashed
// with the key under its own tag by two deterministic hashers. The digest is the sum
// (modulo 2^64, per half) of the atoms the state holds, so it does not depend on the
// order in which they were merged, and a store keeps it up to date by adding an atom
// when the piece appears and subtracting it when the piece changes or goes away.
// The hashes are the same in every process and build: replicas compare digests.
#ifndef KV_STORE_DIGEST_H_
#define KV_STORE_DIGEST_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "kv/store/hash.h"
#include "kv/store/state.h"

namespace kv::store::internal {

// Separates the atoms of the components of a key. The values are part of every
// digest: never renumber them.
enum AtomTag : uint64_t {
  kRegisterAtom = 1,
  kCounterStampAtom,
  kCounterIncAtom,
  kCounterDelAtom,
  kListStampAtom,
  kListItemAtom,
  kListRemovalAtom,
  kSetStampAtom,
  kSetItemAtom,
  kSetRemovalAtom,
  kTtlAtom,
};

inline constexpr uint64_t kDigestSeedA = 0x6b76737461746531ULL;
inline constexpr uint64_t kDigestSeedB = 0x6b76737461746532ULL;

// The atom of `key` under `tag` whose content `fill(Hasher&)` adds.
template <typename Fill>
Digest Atom(absl::string_view key, AtomTag tag, Fill&& fill) {
  Hasher a(kDigestSeedA), b(kDigestSeedB);
  a.Add(key).Add(tag);
  b.Add(key).Add(tag);
  fill(a);
  fill(b);
  return {a.value(), b.value()};
}

// Adds atom `x` to `*d`; Minus(d, x) undoes it, in any order with other atoms.
inline void Plus(Digest* d, const Digest& x) {
  d->a += x.a;
  d->b += x.b;
}
inline void Minus(Digest* d, const Digest& x) {
  d->a -= x.a;
  d->b -= x.b;
}

// A register: its winning write (stamp, seq), whether it is live, its value and
// absolute expiry (0 = never).
Digest RegisterAtom(absl::string_view key, const Stamp& stamp, uint64_t seq, bool live,
                    absl::string_view value, int64_t expires_ms);
// A container's latest operation (`tag` is one of the *StampAtom tags).
Digest StampAtom(absl::string_view key, AtomTag tag, const Stamp& s, uint64_t seq);
// A key's TTL component.
Digest TtlAtom(absl::string_view key, const TtlState& t);
// A removal record of a list item or set element (kListRemovalAtom or
// kSetRemovalAtom).
Digest RemovalAtom(absl::string_view key, AtomTag tag, const Dot& item, const Dot& by);
// A counter contribution (kCounterIncAtom) or removal record (kCounterDelAtom).
Digest CounterAtom(absl::string_view key, AtomTag tag, const CounterPart& p);
// A list item pushed at (s, seq).
Digest ListItemAtom(absl::string_view key, const Stamp& s, uint64_t seq,
                    absl::string_view value);
// One dot of a set element.
Digest SetItemAtom(absl::string_view key, absl::string_view value, const Dot& d);

}  // namespace kv::store::internal

#endif  // KV_STORE_DIGEST_H_
