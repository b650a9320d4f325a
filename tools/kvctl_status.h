// kvctl status / check: the replicas of a link, one row per node, from the
// replica figures kvd puts in its endpoints' STATS data, and whether they
// agree (equal digests). Pure: the caller collects the $SRV.STATS.kv replies.
#ifndef TOOLS_KVCTL_STATUS_H_
#define TOOLS_KVCTL_STATUS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kv::tools {

// One replica: a link served by one kvd instance.
struct ReplicaRow {
  std::string node;      // the replica's node id (hex)
  std::string instance;  // the micro service instance id
  std::string link;
  bool ready = false;
  // Entries held; "live_keys" when kvd reports it, else "keys" (which counts
  // tombstones not collected yet too).
  int64_t keys = 0;
  std::optional<int64_t> tombstones;    // when kvd reports "tombstones"
  std::optional<int64_t> memory_bytes;  // when kvd reports "memory_bytes"
  int64_t peers = 0;
  int64_t lag = 0;
  std::string digest;
};

// The replicas of `link` in STATS replies (every link when empty): the data
// of the first endpoint of each link of each instance that carries "link" and
// "node". Sorted by link, then node. Replies that are not JSON objects, and
// endpoints without such data, are skipped.
std::vector<ReplicaRow> ParseReplicaRows(const std::vector<std::string>& replies,
                                         const std::string& link);

// For each row, whether it disagrees with the other replicas of its link: its
// digest is not the one most of them hold (when no digest is held by more
// replicas than every other, every replica of the link disagrees).
std::vector<bool> Disagreeing(const std::vector<ReplicaRow>& rows);

// The table kvctl status prints: NODE (node/instance), LINK, READY, KEYS,
// TOMBSTONES, MEMORY, PEERS, LAG, DIGEST, AGREES ("no" on the replicas that
// disagree, see Disagreeing). Figures kvd does not report print as "-".
std::string FormatReplicaRows(const std::vector<ReplicaRow>& rows);

// The verdict of kvctl check on `rows` (the replicas of one link).
struct Agreement {
  bool ok = false;
  // One line when ok ("3 replicas of link default agree: digest ..."), else
  // why not: no replica, replicas not ready, or who holds which digest.
  std::string message;
};
Agreement CheckAgreement(const std::vector<ReplicaRow>& rows, const std::string& link);

}  // namespace kv::tools

#endif  // TOOLS_KVCTL_STATUS_H_
