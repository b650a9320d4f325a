#include "tools/kvbench_workload.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "tools/kvctl_ops.h"

namespace kv::tools {
namespace {

constexpr int64_t kMaxKeys = 10000000;
constexpr int64_t kMaxValueSize = int64_t{64} << 20;
constexpr uint64_t kGetPercentInMixed = 80;
constexpr int64_t kMaxBatchKeys = 10000;
// Distinct mget bodies kept (each names batch_keys keys).
constexpr int64_t kMgetBodies = 4096;

std::string Key(absl::string_view prefix, int64_t i) {
  return absl::StrFormat("%s:%06d", prefix, i);
}

// Printable, varied, JSON-safe: no quotes or backslashes to escape.
std::string Value(int64_t size) {
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string v(static_cast<size_t>(size), 'x');
  for (int64_t i = 0; i < size; ++i) v[i] = kAlphabet[Mix64(i) % (sizeof(kAlphabet) - 1)];
  return v;
}

absl::StatusOr<std::string> Body(absl::string_view op,
                                 const std::vector<std::string>& args) {
  return BuildRequest(*FindOp(op), args, {});
}

// One body per key: {"key"} when value is nullptr, else {"key","value"}.
absl::Status Fill(absl::string_view op, absl::string_view prefix, int64_t keys,
                  const std::string* value, std::vector<std::string>* out) {
  out->reserve(keys);
  for (int64_t i = 0; i < keys; ++i) {
    std::vector<std::string> args = {Key(prefix, i)};
    if (value != nullptr) args.push_back(*value);
    absl::StatusOr<std::string> body = Body(op, args);
    if (!body.ok()) return body.status();
    out->push_back(*std::move(body));
  }
  return absl::OkStatus();
}

}  // namespace

uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

absl::StatusOr<Workload> Workload::Create(absl::string_view op, int64_t keys,
                                          int64_t value_size, int64_t batch_keys) {
  if (op != "get" && op != "set" && op != "set_if" && op != "add" && op != "push" &&
      op != "pop" && op != "mget" && op != "mixed") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--op must be get, set, set_if, add, push, pop, mget or mixed; got '", op, "'"));
  }
  if (batch_keys < 1 || batch_keys > kMaxBatchKeys) {
    return absl::InvalidArgumentError(
        absl::StrCat("--batch_keys must be 1..", kMaxBatchKeys));
  }
  if (keys < 1 || keys > kMaxKeys) {
    return absl::InvalidArgumentError(absl::StrCat("--keys must be 1..", kMaxKeys));
  }
  if (value_size < 0 || value_size > kMaxValueSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("--value_size must be 0..", kMaxValueSize));
  }
  Workload w;
  w.name_ = std::string(op);
  w.value_ = Value(value_size);
  const std::string& value = w.value_;
  const std::string one = "1";
  absl::Status s = Fill("set", "k", keys, &value, &w.set_bodies_);
  if (s.ok() && (op == "get" || op == "mixed")) {
    s = Fill("get", "k", keys, nullptr, &w.get_bodies_);
  }
  if (s.ok() && op == "add") s = Fill("add", "c", keys, &one, &w.main_bodies_);
  if (s.ok() && op == "push") s = Fill("push", "l", keys, &value, &w.main_bodies_);
  if (s.ok() && op == "pop") {
    s = Fill("push", "l", keys, &value, &w.push_bodies_);
    w.preload_op_ = "push";
    for (int64_t i = 0; i < keys; ++i) {
      w.main_bodies_.push_back(
          absl::StrCat(R"({"key":")", Key("l", i), R"(","end":"left"})"));
    }
  }
  if (s.ok() && op == "set_if") {
    // A conditional set that always succeeds (the keys are preloaded): the
    // whole path of a one-winner write (owner, forwarding, confirmation).
    for (int64_t i = 0; i < keys; ++i) {
      w.main_bodies_.push_back(absl::StrCat(R"({"key":")", Key("k", i), R"(","value":")",
                                            value, R"(","if":"present"})"));
    }
  }
  if (s.ok() && op == "mget") {
    w.keys_per_request_ = batch_keys;
    for (int64_t b = 0; s.ok() && b < std::min(keys, kMgetBodies); ++b) {
      const int64_t first = static_cast<int64_t>(Mix64(b) % static_cast<uint64_t>(keys));
      std::vector<std::string> args;
      for (int64_t i = 0; i < batch_keys; ++i)
        args.push_back(Key("k", (first + i) % keys));
      absl::StatusOr<std::string> body = Body("mget", args);
      if (!body.ok()) s = body.status();
      if (s.ok()) w.main_bodies_.push_back(*std::move(body));
    }
  }
  if (!s.ok()) return s;
  if (op == "mixed") {
    w.ops_ = {"get", "set"};
  } else if (op == "set_if") {
    w.ops_ = {"set"};
  } else {
    w.ops_ = {std::string(op)};
  }
  return w;
}

Pick Workload::PickAt(uint64_t seq) const {
  const uint64_t r = Mix64(seq);
  const size_t key = static_cast<size_t>(r % set_bodies_.size());
  if (name_ == "mixed") {
    const bool get = (r >> 40) % 100 < kGetPercentInMixed;
    return {get ? size_t{0} : size_t{1}, key};
  }
  return {0, key};
}

WorkItem Workload::Next(uint64_t seq) const {
  const Pick pick = PickAt(seq);
  if (name_ == "get" || (name_ == "mixed" && pick.op == 0)) {
    return {pick.op, &get_bodies_[pick.key]};
  }
  if (name_ == "set" || name_ == "mixed") return {pick.op, &set_bodies_[pick.key]};
  return {0, &main_bodies_[pick.key % main_bodies_.size()]};
}

const std::string& Workload::PreloadBody(uint64_t i) const {
  const std::vector<std::string>& bodies = name_ == "pop" ? push_bodies_ : set_bodies_;
  return bodies[i % bodies.size()];
}

int64_t Workload::preload_count() const {
  return name_ == "pop" ? keys() * kPopItemsPerKey : keys();
}

absl::StatusOr<JetStreamWorkload> JetStreamWorkload::Create(const Workload& workload,
                                                            absl::string_view bucket,
                                                            bool direct) {
  if (absl::Status s = CheckOp(workload.name()); !s.ok()) return s;
  JetStreamWorkload w(workload);
  const size_t keys = static_cast<size_t>(workload.keys());
  w.put_subjects_.reserve(keys);
  for (size_t i = 0; i < keys; ++i) {
    w.put_subjects_.push_back(absl::StrCat(
        "$KV.", bucket, ".",
        absl::StrReplaceAll(Key("k", static_cast<int64_t>(i)), {{":", "_"}})));
  }
  if (workload.reads()) {
    const std::string stream = absl::StrCat("KV_", bucket);
    if (!direct) w.msg_get_subject_ = absl::StrCat("$JS.API.STREAM.MSG.GET.", stream);
    std::vector<std::string>& out = direct ? w.get_subjects_ : w.get_bodies_;
    out.reserve(keys);
    for (const std::string& subject : w.put_subjects_) {
      out.push_back(direct ? absl::StrCat("$JS.API.DIRECT.GET.", stream, ".", subject)
                           : absl::StrCat(R"({"last_by_subj":")", subject, R"("})"));
    }
  }
  return w;
}

absl::Status JetStreamWorkload::CheckOp(absl::string_view op) {
  if (op == "get" || op == "set" || op == "mixed") return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--baseline jetstream measures --op get, set (a put) or mixed; not '", op, "'"));
}

WorkItem JetStreamWorkload::Next(uint64_t seq) const {
  const Pick pick = workload_->PickAt(seq);
  const bool get =
      workload_->name() == "get" || (workload_->name() == "mixed" && pick.op == 0);
  if (!get) return {pick.op, &workload_->value(), &put_subjects_[pick.key]};
  if (msg_get_subject_.empty()) return {pick.op, &empty_, &get_subjects_[pick.key]};
  return {pick.op, &get_bodies_[pick.key], &msg_get_subject_};
}

WorkItem JetStreamWorkload::Preload(uint64_t i) const {
  return {0, &workload_->value(), &put_subjects_[i % put_subjects_.size()]};
}

bool JetStreamReplyFailed(absl::string_view status, absl::string_view body) {
  if (!status.empty()) return true;
  return absl::StartsWith(body, "{") && absl::StrContains(body, R"("error":)");
}

}  // namespace kv::tools
