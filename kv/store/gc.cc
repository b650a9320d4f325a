// Tombstone collection: Store::CollectGarbage (see its contract in store.h).
#include <cstddef>
#include <cstdint>

#include "absl/container/btree_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kv/store/digest.h"
#include "kv/store/entry.h"
#include "kv/store/state.h"
#include "kv/store/store.h"
#include "kv/store/store_internal.h"

namespace kv::store {
namespace {

using internal::AtomTag;
using internal::CounterAtom;
using internal::CounterComp;
using internal::Entry;
using internal::Extras;
using internal::kCounterDelAtom;
using internal::kCounterIncAtom;
using internal::kCounterStampAtom;
using internal::kListRemovalAtom;
using internal::kListStampAtom;
using internal::kSetRemovalAtom;
using internal::kSetStampAtom;
using internal::ListComp;
using internal::Minus;
using internal::RegisterAtom;
using internal::RemovalAtom;
using internal::SetComp;
using internal::StampAtom;
using internal::ToMillis;

}  // namespace

size_t Store::CollectGarbage(const VersionVector& stable, uint64_t hlc_floor,
                             absl::Duration grace) {
  const int64_t purge_before = ToMillis(clock_->Now() - grace);
  size_t dropped = 0;
  for (auto it = index_.begin(); it != index_.end();) {
    Entry* e = *it;
    if (e->has_register() &&
        (!e->live() || (e->expires_ms != 0 && e->expires_ms < purge_before)) &&
        Covers(stable, e->reg_dot()) && e->reg_hlc < hlc_floor) {
      Minus(&digest_, RegisterAtom(*e));
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
      auto drop_removals = [&](absl::btree_map<Dot, Dot>* removed, AtomTag tag) {
        for (auto r = removed->begin(); r != removed->end();) {
          if (Covers(stable, r->first) && Covers(stable, r->second)) {
            Minus(&digest_, RemovalAtom(key, tag, r->first, r->second));
            x->bytes -= internal::kRemovalBytes;
            r = removed->erase(r);
            ++dropped;
          } else {
            ++r;
          }
        }
      };
      if (x->counter) {
        CounterComp& c = *x->counter;
        for (auto d = c.dels.begin(); d != c.dels.end();) {
          auto inc = c.incs.find(d->first);
          const bool has_inc = inc != c.incs.end();
          // A removal of an older epoch: the origin has moved on.
          const bool stale = has_inc && d->second.base < inc->second.base &&
                             d->second.seq < inc->second.seq;
          const bool all_deleted = !has_inc || inc->second.seq <= d->second.seq;
          const bool stable_del = Covers(stable, Dot{d->first, d->second.seq}) &&
                                  Covers(stable, d->second.by);
          const bool stable_inc =
              !has_inc || Covers(stable, Dot{inc->first, inc->second.seq});
          if (stale && stable_del) {
            Minus(&digest_, CounterAtom(key, kCounterDelAtom, d->second));
            d = c.dels.erase(d);
            x->bytes -= internal::kCounterPartBytes;
            ++dropped;
          } else if (all_deleted && stable_inc && stable_del) {
            if (has_inc) {
              Minus(&digest_, CounterAtom(key, kCounterIncAtom, inc->second));
              c.incs.erase(inc);
              x->bytes -= internal::kCounterPartBytes;
            }
            Minus(&digest_, CounterAtom(key, kCounterDelAtom, d->second));
            d = c.dels.erase(d);
            x->bytes -= internal::kCounterPartBytes;
            ++dropped;
          } else {
            ++d;
          }
        }
        if (c.incs.empty() && c.dels.empty() && c.stamp.hlc < hlc_floor) {
          Minus(&digest_, StampAtom(key, kCounterStampAtom, c.stamp, c.stamp_seq));
          x->bytes -= sizeof(CounterComp);
          x->counter.reset();
        }
      }
      if (x->list) {
        drop_removals(&x->list->removed, kListRemovalAtom);
        if (x->list->items.empty() && x->list->removed.empty() &&
            x->list->stamp.hlc < hlc_floor) {
          Minus(&digest_, StampAtom(key, kListStampAtom, x->list->stamp, x->list->stamp_seq));
          x->bytes -= sizeof(ListComp);
          x->list.reset();
        }
      }
      if (x->set) {
        drop_removals(&x->set->removed, kSetRemovalAtom);
        if (x->set->elems.empty() && x->set->removed.empty() &&
            x->set->stamp.hlc < hlc_floor) {
          Minus(&digest_, StampAtom(key, kSetStampAtom, x->set->stamp, x->set->stamp_seq));
          x->bytes -= sizeof(SetComp);
          x->set.reset();
        }
      }
      memory_bytes_ -= bytes_before - x->bytes;
    }
    if (e->Empty()) {
      memory_bytes_ -= e->HeapBytes();
      it = index_.erase(it);
      Entry::Destroy(e);
    } else {
      ++it;
    }
  }
  return dropped;
}

}  // namespace kv::store
