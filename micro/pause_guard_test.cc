#include "micro/pause_guard.h"

#include "gtest/gtest.h"

namespace micro {
namespace {

// A guard on a fake monotonic clock: max pause 1 s, margin 250 ms.
class PauseGuardTest : public ::testing::Test {
 protected:
  PauseGuardTest()
      : guard_(absl::Seconds(1), absl::Milliseconds(250), [this] { return now_; }) {}

  // Beats every 50 ms for `d`.
  void Run(absl::Duration d) {
    for (absl::Duration end = now_ + d; now_ < end;) {
      now_ += absl::Milliseconds(50);
      guard_.Tick();
    }
  }

  absl::Duration now_ = absl::Seconds(100);
  PauseGuard guard_;
  PauseGuard::Queue queue_;
};

TEST_F(PauseGuardTest, NoPauseRefusesNothing) {
  Run(absl::Seconds(5));
  EXPECT_FALSE(guard_.Refuse(&queue_, 10));
  EXPECT_FALSE(guard_.Refuse(&queue_, 0));
  EXPECT_EQ(guard_.pauses(), 0u);
}

TEST_F(PauseGuardTest, ShortStallIsNotAPause) {
  now_ += absl::Milliseconds(900);
  EXPECT_FALSE(guard_.Tick());
  EXPECT_FALSE(guard_.Refuse(&queue_, 3));
}

TEST_F(PauseGuardTest, WatchdogSeesPauseAndBacklogIsRefusedUntilDrainedPlusMargin) {
  Run(absl::Seconds(1));
  now_ += absl::Seconds(25);  // SIGSTOP ... SIGCONT
  EXPECT_TRUE(guard_.Tick());
  // The backlog: refused while requests wait behind.
  EXPECT_TRUE(guard_.Refuse(&queue_, 2));
  EXPECT_TRUE(guard_.Refuse(&queue_, 1));
  EXPECT_TRUE(guard_.Refuse(&queue_, 0));  // the last of the backlog: drained
  now_ += absl::Milliseconds(100);
  EXPECT_TRUE(guard_.Refuse(&queue_, 0));  // within the margin
  now_ += absl::Milliseconds(150);
  EXPECT_FALSE(guard_.Refuse(&queue_, 0));  // drained + margin
  EXPECT_FALSE(guard_.Refuse(&queue_, 5));  // back to normal, even under load
  EXPECT_EQ(guard_.pauses(), 1u);
  EXPECT_EQ(guard_.refused(), 4u);
}

TEST_F(PauseGuardTest, RequestBeforeTheWatchdogRunsIsCaught) {
  Run(absl::Seconds(1));
  now_ += absl::Seconds(3);
  // The delivery thread resumed first: the request path sees the gap itself.
  EXPECT_TRUE(guard_.Refuse(&queue_, 4));
  EXPECT_FALSE(guard_.Tick());  // the same pause, counted once
  EXPECT_EQ(guard_.pauses(), 1u);
}

TEST_F(PauseGuardTest, EachQueueDrainsOnItsOwn) {
  PauseGuard::Queue other;
  Run(absl::Seconds(1));
  now_ += absl::Seconds(2);
  guard_.Tick();
  EXPECT_TRUE(guard_.Refuse(&queue_, 0));
  now_ += absl::Milliseconds(300);
  EXPECT_FALSE(guard_.Refuse(&queue_, 0));
  // `other` still holds its backlog from the pause.
  EXPECT_TRUE(guard_.Refuse(&other, 7));
}

TEST_F(PauseGuardTest, AQueueQuietThroughThePauseIsNotRefused) {
  Run(absl::Seconds(1));
  now_ += absl::Seconds(2);
  guard_.Tick();
  Run(absl::Milliseconds(300));
  // Its first request since the resume, alone, came after the margin.
  EXPECT_FALSE(guard_.Refuse(&queue_, 0));
  EXPECT_EQ(guard_.refused(), 0u);
}

TEST_F(PauseGuardTest, ASecondPauseRestartsTheRefusal) {
  Run(absl::Seconds(1));
  now_ += absl::Seconds(2);
  guard_.Tick();
  EXPECT_TRUE(guard_.Refuse(&queue_, 0));
  Run(absl::Milliseconds(300));
  EXPECT_FALSE(guard_.Refuse(&queue_, 0));
  now_ += absl::Seconds(2);
  guard_.Tick();
  EXPECT_TRUE(guard_.Refuse(&queue_, 0));
  EXPECT_EQ(guard_.pauses(), 2u);
}

}  // namespace
}  // namespace micro
