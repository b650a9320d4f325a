#include "micro/destroy_batch.h"

#include <cstdlib>
#include <cstring>

namespace micro {
namespace {

size_t Footprint(natsMsg* msg) {
  const char* subject = natsMsg_GetSubject(msg);
  const char* reply = natsMsg_GetReply(msg);
  const int data = natsMsg_GetDataLength(msg);
  size_t bytes = (subject != nullptr ? std::strlen(subject) : 0) +
                 (reply != nullptr ? std::strlen(reply) : 0) +
                 (data > 0 ? static_cast<size_t>(data) : 0);
  // The headers share the payload's buffer: a sender may make them as large.
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
    for (int i = 0; i < count; ++i) {
      bytes += std::strlen(keys[i]) + 4;
      const char** values = nullptr;
      int n = 0;
      if (natsMsgHeader_Values(msg, keys[i], &values, &n) == NATS_OK) {
        for (int j = 0; j < n; ++j) bytes += std::strlen(values[j]) + 4;
        std::free(static_cast<void*>(values));
      }
    }
    std::free(static_cast<void*>(keys));
  }
  return bytes;
}

// The batch of the innermost Scope of this thread (not owned).
thread_local DestroyBatch* current = nullptr;

}  // namespace

DestroyBatch::Scope::Scope(DestroyBatch* batch) : previous_(current) { current = batch; }

DestroyBatch::Scope::~Scope() { current = previous_; }

void DestroyBatch::Destroy(natsMsg* msg) {
  if (current != nullptr) {
    current->Add(msg);
  } else {
    natsMsg_Destroy(msg);
  }
}

void DestroyBatch::Add(natsMsg* msg) {
  if (msg == nullptr) return;
  const size_t bytes = Footprint(msg);
  if (bytes >= kMaxBytes) {
    destroy_(msg);
    return;
  }
  if (bytes_ + bytes > kMaxBytes) Flush();
  held_[count_++] = msg;
  bytes_ += bytes;
  if (count_ == kMaxMessages) Flush();
}

void DestroyBatch::Flush() {
  // Back to back: nats.c's collector, once woken by the first, finds the rest
  // queued (or is still being woken) and is not woken again for each.
  for (int i = 0; i < count_; ++i) {
    destroy_(held_[i]);
    held_[i] = nullptr;
  }
  count_ = 0;
  bytes_ = 0;
}

}  // namespace micro
