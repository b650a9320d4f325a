#include "kv/codec/events_builder.h"

#include <cstring>

#include "kv/codec/binary.h"

namespace kv::codec {
namespace {

// An events message is a fixed header ending with the event count (an 8-byte
// integer in the archive's byte order), then the events one after the other:
// the header is what EncodeEvents of no event gives.
size_t HeaderSize() {
  static const size_t size = EncodeEvents({}).size();
  return size;
}

}  // namespace

size_t EventsBuilder::Add(const store::Event& event) {
  const std::string one = EncodeEvents({event});
  const size_t header = HeaderSize();
  if (count_ == 0) {
    bytes_.assign(one);
    count_ = 1;
    first_seq_ = event.dot.seq;
    return one.size();
  }
  bytes_.append(one, header, std::string::npos);
  ++count_;
  // The count: the same byte order as the one EncodeEvents wrote (1).
  uint64_t one_count = 1;
  uint64_t stored = 0;
  std::memcpy(&stored, one.data() + header - sizeof(stored), sizeof(stored));
  const bool native = stored == one_count;
  uint64_t n = count_;
  if (!native) n = __builtin_bswap64(n);
  std::memcpy(bytes_.data() + header - sizeof(n), &n, sizeof(n));
  return one.size() - header;
}

void EventsBuilder::Clear() {
  bytes_.clear();
  count_ = 0;
  first_seq_ = 0;
}

}  // namespace kv::codec
