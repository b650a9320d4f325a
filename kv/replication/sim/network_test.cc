#include "kv/replication/sim/network.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kv::replication::sim {
namespace {

struct Inbox {
  std::vector<std::string> got;
  MessageHandler Handler(absl::string_view tag = "") {
    return [this, tag = std::string(tag)](const Message& m) {
      got.push_back(m.no_responders ? "503 " + std::string(m.subject)
                                    : tag + std::string(m.data));
    };
  }
};

TEST(SubjectMatches, Wildcards) {
  EXPECT_TRUE(SubjectMatches("a.b", "a.b"));
  EXPECT_FALSE(SubjectMatches("a.b", "a.b.c"));
  EXPECT_TRUE(SubjectMatches("a.*", "a.b"));
  EXPECT_FALSE(SubjectMatches("a.*", "a.b.c"));
  EXPECT_TRUE(SubjectMatches("a.>", "a.b.c"));
  EXPECT_FALSE(SubjectMatches("a.>", "a"));
  EXPECT_FALSE(SubjectMatches("a.b.c", "a.b"));
}

TEST(Network, DeliversInOrderAfterADelay) {
  Network net(1, 1024);
  auto a = net.Connect(0);
  auto b = net.Connect(1);
  Inbox in;
  auto sub = b->Subscribe("s", "", in.Handler());
  ASSERT_TRUE(sub.ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(a->Publish("s", "", std::to_string(i)).ok());
  EXPECT_TRUE(in.got.empty());  // never synchronously
  net.RunFor(absl::Milliseconds(100));
  ASSERT_EQ(in.got.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(in.got[i], std::to_string(i));
}

TEST(Network, DisconnectedHostIsUnknownUntilItReconnects) {
  Network net(1, 1024);
  auto a = net.Connect(0);
  auto b = net.Connect(1);
  Inbox in, b_in;
  auto reply_sub = a->Subscribe("reply", "", in.Handler());
  auto b_sub = b->Subscribe("s", "q", b_in.Handler());
  auto a_sub = a->Subscribe("from-b", "", in.Handler("b:"));
  ASSERT_TRUE(reply_sub.ok() && b_sub.ok() && a_sub.ok());
  net.Disconnect(1);
  EXPECT_TRUE(net.Disconnected(1));
  // Its subscription is gone from the server: the request finds nobody.
  ASSERT_TRUE(a->Publish("s", "reply", "req").ok());
  // What it publishes is lost.
  ASSERT_TRUE(b->Publish("from-b", "", "lost").ok());
  net.RunFor(absl::Milliseconds(100));
  EXPECT_EQ(in.got, std::vector<std::string>{"503 reply"});
  EXPECT_TRUE(b_in.got.empty());
  net.Reconnect(1);
  ASSERT_TRUE(a->Publish("s", "reply", "req").ok());
  ASSERT_TRUE(b->Publish("from-b", "", "back").ok());
  net.RunFor(absl::Milliseconds(100));
  EXPECT_EQ(b_in.got, std::vector<std::string>{"req"});
  EXPECT_EQ(in.got, (std::vector<std::string>{"503 reply", "b:back"}));
}

TEST(Network, RefusesPayloadsAboveTheMax) {
  Network net(1, 10);
  auto a = net.Connect(0);
  EXPECT_FALSE(a->Publish("s", "", std::string(11, 'x')).ok());
  EXPECT_TRUE(a->Publish("s", "", std::string(10, 'x')).ok());
  EXPECT_EQ(net.oversized(), 1u);
  EXPECT_EQ(a->MaxPayload(), 10);
}

TEST(Network, RequestWithoutSubscribersGetsNoResponders) {
  Network net(1, 1024);
  auto a = net.Connect(0);
  auto c = net.Connect(2);
  Inbox in, other;
  const std::string inbox = a->NewInbox();
  EXPECT_NE(inbox, a->NewInbox());
  auto sub = a->Subscribe(inbox + ".>", "", in.Handler());
  auto other_sub = c->Subscribe(inbox + ".>", "", other.Handler());
  ASSERT_TRUE(a->Publish("nobody", inbox + ".1", "req").ok());
  ASSERT_TRUE(a->Publish("nobody", "", "plain").ok());  // no reply: nothing
  net.RunFor(absl::Milliseconds(10));
  EXPECT_EQ(in.got, std::vector<std::string>{"503 " + inbox + ".1"});
  EXPECT_TRUE(other.got.empty());  // only the requester's connection
}

TEST(Network, QueueGroupDeliversToOneMember) {
  Network net(7, 1024);
  auto a = net.Connect(0);
  auto b = net.Connect(1);
  auto c = net.Connect(2);
  Inbox in;
  auto s1 = b->Subscribe("q", "g", in.Handler("b"));
  auto s2 = c->Subscribe("q", "g", in.Handler("c"));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(a->Publish("q", "", "").ok());
  net.RunFor(absl::Milliseconds(10));
  ASSERT_EQ(in.got.size(), 50u);
  EXPECT_GT(std::count(in.got.begin(), in.got.end(), "b"), 0);
  EXPECT_GT(std::count(in.got.begin(), in.got.end(), "c"), 0);
}

TEST(Network, UnsubscribedGetsNothingMore) {
  Network net(1, 1024);
  auto a = net.Connect(0);
  Inbox in;
  auto sub = a->Subscribe("s", "", in.Handler());
  ASSERT_TRUE(a->Publish("s", "", "x").ok());
  sub->reset();
  net.RunFor(absl::Milliseconds(10));
  EXPECT_TRUE(in.got.empty());
}

TEST(Network, PartitionDropsAndPauseHolds) {
  Network net(1, 1024);
  auto a = net.Connect(0);
  auto b = net.Connect(1);
  Inbox in;
  auto sub = b->Subscribe("s", "", in.Handler());
  net.Partition(0, 1);
  ASSERT_TRUE(a->Publish("s", "", "lost").ok());
  net.RunFor(absl::Milliseconds(10));
  net.Heal(0, 1);
  net.Pause(1);
  bool ticked = false;
  net.At(
      net.now(), 1, [] { return true; }, [&] { ticked = true; });
  ASSERT_TRUE(a->Publish("s", "", "held").ok());
  net.RunFor(absl::Seconds(1));
  EXPECT_TRUE(in.got.empty());
  EXPECT_FALSE(ticked);
  net.Resume(1);
  net.RunFor(absl::Milliseconds(1));
  EXPECT_EQ(in.got, std::vector<std::string>{"held"});
  EXPECT_TRUE(ticked);
}

TEST(Network, FaultsAreReproducibleFromTheSeed) {
  auto run = [](uint64_t seed) {
    Network net(seed, 1024);
    Faults f;
    f.drop = 0.2;
    f.duplicate = 0.2;
    f.reorder = 0.2;
    net.set_faults(f);
    auto a = net.Connect(0);
    Inbox in;
    auto sub = a->Subscribe("s", "", in.Handler());
    for (int i = 0; i < 200; ++i) (void)a->Publish("s", "", std::to_string(i));
    net.RunFor(absl::Seconds(1));
    return in.got;
  };
  const auto first = run(42);
  EXPECT_EQ(first, run(42));
  EXPECT_NE(first, run(43));
  EXPECT_LT(first.size(), 250u);
  EXPECT_GT(first.size(), 150u);
}

}  // namespace
}  // namespace kv::replication::sim
