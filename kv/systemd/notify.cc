#include "kv/systemd/notify.h"

#include <systemd/sd-daemon.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace kv::systemd {

absl::Status Notify(absl::string_view state) {
  const int r = sd_notify(/*unset_environment=*/0, std::string(state).c_str());
  if (r < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot notify the service manager: ", std::strerror(-r)));
  }
  return absl::OkStatus();
}

}  // namespace kv::systemd
