#include "tools/kvbench_notify.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace kv::tools {

int64_t NotificationRevision(absl::string_view body) {
  constexpr absl::string_view kMember = "\"revision\":";
  const size_t at = body.find(kMember);
  if (at == absl::string_view::npos) return -1;
  absl::string_view digits = body.substr(at + kMember.size());
  digits = digits.substr(0, digits.find_first_not_of("0123456789"));
  uint64_t revision = 0;
  if (!absl::SimpleAtoi(digits, &revision) || revision > INT64_MAX) return -1;
  return static_cast<int64_t>(revision);
}

absl::StatusOr<std::unique_ptr<NotifyWatch>> NotifyWatch::Start(natsConnection* nc,
                                                                const std::string& link) {
  std::unique_ptr<NotifyWatch> w(new NotifyWatch());
  const std::string subject = absl::StrCat("kv.", link, ".changes.>");
  if (natsConnection_Subscribe(&w->sub_, nc, subject.c_str(), &NotifyWatch::OnMsg,
                               w.get()) != NATS_OK ||
      natsSubscription_SetPendingLimits(w->sub_, -1, -1) != NATS_OK ||
      natsConnection_Flush(nc) != NATS_OK) {
    return absl::UnavailableError(absl::StrCat("cannot subscribe to ", subject));
  }
  return w;
}

NotifyWatch::~NotifyWatch() {
  if (sub_ == nullptr) return;
  natsSubscription_Unsubscribe(sub_);
  natsSubscription_WaitForDrainCompletion(sub_, 1000);
  natsSubscription_Destroy(sub_);
}

void NotifyWatch::OnMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* w = static_cast<NotifyWatch*>(closure);
  const int64_t revision = NotificationRevision(
      absl::string_view(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)));
  natsMsg_Destroy(msg);
  if (revision < 0) return;
  const int64_t delay = absl::ToUnixMillis(absl::Now()) - (revision >> 16);
  absl::MutexLock lock(&w->mu_);
  if (w->delays_ms_.size() < (size_t{1} << 24)) w->delays_ms_.push_back(delay);
}

std::string NotifyWatch::TakeReport() {
  std::vector<int64_t> d;
  {
    absl::MutexLock lock(&mu_);
    d.swap(delays_ms_);
  }
  if (d.empty()) return "no notifications";
  std::sort(d.begin(), d.end());
  auto at = [&d](double q) { return d[static_cast<size_t>(q * (d.size() - 1))]; };
  return absl::StrFormat(
      "%d notifications, delay from the write's stamp p50 %d ms, p99 %d ms, max %d ms",
      d.size(), at(0.5), at(0.99), d.back());
}

}  // namespace kv::tools
