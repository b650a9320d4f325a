#include "kv/store/request_log.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kv::store {

RequestLog::RequestLog(absl::Duration window, size_t max_entries, size_t max_bytes,
                       absl::Duration max_ahead)
    : window_(window),
      max_ahead_(std::min(window, max_ahead)),
      max_entries_(max_entries),
      max_bytes_(max_bytes) {}

absl::Status RequestLog::CheckId(absl::string_view id) {
  bool printable = true;
  for (char c : id) {
    if (c < ' ' || c > '~') printable = false;
  }
  if (id.empty() || id.size() > kMaxIdBytes || !printable) {
    return absl::InvalidArgumentError(
        absl::StrCat("header 'Nats-Msg-Id' must be 1 to ", kMaxIdBytes,
                     " bytes of printable ASCII (space to '~')"));
  }
  return absl::OkStatus();
}

size_t RequestLog::EntryBytes(const RequestRecord& record) {
  return 2 * record.id.size() + record.reply.size() + 96;
}

int64_t RequestLog::CutoffMs(absl::Time now) const {
  return absl::ToUnixMillis(now) - absl::ToInt64Milliseconds(window_);
}

const RequestRecord* RequestLog::Find(absl::string_view id, absl::Time now) const {
  if (!enabled()) return nullptr;
  auto it = by_id_.find(id);
  if (it == by_id_.end() || it->second.record.applied_ms <= CutoffMs(now)) return nullptr;
  return &it->second.record;
}

bool RequestLog::Record(RequestRecord record, absl::Time now,
                        std::optional<Withdrawal> own) {
  if (!enabled()) return false;
  Trim(now);
  if (!CheckId(record.id).ok() || record.reply.size() > kMaxReplyBytes) return false;
  const int64_t now_ms = absl::ToUnixMillis(now);
  const int64_t window_ms = absl::ToInt64Milliseconds(window_);
  if (record.applied_ms <= now_ms - window_ms ||
      record.applied_ms > now_ms + absl::ToInt64Milliseconds(max_ahead_)) {
    return false;
  }
  if (auto it = by_id_.find(record.id); it != by_id_.end()) {
    const RequestRecord& known = it->second.record;
    // Records without a dot (a write that changed nothing) cannot be told apart:
    // the first stays.
    const bool earlier =
        known.dot.node != 0 && record.dot.node != 0 &&
        std::tie(record.applied_ms, record.dot) < std::tie(known.applied_ms, known.dot);
    if (!earlier) return false;
    // Two applications of the id: the earlier stays; this node takes its own back.
    bytes_ -= Bytes(it->second);
    if (it->second.own) withdrawals_.push_back(*std::move(it->second.own));
    by_time_.erase({known.applied_ms, known.id});
    by_id_.erase(it);
  }
  Entry entry{std::move(record), std::move(own)};
  bytes_ += Bytes(entry);
  by_time_.emplace(entry.record.applied_ms, entry.record.id);
  std::string id = entry.record.id;
  by_id_.emplace(std::move(id), std::move(entry));
  // Over the bounds: the oldest go (possibly this one, when it is the oldest).
  while (!by_id_.empty() && (by_id_.size() > max_entries_ || bytes_ > max_bytes_)) {
    DropOldest();
  }
  return true;
}

std::vector<RequestRecord> RequestLog::Newest(absl::Time now, size_t max_bytes) const {
  std::vector<RequestRecord> out;
  if (!enabled()) return out;
  const int64_t cutoff = CutoffMs(now);
  size_t bytes = 0;
  for (auto it = by_time_.rbegin(); it != by_time_.rend() && it->first > cutoff; ++it) {
    const RequestRecord& record = by_id_.find(it->second)->second.record;
    bytes += EntryBytes(record);
    if (bytes > max_bytes) break;
    out.push_back(record);
  }
  return out;
}

std::vector<Withdrawal> RequestLog::TakeWithdrawals() {
  std::vector<Withdrawal> out;
  out.swap(withdrawals_);
  return out;
}

void RequestLog::Trim(absl::Time now) {
  const int64_t cutoff = CutoffMs(now);
  while (!by_time_.empty() && by_time_.begin()->first <= cutoff) DropOldest();
}

void RequestLog::DropOldest() {
  auto oldest = by_time_.begin();
  auto it = by_id_.find(oldest->second);
  bytes_ -= Bytes(it->second);
  by_id_.erase(it);
  by_time_.erase(oldest);
}

}  // namespace kv::store
