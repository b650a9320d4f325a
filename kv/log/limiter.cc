#include "kv/log/limiter.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace kv::log {

std::string Limiter::KindOf(absl::string_view line) {
  std::string kind;
  line = line.substr(0, 80);
  size_t i = 0;
  while (i < line.size()) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (!absl::ascii_isalnum(c)) {
      kind.push_back(line[i++]);
      continue;
    }
    // A word (letters and digits); one with a digit in it (a number, a hex id)
    // stands for any such word.
    size_t end = i;
    bool digit = false;
    while (end < line.size() &&
           absl::ascii_isalnum(static_cast<unsigned char>(line[end]))) {
      digit = digit || absl::ascii_isdigit(static_cast<unsigned char>(line[end]));
      ++end;
    }
    if (digit) {
      kind.push_back('#');
    } else {
      kind.append(line.data() + i, end - i);
    }
    i = end;
  }
  return kind;
}

std::string Limiter::Summary(const Kind& k, absl::Duration interval) {
  return absl::StrCat("(", k.suppressed, " more like this in ",
                      absl::FormatDuration(interval), ", not logged: ", k.example, ")");
}

std::vector<std::string> Limiter::Filter(absl::string_view line, absl::Time now) {
  std::vector<std::string> out;
  std::string kind = KindOf(line);
  // Past kMaxKinds, every new kind counts as one: "" (no line's kind is empty).
  if (kinds_.size() >= kMaxKinds && !kinds_.contains(kind)) kind.clear();
  auto it = kinds_.find(kind);
  if (it == kinds_.end()) {
    Kind k;
    k.window_start = now;
    k.written = 1;
    kinds_.emplace(std::move(kind), std::move(k));
    out.emplace_back(line);
    return out;
  }
  Kind& k = it->second;
  if (now - k.window_start >= interval_) {
    if (k.suppressed > 0) out.push_back(Summary(k, interval_));
    k.window_start = now;
    k.written = 0;
    k.suppressed = 0;
    k.example.clear();
  }
  if (k.written < burst_) {
    ++k.written;
    out.emplace_back(line);
  } else if (k.suppressed++ == 0) {
    k.example = std::string(line);
  }
  return out;
}

std::vector<std::string> Limiter::Flush(absl::Time now) {
  std::vector<std::string> out;
  for (auto it = kinds_.begin(); it != kinds_.end();) {
    Kind& k = it->second;
    if (now - k.window_start < interval_) {
      ++it;
      continue;
    }
    if (k.suppressed > 0) {
      out.push_back(Summary(k, interval_));
      k.window_start = now;
      k.written = 0;
      k.suppressed = 0;
      k.example.clear();
      ++it;
    } else {
      kinds_.erase(it++);
    }
  }
  return out;
}

}  // namespace kv::log
