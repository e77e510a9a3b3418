#include "kubeprism/backoff.h"

#include "gtest/gtest.h"

namespace weft::kubeprism {
namespace {

TEST(BackoffTest, CeilingDoublesUpToCapAndResets) {
  Backoff b({absl::Milliseconds(100), absl::Seconds(1)}, 42);
  const absl::Duration expected[] = {absl::Milliseconds(100), absl::Milliseconds(200),
                                     absl::Milliseconds(400), absl::Milliseconds(800),
                                     absl::Seconds(1), absl::Seconds(1)};
  for (absl::Duration ceiling : expected) {
    EXPECT_EQ(b.Ceiling(), ceiling);
    absl::Duration d = b.Next();
    EXPECT_GE(d, absl::ZeroDuration());
    EXPECT_LE(d, ceiling);
  }
  b.Reset();
  EXPECT_EQ(b.Ceiling(), absl::Milliseconds(100));
}

TEST(BackoffTest, SameSeedSameSchedule) {
  Backoff a({}, 7), b({}, 7), c({}, 8);
  bool differs = false;
  for (int i = 0; i < 20; ++i) {
    absl::Duration da = a.Next();
    EXPECT_EQ(da, b.Next());
    if (da != c.Next()) differs = true;
  }
  EXPECT_TRUE(differs);
}

TEST(BackoffTest, FullJitterSpreadsOverTheWholeRange) {
  // Many draws at the cap: some in the lower and some in the upper quarter.
  Backoff b({absl::Seconds(30), absl::Seconds(30)}, 1);
  int low = 0, high = 0;
  for (int i = 0; i < 200; ++i) {
    absl::Duration d = b.Next();
    if (d < absl::Seconds(7.5)) ++low;
    if (d > absl::Seconds(22.5)) ++high;
  }
  EXPECT_GT(low, 20);
  EXPECT_GT(high, 20);
}

}  // namespace
}  // namespace weft::kubeprism
