// kvctl watch: which subjects carry the changes of a prefix, the snapshot rule
// that merges a `watch` page with notifications (README.md, "Watching"), and
// the line printed for a change. Pure: no NATS.
#ifndef TOOLS_KVCTL_WATCH_H_
#define TOOLS_KVCTL_WATCH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kv/store/state.h"

namespace kv::tools {

// The subjects to subscribe to for the changes of keys starting with `prefix`
// on `link`. A prefix of whole subject tokens ending in '.' ("user.") names
// its subtree, plus _b64 and _h (keys under it that are not subject tokens
// go there); any other prefix takes every change of the link (">"). The
// watcher still filters by the body's key (KeyHasPrefix).
std::vector<std::string> WatchSubjects(absl::string_view link, absl::string_view prefix);

// A change notification or a watch entry, parsed.
struct Change {
  std::string key;  // decoded (raw bytes)
  std::string op;   // "" for a watch entry
  uint64_t revision = 0;
  std::string type;
  std::optional<std::string> value;  // as sent (base64 when `base64`)
  std::string count_field;           // "value", "length", "size"
  int64_t count = 0;
  store::NodeId origin = 0;
  uint64_t seq = 0;  // 0: none (an expiry)
  bool base64 = false;
  bool truncated = false;
};
// InvalidArgument when `body` is not such an object.
absl::StatusOr<Change> ParseChange(absl::string_view body);

// One page of a `watch` reply.
struct WatchPage {
  std::vector<Change> entries;
  std::string cursor;  // "" on the last page
  store::VersionVector position;
};
absl::StatusOr<WatchPage> ParseWatchPage(absl::string_view body);

// The rule that merges pages with notifications: a notification of dot
// (origin, seq) for a key in a page's key range is already in that page iff
// seq <= position[origin]. Pages are added in order; the first covers keys
// after the request's cursor (from the start), each the keys up to its cursor
// (the last one, every key after).
class SnapshotRule {
 public:
  void AddPage(const WatchPage& page);
  // True when the change is already in the page that covers its key (false
  // for a key no page covers yet, and for an expiry, which has no seq).
  bool Covered(const Change& change) const;

 private:
  struct Range {
    std::string last;  // "" = no end
    store::VersionVector position;
  };
  std::vector<Range> ranges_;
};

// "set user.1 = v  [rev 12 00000000000000ab:7]"; a watch entry: "= user.1 = v
// [rev 12]". Values as sent; "(base64)" marks base64 ones.
std::string FormatChange(const Change& change);

}  // namespace kv::tools

#endif  // TOOLS_KVCTL_WATCH_H_
