#include "kv/store/entry.h"

#include <cstring>
#include <new>

namespace kv::store::internal {

int64_t CounterComp::Contribution(const CounterPart& inc, const CounterPart* del) {
  if (!Live(inc, del)) return 0;
  if (del != nullptr && del->base == inc.base) return WrapSub(inc.sum, del->sum);
  return inc.sum;
}

bool CounterComp::Live() const {
  for (const auto& [node, inc] : incs) {
    if (Live(inc, DelOf(node))) return true;
  }
  return false;
}

int64_t CounterComp::Value() const {
  int64_t v = 0;
  for (const auto& [node, inc] : incs) v = WrapAdd(v, Contribution(inc, DelOf(node)));
  return v;
}

Entry* Entry::Create(absl::string_view key, absl::string_view value) {
  void* mem = ::operator new(sizeof(Entry) + key.size() + value.size());
  Entry* e = new (mem) Entry();
  e->key_len_ = static_cast<uint16_t>(key.size());
  e->value_len_ = static_cast<uint32_t>(value.size());
  std::memcpy(e->bytes(), key.data(), key.size());
  if (!value.empty()) {
    std::memcpy(e->bytes() + key.size(), value.data(), value.size());
  }
  return e;
}

void Entry::Destroy(Entry* e) {
  delete e->extras;
  e->~Entry();
  ::operator delete(e);
}

Entry* Entry::WithValue(Entry* e, absl::string_view value) {
  if (value.size() == e->value_len_) {
    if (!value.empty()) {
      std::memcpy(e->bytes() + e->key_len_, value.data(), value.size());
    }
    return e;
  }
  Entry* n = Create(e->key(), value);
  n->reg_hlc = e->reg_hlc;
  n->reg_node = e->reg_node;
  n->reg_seq = e->reg_seq;
  n->expires_ms = e->expires_ms;
  n->flags = e->flags;
  n->extras = e->extras;
  e->extras = nullptr;
  Destroy(e);
  return n;
}

void Entry::SetRegister(const RegisterState& reg) {
  reg_hlc = reg.stamp.hlc;
  reg_node = reg.stamp.node;
  reg_seq = reg.seq;
  expires_ms = reg.live ? reg.expires_ms : 0;
  flags = (flags & ~(kHasRegister | kLive)) | kHasRegister | (reg.live ? kLive : 0);
}

void Entry::ClearRegister() {
  flags &= ~(kHasRegister | kLive);
  reg_hlc = reg_node = reg_seq = 0;
  expires_ms = 0;
}

}  // namespace kv::store::internal
