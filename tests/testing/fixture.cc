#include "tests/testing/fixture.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace testing_util {

void ServerTest::SetUp() {
  auto server = NatsServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  auto nc = Connect(server_->url());
  ASSERT_TRUE(nc.ok()) << nc.status();
  nc_ = *std::move(nc);
}

std::string NodeIdOf(const Process& kvd, absl::string_view link) {
  const std::string out = kvd.Output();
  const std::string mark = absl::StrCat("serving kv.", link, ".* (node ");
  const size_t at = out.find(mark);
  if (at == std::string::npos || out.size() < at + mark.size() + 16) return "";
  return out.substr(at + mark.size(), 16);
}

}  // namespace testing_util
