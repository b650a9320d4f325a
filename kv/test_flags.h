// kvd's flags that only tests use. They work as any flag but `kvd --help` does
// not list them (kv/transport/flags.h: files named *test_flags*).
#ifndef KV_TEST_FLAGS_H_
#define KV_TEST_FLAGS_H_

#include "absl/flags/declare.h"
#include "absl/time/time.h"

// Fault injection: the fraction of received replication events to drop as if
// lost (0 to 1).
ABSL_DECLARE_FLAG(double, test_drop_events);

// How long after its expiry an expired key is reclaimed (and announced).
ABSL_DECLARE_FLAG(absl::Duration, test_expiry_grace);

#endif  // KV_TEST_FLAGS_H_
