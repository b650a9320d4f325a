#include "kv/store/state_text.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace kv::store::text {

std::string Esc(absl::string_view s) { return "\"" + absl::CHexEscape(s) + "\""; }
std::string StampStr(const Stamp& s) {
  return absl::StrCat("(", s.hlc, ",", absl::Hex(s.node), ")");
}
std::string DotStr(const Dot& d) {
  return absl::StrCat("<", absl::Hex(d.node), ":", d.seq, ">");
}

// A canonical text form of a key's exported state (vectors sorted).
std::string KeyStateText(const std::optional<KeyState>& ks) {
  if (!ks.has_value()) return "<no entry>";
  std::string out = "key=" + Esc(ks->key) + "\n";
  if (ks->reg) {
    const RegisterState& r = *ks->reg;
    absl::StrAppend(&out, " reg ", StampStr(r.stamp), " seq=", r.seq, " live=", r.live,
                    " value=", Esc(r.value), " expires_ms=", r.expires_ms, "\n");
  }
  if (ks->counter) {
    auto key = [](const CounterPart& p) {
      return std::make_tuple(p.node, p.by.node, p.by.seq, p.base, p.seq, p.sum);
    };
    auto less = [&](const CounterPart& x, const CounterPart& y) {
      return key(x) < key(y);
    };
    auto incs = ks->counter->incs, dels = ks->counter->dels;
    std::sort(incs.begin(), incs.end(), less);
    std::sort(dels.begin(), dels.end(), less);
    absl::StrAppend(&out, " counter ", StampStr(ks->counter->stamp),
                    " seq=", ks->counter->stamp_seq, "\n");
    for (const CounterPart& p : incs) {
      absl::StrAppend(&out, "  inc node=", absl::Hex(p.node), " base=", p.base,
                      " seq=", p.seq, " sum=", p.sum, "\n");
    }
    for (const CounterPart& p : dels) {
      absl::StrAppend(&out, "  del node=", absl::Hex(p.node), " base=", p.base,
                      " sum=", p.sum, " by=", DotStr(p.by), "\n");
    }
  }
  if (ks->list) {
    auto items = ks->list->items;
    std::sort(items.begin(), items.end(), [](const ListItem& x, const ListItem& y) {
      return std::tie(x.stamp.hlc, x.stamp.node, x.seq, x.value) <
             std::tie(y.stamp.hlc, y.stamp.node, y.seq, y.value);
    });
    auto removed = ks->list->removed;
    std::sort(removed.begin(), removed.end());
    absl::StrAppend(&out, " list ", StampStr(ks->list->stamp),
                    " seq=", ks->list->stamp_seq, "\n");
    for (const ListItem& i : items) {
      absl::StrAppend(&out, "  item ", StampStr(i.stamp), " seq=", i.seq, " ",
                      Esc(i.value), "\n");
    }
    for (const Removal& r : removed) {
      absl::StrAppend(&out, "  removed ", DotStr(r.item), " by ", DotStr(r.by), "\n");
    }
  }
  if (ks->set) {
    auto items = ks->set->items;
    std::sort(items.begin(), items.end(), [](const SetItem& x, const SetItem& y) {
      return std::tie(x.value, x.dot) < std::tie(y.value, y.dot);
    });
    auto removed = ks->set->removed;
    std::sort(removed.begin(), removed.end());
    absl::StrAppend(&out, " set ", StampStr(ks->set->stamp), " seq=", ks->set->stamp_seq,
                    "\n");
    for (const SetItem& i : items) {
      absl::StrAppend(&out, "  elem ", Esc(i.value), " ", DotStr(i.dot), "\n");
    }
    for (const Removal& r : removed) {
      absl::StrAppend(&out, "  removed ", DotStr(r.item), " by ", DotStr(r.by), "\n");
    }
  }
  if (ks->ttl) {
    absl::StrAppend(&out, " ttl ", StampStr(ks->ttl->stamp), " seq=", ks->ttl->seq,
                    " expires_ms=", ks->ttl->expires_ms, "\n");
  }
  return out;
}

}  // namespace kv::store::text
