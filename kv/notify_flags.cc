#include "kv/notify_flags.h"

#include "absl/flags/flag.h"
#include "kv/service/changes.h"

ABSL_FLAG(bool, notify, true,
          "publish change notifications on kv.<link>.changes.<key> (every link); "
          "false = none are published");

namespace kv {

replication::ChangeObserver NotifyObserver(const std::string& link, size_t max_payload,
                                           replication::Bus* bus) {
  if (!absl::GetFlag(FLAGS_notify)) return nullptr;
  return service::ChangePublisher(
      link, max_payload, [bus](absl::string_view subject, absl::string_view data) {
        return bus->Publish(subject, "", data);
      });
}

}  // namespace kv
