// Destroys received nats.c messages a few at a time.
//
// nats.c frees a received message on its own garbage-collector thread:
// natsMsg_Destroy queues the message and, when that thread sleeps, wakes it.
// One request at a time, every message costs a wake-up of that thread (a
// futex call, two context switches) on top of the delivery thread's. Handing
// messages over in small batches wakes it once per batch instead.
#ifndef MICRO_DESTROY_BATCH_H_
#define MICRO_DESTROY_BATCH_H_

#include <nats/nats.h>

#include <array>
#include <cstddef>

namespace micro {

// Holds at most kMaxMessages messages and kMaxBytes of them (subject, reply,
// headers and payload), whichever comes first, and destroys them together; a message
// larger than kMaxBytes on its own is destroyed at once. Its owner calls
// Flush() (or destroys it) before the messages' subscription is destroyed and
// before nats_Close(): a held message must not outlive the library.
//
// Thread safety: not thread-safe. Meant for one subscription's callbacks,
// which nats.c runs one at a time.
class DestroyBatch {
 public:
  static constexpr int kMaxMessages = 32;
  static constexpr size_t kMaxBytes = 256 * 1024;

  using DestroyFn = void (*)(natsMsg*);
  explicit DestroyBatch(DestroyFn destroy = &natsMsg_Destroy) : destroy_(destroy) {}
  DestroyBatch(const DestroyBatch&) = delete;
  DestroyBatch& operator=(const DestroyBatch&) = delete;
  ~DestroyBatch() { Flush(); }

  // Takes `msg` (null is ignored): destroys it now or with the batch.
  void Add(natsMsg* msg);
  // Destroys every held message.
  void Flush();

  int size() const { return count_; }

  // While a Scope lives, Destroy() on its thread hands messages to its batch:
  // a subscription's callback sets one up so that the messages it creates and
  // sends (replies with headers) go with the ones it received.
  class Scope {
   public:
    explicit Scope(DestroyBatch* batch);
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    ~Scope();

   private:
    DestroyBatch* const previous_;
  };
  // Takes a message this thread is done with: to the batch of the innermost
  // Scope of the thread, else destroyed at once.
  static void Destroy(natsMsg* msg);

 private:
  const DestroyFn destroy_;
  std::array<natsMsg*, kMaxMessages> held_{};
  int count_ = 0;
  size_t bytes_ = 0;
};

}  // namespace micro

#endif  // MICRO_DESTROY_BATCH_H_
