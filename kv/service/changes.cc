#include "kv/service/changes.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kv/codec/encoding.h"
#include "kv/codec/json.h"
#include "kv/codec/position.h"
#include "kv/store/hash.h"

namespace kv::service {
namespace {

// The op a notification names: batches name their per-key op.
std::string NoteOp(absl::string_view op, bool none) {
  if (op == "mset") return "set";
  if (op == "mdel") return "del";
  if (!op.empty()) return std::string(op);
  return none ? "del" : "set";
}

absl::string_view TypeName(store::KeySummary::Type type) {
  switch (type) {
    case store::KeySummary::Type::kString:
      return "string";
    case store::KeySummary::Type::kCounter:
      return "counter";
    case store::KeySummary::Type::kList:
      return "list";
    case store::KeySummary::Type::kSet:
      return "set";
    case store::KeySummary::Type::kNone:
      break;
  }
  return "none";
}

// `s` cut to at most `n` bytes without splitting a UTF-8 sequence.
absl::string_view CutUtf8(absl::string_view s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

}  // namespace

std::string ChangeSubject(absl::string_view link, absl::string_view key) {
  // nats-server refuses a protocol line over max_control_line (4 KiB by
  // default) and closes the connection: a longer key names its subject by a
  // hash (the body carries the key).
  if (key.size() > kMaxSubjectKeyBytes) {
    const uint64_t h = store::internal::Hasher(0x6368616e6765).Add(key).value();
    return absl::StrCat("kv.", link, ".changes._h.", absl::Hex(h, absl::kZeroPad16));
  }
  if (codec::IsSubjectKey(key)) return absl::StrCat("kv.", link, ".changes.", key);
  std::string b64 = absl::WebSafeBase64Escape(key);  // unpadded
  return absl::StrCat("kv.", link, ".changes._b64.", b64);
}

codec::ChangeNote KeyNote(const store::Store& store, absl::string_view key) {
  const store::KeySummary summary = store.Summarize(key);
  codec::ChangeNote note;
  note.revision = summary.revision;
  note.type = std::string(TypeName(summary.type));
  switch (summary.type) {
    case store::KeySummary::Type::kString:
      note.value = summary.value;
      break;
    case store::KeySummary::Type::kCounter:
      note.count_field = "value";
      break;
    case store::KeySummary::Type::kList:
      note.count_field = "length";
      break;
    case store::KeySummary::Type::kSet:
      note.count_field = "size";
      break;
    case store::KeySummary::Type::kNone:
      break;
  }
  note.count = summary.count;
  note.base64 = !codec::ValidUtf8(key) ||
                (note.value.has_value() && !codec::ValidUtf8(*note.value));
  note.key = note.base64 ? absl::Base64Escape(key) : std::string(key);
  if (note.value.has_value() && note.base64)
    *note.value = absl::Base64Escape(*note.value);
  return note;
}

std::string FitNote(codec::ChangeNote note, size_t max_bytes) {
  std::string body = codec::ChangeBody(note);
  if (max_bytes == 0 || body.size() <= max_bytes || !note.value.has_value()) return body;
  // Too large: cut the value by what is over (JSON escapes may take up to 6
  // bytes a byte, so retry shorter until it fits).
  note.truncated = true;
  size_t keep = note.value->size();
  while (body.size() > max_bytes && keep > 0) {
    const size_t over = body.size() - max_bytes + 32;
    keep = keep > over ? keep - over : 0;
    std::string cut = note.base64 ? note.value->substr(0, keep / 4 * 4)
                                  : std::string(CutUtf8(*note.value, keep));
    codec::ChangeNote shorter = note;
    shorter.value = std::move(cut);
    body = codec::ChangeBody(shorter);
  }
  return body;
}

std::string ChangeBody(const store::Store& store, const store::Event& event,
                       absl::string_view op, size_t max_bytes) {
  codec::ChangeNote note = KeyNote(store, event.delta.key);
  note.op = NoteOp(op, note.type == "none");
  note.origin = absl::StrFormat("%016x", event.dot.node);
  note.seq = event.dot.seq;
  // What the origin had applied: a watcher tells from it whether this state
  // includes what it holds for the key (README, "Watching").
  if (store.vv().size() <= kMaxNoteOrigins) note.vv = codec::FormatPosition(store.vv());
  return FitNote(std::move(note), max_bytes);
}

replication::ChangeObserver ChangePublisher(std::string link, size_t max_payload,
                                            replication::EventPublisher publish) {
  return [link = std::move(link), max_payload, publish = std::move(publish)](
             const store::Store& store, const store::Event& event, absl::string_view op) {
    // A notification lost (connection down) is a gap in the origin's seqs,
    // which watchers see; nothing to retry.
    (void)publish(ChangeSubject(link, event.delta.key),
                  ChangeBody(store, event, op, max_payload));
  };
}

}  // namespace kv::service
