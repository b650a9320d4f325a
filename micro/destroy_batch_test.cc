#include "micro/destroy_batch.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace micro {
namespace {

// The messages destroyed so far, in order (tests run one at a time).
std::vector<natsMsg*>* destroyed = nullptr;

void Record(natsMsg* msg) {
  destroyed->push_back(msg);
  natsMsg_Destroy(msg);
}

class DestroyBatchTest : public ::testing::Test {
 protected:
  // natsMsg_Destroy hands messages to the library's collector thread.
  static void SetUpTestSuite() { ASSERT_EQ(nats_Open(-1), NATS_OK); }
  void SetUp() override { destroyed = &log_; }
  void TearDown() override { destroyed = nullptr; }

  static natsMsg* Make(size_t payload) {
    const std::string data(payload, 'x');
    natsMsg* msg = nullptr;
    EXPECT_EQ(natsMsg_Create(&msg, "s", "r", data.data(), static_cast<int>(data.size())),
              NATS_OK);
    return msg;
  }

  std::vector<natsMsg*> log_;
};

TEST_F(DestroyBatchTest, HoldsUpToTheCountThenDestroysTheBatch) {
  DestroyBatch batch(&Record);
  for (int i = 0; i < DestroyBatch::kMaxMessages - 1; ++i) batch.Add(Make(10));
  EXPECT_TRUE(log_.empty());
  EXPECT_EQ(batch.size(), DestroyBatch::kMaxMessages - 1);
  batch.Add(Make(10));
  EXPECT_EQ(log_.size(), static_cast<size_t>(DestroyBatch::kMaxMessages));
  EXPECT_EQ(batch.size(), 0);
}

TEST_F(DestroyBatchTest, HoldsUpToTheBytes) {
  DestroyBatch batch(&Record);
  const size_t big = DestroyBatch::kMaxBytes / 3;
  natsMsg* first = Make(big);
  batch.Add(first);
  batch.Add(Make(big));
  batch.Add(Make(big));  // 3 x (big + 2) bytes is over the limit
  ASSERT_EQ(log_.size(), 2u);
  EXPECT_EQ(log_[0], first);
  EXPECT_EQ(batch.size(), 1);
}

TEST_F(DestroyBatchTest, DestroysALargeMessageAtOnce) {
  DestroyBatch batch(&Record);
  batch.Add(Make(10));
  natsMsg* large = Make(DestroyBatch::kMaxBytes);
  batch.Add(large);
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0], large);
  EXPECT_EQ(batch.size(), 1);
}

// Headers count as payload does: a tiny body with large headers is large.
TEST_F(DestroyBatchTest, CountsHeaders) {
  DestroyBatch batch(&Record);
  natsMsg* headed = Make(1);
  const std::string value(DestroyBatch::kMaxBytes, 'h');
  ASSERT_EQ(natsMsgHeader_Set(headed, "Big", value.c_str()), NATS_OK);
  batch.Add(headed);
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0], headed);
  EXPECT_EQ(batch.size(), 0);
}

TEST_F(DestroyBatchTest, FlushAndDestructionDestroyEverythingHeld) {
  {
    DestroyBatch batch(&Record);
    batch.Add(Make(1));
    batch.Add(nullptr);
    batch.Add(Make(1));
    batch.Flush();
    EXPECT_EQ(log_.size(), 2u);
    batch.Add(Make(1));
    EXPECT_EQ(log_.size(), 2u);
  }
  EXPECT_EQ(log_.size(), 3u);
}

TEST_F(DestroyBatchTest, DestroyGoesToTheInnermostScopeOfTheThread) {
  DestroyBatch outer(&Record);
  DestroyBatch inner(&Record);
  {
    const DestroyBatch::Scope a(&outer);
    DestroyBatch::Destroy(Make(1));
    {
      const DestroyBatch::Scope b(&inner);
      DestroyBatch::Destroy(Make(1));
    }
    DestroyBatch::Destroy(Make(1));
  }
  EXPECT_EQ(outer.size(), 2);
  EXPECT_EQ(inner.size(), 1);
  // Without a scope: destroyed at once (by nats.c, not recorded).
  DestroyBatch::Destroy(Make(1));
  EXPECT_EQ(outer.size(), 2);
  EXPECT_TRUE(log_.empty());
}

}  // namespace
}  // namespace micro
