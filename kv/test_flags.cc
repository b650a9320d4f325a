#include "kv/test_flags.h"

#include "absl/flags/flag.h"
#include "absl/time/time.h"

ABSL_FLAG(double, test_drop_events, 0,
          "fault injection for tests: fraction of received replication events to "
          "drop as if lost");

ABSL_FLAG(absl::Duration, test_expiry_grace, absl::Minutes(1),
          "how long after its expiry a key is reclaimed (and its expiry announced); "
          "tests shorten it");
