#include "kv/service/confirm.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kv::service {

std::string ConfirmSubject(absl::string_view link, store::NodeId origin) {
  return absl::StrFormat("_kv.%s.confirm.%016x", link, origin);
}

std::string AckPrefix(absl::string_view link, store::NodeId origin) {
  return absl::StrFormat("_kv.%s.ack.%016x", link, origin);
}

std::string AckSubject(absl::string_view link, store::NodeId origin) {
  return absl::StrCat(AckPrefix(link, origin), ".a");
}

void Confirmations::Record(store::NodeId peer, uint64_t seq) {
  absl::MutexLock lock(&mu_);
  auto it = acked_.find(peer);
  if (it == acked_.end()) {
    if (acked_.size() >= kMaxPeers) return;
    acked_.emplace(peer, seq);
  } else {
    it->second = std::max(it->second, seq);
  }
}

bool Confirmations::Enough(const Wait* w) {
  size_t n = 0;
  for (store::NodeId m : *w->members) {
    auto it = w->self->acked_.find(m);
    if (it != w->self->acked_.end() && it->second >= w->seq) ++n;
  }
  return n >= w->needed;
}

bool Confirmations::Await(uint64_t seq, const std::vector<store::NodeId>& members,
                          size_t needed, absl::Duration timeout) {
  const Wait wait{this, seq, &members, needed};
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&Confirmations::Enough, &wait), timeout);
}

void Confirmations::Clear() {
  absl::MutexLock lock(&mu_);
  acked_.clear();
}

}  // namespace kv::service
