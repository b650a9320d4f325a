// Builds one events message (the bytes EncodeEvents gives) event by event, in a
// buffer that keeps its capacity: a node gathering the events of a burst's
// writes holds them as bytes, not as copies of the events.
#ifndef KV_CODEC_EVENTS_BUILDER_H_
#define KV_CODEC_EVENTS_BUILDER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "kv/store/state.h"

namespace kv::codec {

// Thread safety: not thread-safe.
class EventsBuilder {
 public:
  EventsBuilder() = default;

  // Appends `event`. Returns the bytes it added.
  size_t Add(const store::Event& event);
  // The message so far: EncodeEvents of the events added, in order (valid
  // until the next call). REQUIRES: count() > 0.
  absl::string_view bytes() const { return bytes_; }
  size_t size() const { return bytes_.size(); }
  size_t count() const { return count_; }
  uint64_t first_seq() const { return first_seq_; }
  // Empties the message (keeps the buffer).
  void Clear();

 private:
  std::string bytes_;
  size_t count_ = 0;
  uint64_t first_seq_ = 0;
};

}  // namespace kv::codec

#endif  // KV_CODEC_EVENTS_BUILDER_H_
