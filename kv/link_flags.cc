#include "kv/link_flags.h"

#include <algorithm>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kv/service/changes.h"
#include "kv/service/service.h"

ABSL_FLAG(std::string, link, "default",
          "link(s) to serve, comma-separated; each is an isolated store");
ABSL_FLAG(std::string, notify, "true",
          "publish change notifications on kv.<link>.changes.<key>: true (every link), "
          "false (none), or the links that do, comma-separated");

namespace kv {
namespace {

// The comma-separated names of `list`, without surrounding spaces.
std::vector<std::string> Split(absl::string_view list) {
  std::vector<std::string> names;
  for (absl::string_view name : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    names.emplace_back(absl::StripAsciiWhitespace(name));
  }
  return names;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseLinks(absl::string_view link_flag,
                                                    absl::string_view notify_flag) {
  const std::vector<std::string> links = Split(link_flag);
  if (links.empty())
    return absl::InvalidArgumentError("--link must name at least one link");
  for (size_t i = 0; i < links.size(); ++i) {
    if (!service::ValidLinkName(links[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid link '", links[i], "': use 1 to 64 letters, digits, '-' or '_'"));
    }
    if (std::find(links.begin(), links.begin() + i, links[i]) != links.begin() + i) {
      return absl::InvalidArgumentError(
          absl::StrCat("link '", links[i], "' is listed twice"));
    }
  }
  if (notify_flag != "true" && notify_flag != "false") {
    for (const std::string& name : Split(notify_flag)) {
      if (std::find(links.begin(), links.end(), name) == links.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--notify names '", name,
            "', which is not a link of --link; use true, false or served links"));
      }
    }
  }
  return links;
}

absl::StatusOr<std::vector<std::string>> LinksFromFlags() {
  return ParseLinks(absl::GetFlag(FLAGS_link), absl::GetFlag(FLAGS_notify));
}

bool NotifyOn(absl::string_view notify_flag, absl::string_view link) {
  if (notify_flag == "true") return true;
  if (notify_flag == "false") return false;
  const std::vector<std::string> names = Split(notify_flag);
  return std::find(names.begin(), names.end(), link) != names.end();
}

bool AnyNotifies(const std::vector<std::string>& links) {
  const std::string flag = absl::GetFlag(FLAGS_notify);
  return std::any_of(links.begin(), links.end(),
                     [&flag](const std::string& link) { return NotifyOn(flag, link); });
}

replication::ChangeObserver NotifyObserver(const std::string& link, size_t max_payload,
                                           replication::Bus* bus) {
  if (!NotifyOn(absl::GetFlag(FLAGS_notify), link)) return nullptr;
  return service::ChangePublisher(
      link, max_payload, [bus](absl::string_view subject, absl::string_view data) {
        return bus->Publish(subject, "", data);
      });
}

}  // namespace kv
