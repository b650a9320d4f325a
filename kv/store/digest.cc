#include "kv/store/digest.h"

namespace kv::store::internal {

Digest RegisterAtom(absl::string_view key, const Stamp& stamp, uint64_t seq, bool live,
                    absl::string_view value, int64_t expires_ms) {
  return Atom(key, kRegisterAtom, [&](Hasher& h) {
    h.Add(stamp.hlc).Add(stamp.node).Add(seq).Add(live ? 1 : 0);
    h.Add(value).Add(static_cast<uint64_t>(expires_ms));
  });
}

Digest StampAtom(absl::string_view key, AtomTag tag, const Stamp& s, uint64_t seq) {
  return Atom(key, tag, [&](Hasher& h) { h.Add(s.hlc).Add(s.node).Add(seq); });
}

Digest TtlAtom(absl::string_view key, const TtlState& t) {
  return Atom(key, kTtlAtom, [&](Hasher& h) {
    h.Add(t.stamp.hlc)
        .Add(t.stamp.node)
        .Add(t.seq)
        .Add(static_cast<uint64_t>(t.expires_ms));
  });
}

Digest RemovalAtom(absl::string_view key, AtomTag tag, const Dot& item, const Dot& by) {
  return Atom(key, tag, [&](Hasher& h) {
    h.Add(item.node).Add(item.seq).Add(by.node).Add(by.seq);
  });
}

Digest CounterAtom(absl::string_view key, AtomTag tag, const CounterPart& p) {
  return Atom(key, tag, [&](Hasher& h) {
    h.Add(p.node).Add(p.seq).Add(p.base).Add(static_cast<uint64_t>(p.sum));
    h.Add(p.by.node).Add(p.by.seq);
  });
}

Digest ListItemAtom(absl::string_view key, const Stamp& s, uint64_t seq,
                    absl::string_view value) {
  return Atom(key, kListItemAtom,
              [&](Hasher& h) { h.Add(s.hlc).Add(s.node).Add(seq).Add(value); });
}

Digest SetItemAtom(absl::string_view key, absl::string_view value, const Dot& d) {
  return Atom(key, kSetItemAtom, [&](Hasher& h) { h.Add(value).Add(d.node).Add(d.seq); });
}

}  // namespace kv::store::internal
