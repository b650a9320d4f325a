// Tombstone collection: Store::CollectGarbage (see its contract in store.h).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kv/store/digest.h"
#include "kv/store/entry.h"
#include "kv/store/state.h"
#include "kv/store/store.h"
#include "kv/store/store_internal.h"

namespace kv::store {
namespace {

using internal::CounterComp;
using internal::Coverage;
using internal::Entry;
using internal::Extras;

// Drops the records of `*removed` whose item and removing dots are both in
// `stable`, with their `tag` atoms and bytes. Returns the number dropped.
size_t DropStableRemovals(absl::string_view key, internal::AtomTag tag,
                          const Coverage& stable, absl::btree_map<Dot, Dot>* removed,
                          Digest* digest, size_t* bytes) {
  size_t dropped = 0;
  for (auto r = removed->begin(); r != removed->end();) {
    if (stable.Covers(r->first) && stable.Covers(r->second)) {
      internal::Minus(digest, internal::RemovalAtom(key, tag, r->first, r->second));
      *bytes -= internal::kRemovalBytes;
      r = removed->erase(r);
      ++dropped;
    } else {
      ++r;
    }
  }
  return dropped;
}

// Drops a counter's removal records, with the increments they removed entirely,
// once they are stable. Returns the number of removal records dropped.
size_t DropStableCounterRemovals(absl::string_view key, const Coverage& stable,
                                 CounterComp* c, Digest* digest, size_t* bytes) {
  size_t dropped = 0;
  for (auto d = c->dels.begin(); d != c->dels.end();) {
    auto inc = c->incs.find(d->first);
    const bool has_inc = inc != c->incs.end();
    // A removal of an older epoch: the origin has moved on.
    const bool stale =
        has_inc && d->second.base < inc->second.base && d->second.seq < inc->second.seq;
    const bool all_deleted = !has_inc || inc->second.seq <= d->second.seq;
    const bool stable_del =
        stable.Covers(Dot{d->first, d->second.seq}) && stable.Covers(d->second.by);
    const bool stable_inc = !has_inc || stable.Covers(Dot{inc->first, inc->second.seq});
    if (stale && stable_del) {
      internal::Minus(digest,
                      internal::CounterAtom(key, internal::kCounterDelAtom, d->second));
      d = c->dels.erase(d);
      *bytes -= internal::kCounterPartBytes;
      ++dropped;
    } else if (all_deleted && stable_inc && stable_del) {
      if (has_inc) {
        internal::Minus(
            digest, internal::CounterAtom(key, internal::kCounterIncAtom, inc->second));
        c->incs.erase(inc);
        *bytes -= internal::kCounterPartBytes;
      }
      internal::Minus(digest,
                      internal::CounterAtom(key, internal::kCounterDelAtom, d->second));
      d = c->dels.erase(d);
      *bytes -= internal::kCounterPartBytes;
      ++dropped;
    } else {
      ++d;
    }
  }
  return dropped;
}

// Drops container `*comp` (with its stamp atom `tag` and its bytes) when it holds
// nothing and its stamp is below `hlc_floor`. `Comp` is CounterComp, ListComp or
// SetComp; `empty` says whether it holds nothing.
template <typename Comp>
void DropEmpty(absl::string_view key, internal::AtomTag tag, bool empty,
               uint64_t hlc_floor, std::optional<Comp>* comp, Digest* digest,
               size_t* bytes) {
  if (!empty || (*comp)->stamp.hlc >= hlc_floor) return;
  internal::Minus(digest,
                  internal::StampAtom(key, tag, (*comp)->stamp, (*comp)->stamp_seq));
  *bytes -= sizeof(Comp);
  comp->reset();
}

// The highest stamp of anything `e` holds (MaxHlcOf's, with its node).
Stamp MaxStampOf(const Entry& e) {
  Stamp m = e.has_register() ? e.reg_stamp() : Stamp{};
  if (const Extras* x = e.extras) {
    if (x->counter) m = std::max(m, x->counter->stamp);
    if (x->list) m = std::max(m, x->list->stamp);
    if (x->set) m = std::max(m, x->set->stamp);
    if (x->ttl) m = std::max(m, x->ttl->stamp);
  }
  return m;
}

}  // namespace

Store::Index::iterator Store::Purge(Index::iterator it) {
  Entry* e = *it;
  const absl::string_view key = e->key();
  if (e->has_register()) internal::Minus(&digest_, internal::RegisterAtom(*e));
  if (const Extras* x = e->extras) {
    if (x->counter) {
      internal::Minus(&digest_,
                      internal::StampAtom(key, internal::kCounterStampAtom,
                                          x->counter->stamp, x->counter->stamp_seq));
      for (const auto& [node, p] : x->counter->incs) {
        internal::Minus(&digest_,
                        internal::CounterAtom(key, internal::kCounterIncAtom, p));
      }
      for (const auto& [node, p] : x->counter->dels) {
        internal::Minus(&digest_,
                        internal::CounterAtom(key, internal::kCounterDelAtom, p));
      }
    }
    if (x->list) {
      internal::Minus(&digest_, internal::StampAtom(key, internal::kListStampAtom,
                                                    x->list->stamp, x->list->stamp_seq));
      for (const auto& [pos, value] : x->list->items) {
        internal::Minus(&digest_, internal::ListItemAtom(key, Stamp{pos.hlc, pos.node},
                                                         pos.seq, value));
      }
      for (const auto& [item, by] : x->list->removed) {
        internal::Minus(&digest_,
                        internal::RemovalAtom(key, internal::kListRemovalAtom, item, by));
      }
    }
    if (x->set) {
      internal::Minus(&digest_, internal::StampAtom(key, internal::kSetStampAtom,
                                                    x->set->stamp, x->set->stamp_seq));
      for (const auto& [value, dots] : x->set->elems) {
        for (const Dot& d : dots) {
          internal::Minus(&digest_, internal::SetItemAtom(key, value, d));
        }
      }
      for (const auto& [item, by] : x->set->removed) {
        internal::Minus(&digest_,
                        internal::RemovalAtom(key, internal::kSetRemovalAtom, item, by));
      }
    }
    if (x->ttl) internal::Minus(&digest_, internal::TtlAtom(key, *x->ttl));
  }
  Recount(e, /*gone=*/true);
  memory_bytes_ -= e->HeapBytes();
  it = index_.erase(it);
  Entry::Destroy(e);
  return it;
}

size_t Store::CollectGarbage(const VersionVector& stable, uint64_t hlc_floor,
                             absl::Duration grace, std::vector<ExpiredKey>* expired) {
  // The watermark first: what goes below is covered by it.
  for (const auto& [node, seq] : stable) {
    if (IsRetired(node)) continue;
    const uint64_t mark = std::min(seq, vv_.count(node) > 0 ? vv_.at(node) : 0);
    if (mark == 0) continue;
    uint64_t& w = collected_[node];
    w = std::max(w, mark);
  }
  const int64_t purge_before = internal::ToMillis(clock_->Now() - grace);
  const Coverage applied(stable, &retired_);  // by every replica
  size_t dropped = 0;
  for (auto it = index_.begin(); it != index_.end();) {
    Entry* e = *it;
    // A key that expired `grace` ago goes whole, once every replica applied all
    // of it and nothing stamped before the floor can still come.
    if (internal::Expired(e->KeyExpiry(), purge_before) &&
        internal::MaxHlcOf(*e) < hlc_floor) {
      bool all_applied = true;
      internal::ForEachDot(*e, [&](const Dot& d) { all_applied &= applied.Covers(d); });
      if (all_applied) {
        if (VisibleAt(e, 0) != Kind::kNone) {
          ++expired_;
          if (expired != nullptr) {
            expired->push_back({std::string(e->key()), MaxStampOf(*e).node});
          }
        }
        it = Purge(it);
        ++dropped;
        continue;
      }
    }
    // A TTL older than the register governs nothing (KeyExpiry): it goes first,
    // and a register tombstone goes only once no older TTL stands behind it (it
    // would govern the key again).
    if (Extras* x = e->extras; x != nullptr && x->ttl && e->has_register() &&
                               x->ttl->stamp < e->reg_stamp() &&
                               applied.Covers(Dot{x->ttl->stamp.node, x->ttl->seq}) &&
                               x->ttl->stamp.hlc < hlc_floor) {
      internal::Minus(&digest_, internal::TtlAtom(e->key(), *x->ttl));
      x->ttl.reset();
      ++dropped;
    }
    const bool ttl_behind = e->extras != nullptr && e->extras->ttl && e->has_register() &&
                            e->extras->ttl->stamp < e->reg_stamp();
    if (e->has_register() && !e->live() && !ttl_behind && applied.Covers(e->reg_dot()) &&
        e->reg_hlc < hlc_floor) {
      internal::Minus(&digest_, internal::RegisterAtom(*e));
      memory_bytes_ -= e->AllocBytes();
      e = Entry::WithValue(e, "");
      const_cast<Entry*&>(*it) = e;  // same key, so the index order is unchanged
      memory_bytes_ += e->AllocBytes();
      e->ClearRegister();
      ++dropped;
    }
    const absl::string_view key = e->key();  // after any reallocation above
    if (Extras* x = e->extras) {
      const size_t bytes_before = x->bytes;
      if (x->counter) {
        CounterComp& c = *x->counter;
        dropped += DropStableCounterRemovals(key, applied, &c, &digest_, &x->bytes);
        DropEmpty(key, internal::kCounterStampAtom, c.incs.empty() && c.dels.empty(),
                  hlc_floor, &x->counter, &digest_, &x->bytes);
      }
      if (x->list) {
        dropped += DropStableRemovals(key, internal::kListRemovalAtom, applied,
                                      &x->list->removed, &digest_, &x->bytes);
        DropEmpty(key, internal::kListStampAtom,
                  x->list->items.empty() && x->list->removed.empty(), hlc_floor, &x->list,
                  &digest_, &x->bytes);
      }
      if (x->set) {
        dropped += DropStableRemovals(key, internal::kSetRemovalAtom, applied,
                                      &x->set->removed, &digest_, &x->bytes);
        DropEmpty(key, internal::kSetStampAtom,
                  x->set->elems.empty() && x->set->removed.empty(), hlc_floor, &x->set,
                  &digest_, &x->bytes);
      }
      // A TTL that governs nothing any more: alone.
      if (x->ttl && !e->has_register() && !x->counter && !x->list && !x->set &&
          applied.Covers(Dot{x->ttl->stamp.node, x->ttl->seq}) &&
          x->ttl->stamp.hlc < hlc_floor) {
        internal::Minus(&digest_, internal::TtlAtom(key, *x->ttl));
        x->ttl.reset();
        ++dropped;
      }
      memory_bytes_ -= bytes_before - x->bytes;
    }
    if (e->Empty()) {
      Recount(e, /*gone=*/true);
      memory_bytes_ -= e->HeapBytes();
      it = index_.erase(it);
      Entry::Destroy(e);
    } else {
      Recount(e);
      ++it;
    }
  }
  return dropped;
}

absl::Status Store::AdoptCollected(const VersionVector& w) {
  const bool fresh = index_.empty() && vv_.empty() && above_.empty() && seq_ == 0;
  for (const auto& [node, seq] : w) {
    if (!fresh && seq != 0 && !HasApplied(Dot{node, seq})) {
      return absl::FailedPreconditionError("collected watermark above the vector");
    }
  }
  for (const auto& [node, seq] : w) {
    if (seq == 0 || IsRetired(node)) continue;
    uint64_t& mark = collected_[node];
    mark = std::max(mark, seq);
  }
  return absl::OkStatus();
}

}  // namespace kv::store
