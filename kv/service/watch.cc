#include "kv/service/watch.h"

#include <utility>
#include <vector>

#include "kv/codec/position.h"
#include "kv/service/changes.h"
#include "kv/store/store.h"

namespace kv::service {

absl::StatusOr<std::string> Watch(const codec::ApiRequest& r,
                                  const replication::Replica& replica) {
  const size_t max_reply = replica.limits().max_reply_bytes;
  std::vector<std::string> entries;  // JSON objects
  std::string cursor;
  std::string position;
  // One lock: the entries and the position describe the same state.
  absl::Status status = replica.Read([&](const store::Store& s) -> absl::Status {
    auto page = s.Keys(r.prefix, r.limit, r.cursor);
    if (!page.ok()) return page.status();
    position = codec::FormatPosition(s.vv());
    cursor = page->cursor;
    // What the entries may take: the reply less the position, the cursor and
    // the framing.
    const size_t overhead = position.size() + 2 * s.limits().max_key_bytes + 64;
    size_t budget = 0;  // 0: none
    if (max_reply != 0) budget = max_reply > overhead ? max_reply - overhead : 1;
    size_t used = 0;
    for (const std::string& key : page->keys) {
      std::string entry = codec::ChangeBody(KeyNote(s, key));
      if (budget != 0 && used + entry.size() + 1 > budget) {
        // The page ends before this key; a first key alone over the budget has
        // its value cut, as in a notification.
        if (entries.empty()) {
          entries.push_back(FitNote(KeyNote(s, key), budget));
          cursor = key;
        } else {
          cursor = page->keys[entries.size() - 1];
        }
        break;
      }
      used += entry.size() + 1;
      entries.push_back(std::move(entry));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return codec::WatchReply(entries, cursor, position);
}

}  // namespace kv::service
