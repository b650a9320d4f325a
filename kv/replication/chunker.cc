#include "kv/replication/chunker.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace kv::replication {

size_t ChunkBudget(size_t max_chunk_bytes, int64_t max_payload) {
  size_t budget = max_chunk_bytes;
  if (max_payload > 0)
    budget = std::min<size_t>(budget, static_cast<size_t>(max_payload));
  return budget;
}

std::vector<store::KeyState> Split(const store::KeyState& ks, size_t budget) {
  std::vector<store::KeyState> parts;
  auto fresh = [&]() -> store::KeyState& {
    store::KeyState p;
    p.key = ks.key;
    parts.push_back(std::move(p));
    return parts.back();
  };
  store::KeyState* cur = &fresh();
  size_t used = 0;
  auto room = [&](size_t n) {
    if (used > 0 && used + n > budget) {
      cur = &fresh();
      used = 0;
    }
    used += n;
  };
  if (ks.reg) {
    room(64 + ks.reg->value.size());
    cur->reg = ks.reg;
  }
  auto counter = [&]() -> store::CounterState& {
    if (!cur->counter) {
      cur->counter =
          store::CounterState{ks.counter->stamp, ks.counter->stamp_seq, {}, {}};
    }
    return *cur->counter;
  };
  if (ks.counter) {
    counter();
    for (const auto& p : ks.counter->incs) {
      room(56);
      counter().incs.push_back(p);
    }
    for (const auto& p : ks.counter->dels) {
      room(56);
      counter().dels.push_back(p);
    }
  }
  auto list = [&]() -> store::ListState& {
    if (!cur->list) {
      cur->list = store::ListState{ks.list->stamp, ks.list->stamp_seq, {}, {}};
    }
    return *cur->list;
  };
  if (ks.list) {
    list();
    for (const auto& r : ks.list->removed) {
      room(40);
      list().removed.push_back(r);
    }
    for (const auto& i : ks.list->items) {
      room(40 + i.value.size());
      list().items.push_back(i);
    }
  }
  auto set = [&]() -> store::SetState& {
    if (!cur->set) cur->set = store::SetState{ks.set->stamp, ks.set->stamp_seq, {}, {}};
    return *cur->set;
  };
  if (ks.set) {
    set();
    for (const auto& r : ks.set->removed) {
      room(40);
      set().removed.push_back(r);
    }
    for (const auto& i : ks.set->items) {
      room(40 + i.value.size());
      set().items.push_back(i);
    }
  }
  // A part may have ended up with only a key: drop such parts.
  parts.erase(std::remove_if(parts.begin(), parts.end(),
                             [](const store::KeyState& p) {
                               return !p.reg && !p.counter && !p.list && !p.set;
                             }),
              parts.end());
  return parts;
}

ChunkWriter::ChunkWriter(store::NodeId from, size_t budget, Emit emit)
    : budget_(budget), emit_(std::move(emit)) {
  chunk_.from = from;
  header_ = codec::EncodedHeaderSize(chunk_);
}

void ChunkWriter::SetCollected(store::VersionVector collected,
                               std::vector<store::NodeId> members,
                               store::VersionVector retired) {
  chunk_.collected = std::move(collected);
  members_ = std::move(members);
  retired_ = std::move(retired);
  header_ = codec::EncodedHeaderSize(chunk_);
}

void ChunkWriter::Fail(absl::Status s) {
  if (status_.ok()) status_ = std::move(s);
}

void ChunkWriter::Add(store::KeyState ks) {
  if (!status_.ok()) return;
  ++keys_;
  const size_t budget = EntryBudget();
  if (budget == 0) {
    Fail(absl::ResourceExhaustedError(absl::StrCat(
        "a chunk's header takes ", header_, " bytes (", chunk_.collected.size(),
        " origins in the watermark), over the chunk budget of ", budget_, " bytes")));
    return;
  }
  const size_t size = codec::EncodedSize(ks);
  if (size <= budget) {
    Append(std::move(ks), size);
    return;
  }
  for (store::KeyState& part : Split(ks, budget / 2)) {
    const size_t part_size = codec::EncodedSize(part);
    if (part_size > budget) {
      Fail(absl::ResourceExhaustedError(
          absl::StrCat("key '", absl::CHexEscape(ks.key.substr(0, 64)), "': a part of ",
                       part_size, " bytes does not fit beside a chunk header of ",
                       header_, " bytes in the chunk budget of ", budget_, " bytes")));
      return;
    }
    Append(std::move(part), part_size);
    if (!status_.ok()) return;
  }
}

absl::Status ChunkWriter::Finish(store::VersionVector vv) {
  if (!status_.ok()) return status_;
  chunk_.delta.vv = std::move(vv);
  chunk_.members = std::move(members_);
  chunk_.retired = std::move(retired_);
  const size_t last_header = codec::EncodedHeaderSize(chunk_);
  if (last_header > budget_) {
    Fail(absl::ResourceExhaustedError(absl::StrCat(
        "the last chunk's header takes ", last_header, " bytes (", chunk_.delta.vv.size(),
        " origins, ", chunk_.members.size(), " members, ", chunk_.retired.size(),
        " retired origins), over the chunk budget of ", budget_, " bytes")));
    return status_;
  }
  if (used_ > 0 && last_header + used_ > budget_) {
    // The entries go first, without the vector, members and retired origins.
    store::VersionVector last_vv = std::move(chunk_.delta.vv);
    std::vector<store::NodeId> last_members = std::move(chunk_.members);
    store::VersionVector last_retired = std::move(chunk_.retired);
    chunk_.delta.vv.clear();
    chunk_.members.clear();
    chunk_.retired.clear();
    Flush(false);
    if (!status_.ok()) return status_;
    chunk_.delta.vv = std::move(last_vv);
    chunk_.members = std::move(last_members);
    chunk_.retired = std::move(last_retired);
  }
  // The request records the budget leaves room for, newest first.
  size_t room = budget_ - last_header - std::min(used_, budget_ - last_header);
  for (store::RequestRecord& record : requests_) {
    const size_t size = codec::EncodedSize(record);
    if (size > room) break;
    room -= size;
    chunk_.requests.push_back(std::move(record));
  }
  requests_.clear();
  Flush(true);
  return status_;
}

void ChunkWriter::Append(store::KeyState ks, size_t size) {
  if (used_ > 0 && used_ + size > EntryBudget()) Flush(false);
  if (!status_.ok()) return;
  chunk_.delta.entries.push_back(std::move(ks));
  used_ += size;
}

void ChunkWriter::Flush(bool last) {
  chunk_.last = last;
  if (absl::Status s = emit_(chunk_); !s.ok()) {
    Fail(absl::Status(s.code(), absl::StrCat("chunk ", chunk_.part, ": ", s.message())));
    return;
  }
  ++chunk_.part;
  chunk_.delta.entries.clear();
  used_ = 0;
}

ChunkAssembler::Outcome ChunkAssembler::Take(const codec::DeltaChunk& chunk) {
  received_.insert(chunk.part);
  if (!chunk.last) return Outcome::kMore;
  const uint32_t expected = chunk.part + 1;
  const uint32_t have = static_cast<uint32_t>(
      std::distance(received_.begin(), received_.upper_bound(chunk.part)));
  if (have == expected) return Outcome::kDone;
  lost_ = expected - have;
  return Outcome::kLost;
}

}  // namespace kv::replication
