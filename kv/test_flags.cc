#include "kv/test_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(double, test_drop_events, 0,
          "fault injection for tests: fraction of received replication events to "
          "drop as if lost");
