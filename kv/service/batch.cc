#include "kv/service/batch.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "kv/codec/binary.h"
#include "kv/codec/encoding.h"

namespace kv::service {
namespace {

using store::Event;
using store::Store;

// As store.cc: a TTL beyond this is refused.
constexpr absl::Duration kMaxTtl = absl::Hours(24 * 365 * 100);
// Bytes an mget entry adds to the reply beyond its key and value (its JSON
// members), as the store counts 3 bytes of framing per value.
constexpr size_t kMgetEntryFraming = 40;
// Bytes a dot adds to an event beyond its key state.
constexpr size_t kDotBytes = 16;

// InvalidArgument when a key of `field` is longer than the store takes.
absl::Status CheckKeys(const std::vector<std::string>& keys, absl::string_view field,
                       const store::Limits& limits) {
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].size() > limits.max_key_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "field '", field, "[", i, "]' must be a non-empty string of at most ",
          limits.max_key_bytes, " bytes"));
    }
  }
  return absl::OkStatus();
}

absl::Status OverEventBudget(absl::string_view op, size_t bytes, size_t budget,
                             absl::string_view hint) {
  return absl::OutOfRangeError(absl::StrCat(
      op, "'s replication message could take ", bytes, " bytes; the limit is ", budget,
      " (the server's max payload less a margin): ", hint));
}

}  // namespace

// An upper bound of one removal record's encoding (a counter removal: origin,
// seq, base, sum and the removing dot), as codec::EncodedSize counts it.
constexpr size_t kRemovalRecordBytes = 56;

size_t BatchEventBudget(const store::Limits& limits) {
  if (limits.max_write_bytes == 0) return 0;
  return limits.max_write_bytes + codec::MaxEventOverhead();
}

absl::StatusOr<std::string> TypeOf(const Store& store, absl::string_view key) {
  auto items = store.Range(key, 0, 0);
  if (items.ok()) return items->empty() ? "" : "list";
  if (!absl::IsFailedPrecondition(items.status())) return items.status();
  // "wrong type: key '...' holds a <type>"
  const absl::string_view message = items.status().message();
  constexpr absl::string_view kHolds = "' holds a ";
  const size_t at = message.rfind(kHolds);
  if (at == absl::string_view::npos) return items.status();
  return std::string(message.substr(at + kHolds.size()));
}

absl::StatusOr<std::string> Mget(const codec::ApiRequest& r,
                                 replication::Replica& replica) {
  const store::Limits& limits = replica.limits();
  if (absl::Status s = CheckKeys(r.keys, "keys", limits); !s.ok()) return s;
  auto read =
      replica.Read([&](const Store& s) -> absl::StatusOr<std::vector<codec::MgetEntry>> {
        std::vector<codec::MgetEntry> entries;
        entries.reserve(r.keys.size());
        size_t bytes = 0;
        for (const std::string& key : r.keys) {
          codec::MgetEntry e;
          e.key = key;
          auto value = s.Get(key);
          if (value.ok()) {
            e.exists = value->has_value();
            e.value = *std::move(value);
          } else if (absl::IsFailedPrecondition(value.status())) {
            auto type = TypeOf(s, key);
            if (!type.ok()) return type.status();
            e.exists = true;
            e.type = *std::move(type);
          } else {
            return value.status();
          }
          bytes += key.size() + (e.value ? e.value->size() : e.type.size()) +
                   kMgetEntryFraming;
          if (limits.max_reply_bytes != 0 && bytes > limits.max_reply_bytes) {
            return absl::OutOfRangeError(absl::StrCat(
                "mget of ", r.keys.size(), " keys would reply more than ",
                limits.max_reply_bytes,
                " bytes (the server's max payload less 1 KiB): ask for fewer keys"));
          }
          entries.push_back(std::move(e));
        }
        return entries;
      });
  if (!read.ok()) return read.status();
  size_t bytes = 0;
  for (codec::MgetEntry& e : *read) {
    if (!e.value.has_value()) continue;
    if (absl::Status s = codec::EncodeValue(r.base64, e.key, &*e.value); !s.ok()) {
      return s;
    }
    bytes += e.key.size() + e.value->size() + kMgetEntryFraming;
  }
  if (limits.max_reply_bytes != 0 && bytes > limits.max_reply_bytes) {
    return absl::OutOfRangeError(absl::StrCat(
        "mget of ", r.keys.size(), " keys would reply more than ", limits.max_reply_bytes,
        " bytes once in base64: ask for fewer keys"));
  }
  return codec::MgetReply(*read);
}

absl::StatusOr<std::string> Mset(const codec::ApiRequest& r,
                                 replication::Replica& replica,
                                 replication::MutationContext* context) {
  const store::Limits& limits = replica.limits();
  // The last entry of each key wins: only it is written.
  absl::flat_hash_map<absl::string_view, size_t> last;
  for (size_t i = 0; i < r.entries.size(); ++i) last[r.entries[i].key] = i;
  std::vector<size_t> kept;
  size_t event_bytes = 0;
  for (size_t i = 0; i < r.entries.size(); ++i) {
    const codec::BatchEntry& e = r.entries[i];
    const std::string at = absl::StrCat("entries[", i, "]");
    if (e.key.size() > limits.max_key_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("field '", at, ".key' must be a non-empty string of at most ",
                       limits.max_key_bytes, " bytes"));
    }
    if (e.value.size() > limits.max_value_bytes) {
      return absl::OutOfRangeError(absl::StrCat("field '", at, ".value' must be at most ",
                                                limits.max_value_bytes, " bytes"));
    }
    if (limits.max_write_bytes > 0 &&
        e.key.size() + e.value.size() > limits.max_write_bytes) {
      return absl::OutOfRangeError(
          absl::StrCat("fields '", at, ".key' and '", at, ".value' must take at most ",
                       limits.max_write_bytes,
                       " bytes together (the write's event must fit in one message)"));
    }
    if (e.expires && absl::Seconds(*e.expires) > kMaxTtl) {
      return absl::InvalidArgumentError(absl::StrCat(
          "field '", at,
          ".expires' must be a positive number of seconds of at most 100 years"));
    }
    if (last[e.key] != i) continue;
    kept.push_back(i);
    event_bytes += e.key.size() + e.value.size() + codec::MaxEventOverhead();
  }
  const size_t budget = BatchEventBudget(limits);
  if (budget != 0 && event_bytes > budget) {
    return OverEventBudget("mset", event_bytes, budget,
                           "send fewer or smaller entries per request");
  }
  auto count = replica.MutateBatch(
      [&](Store& s, std::vector<Event>* events) -> absl::StatusOr<int64_t> {
        // All or nothing under --eviction=noeviction: room for every entry
        // (an upper bound of what each adds) before the first write.
        size_t adding = 0;
        for (size_t i : kept) {
          adding += 128 + r.entries[i].key.size() + r.entries[i].value.size();
        }
        if (absl::Status m = s.CheckMemory(adding); !m.ok()) return m;
        for (size_t i : kept) {  // every check before the first write
          auto type = TypeOf(s, r.entries[i].key);
          if (!type.ok()) return type.status();
          if (!type->empty() && *type != "string") {
            return absl::FailedPreconditionError(absl::StrCat(
                "wrong type: key '", codec::Shown(r.entries[i].key), "' (entries[", i,
                "]) holds a ", *type, "; nothing was set"));
          }
        }
        for (size_t i : kept) {
          const codec::BatchEntry& e = r.entries[i];
          std::optional<absl::Duration> ttl;
          if (e.expires) ttl = absl::Seconds(*e.expires);
          auto change = s.Set(e.key, e.value, ttl);
          if (!change.ok()) return change.status();  // (checked above: not expected)
          if (change->event) events->push_back(*std::move(change->event));
        }
        return static_cast<int64_t>(kept.size());
      },
      context);
  if (!count.ok()) return count.status();
  return codec::OkCountReply(codec::SpecOf(codec::Op::kMset).reply_field, *count);
}

absl::StatusOr<std::string> Mdel(const codec::ApiRequest& r,
                                 replication::Replica& replica,
                                 replication::MutationContext* context) {
  const store::Limits& limits = replica.limits();
  if (absl::Status s = CheckKeys(r.keys, "keys", limits); !s.ok()) return s;
  std::vector<absl::string_view> keys;  // each once, in request order
  absl::flat_hash_set<absl::string_view> seen;
  for (const std::string& key : r.keys) {
    if (seen.insert(key).second) keys.push_back(key);
  }
  const size_t budget = BatchEventBudget(limits);
  auto deleted = replica.MutateBatch(
      [&](Store& s, std::vector<Event>* events) -> absl::StatusOr<int64_t> {
        if (budget != 0) {
          // A delete's event carries its key and one removal record per piece
          // the key holds (no values).
          size_t bytes = codec::MaxEventOverhead();
          for (absl::string_view key : keys) {
            if (const size_t n = s.RemovalCount(key); n > 0) {
              bytes += key.size() + kDotBytes + kRemovalRecordBytes * n;
            }
          }
          if (bytes > budget) {
            return OverEventBudget(
                "mdel", bytes, budget,
                "delete large lists and sets in fewer keys per request");
          }
        }
        int64_t n = 0;
        for (absl::string_view key : keys) {
          auto change = s.Del(key);
          if (!change.ok()) return change.status();
          n += change->result ? 1 : 0;
          if (change->event) events->push_back(*std::move(change->event));
        }
        return n;
      },
      context);
  if (!deleted.ok()) return deleted.status();
  return codec::Reply(codec::Op::kMdel, *deleted);
}

}  // namespace kv::service
