#include "agent/daemon/leak_tracker.h"

#include "gtest/gtest.h"

namespace weft::daemon {
namespace {

const absl::Time t0 = absl::FromUnixSeconds(1000);
using Refs = std::vector<EndpointRef>;

TEST(LeakTrackerTest, LivePodsAreKept) {
  LeakTracker t(absl::Seconds(10));
  EXPECT_TRUE(t.Pass({{"c1", "eth0", "default/a"}}, {"default/a"}, t0).empty());
  EXPECT_TRUE(t.Pass({{"c1", "eth0", "default/a"}}, {"default/a"}, t0 + absl::Hours(1)).empty());
  EXPECT_FALSE(t.pending());
}

TEST(LeakTrackerTest, MissingPodIsLeakedOnlyAfterTheGrace) {
  LeakTracker t(absl::Seconds(10));
  Refs eps = {{"c1", "eth0", "default/a"}, {"c2", "eth0", "default/b"}};
  EXPECT_TRUE(t.Pass(eps, {"default/b"}, t0).empty());
  EXPECT_TRUE(t.Pass(eps, {"default/b"}, t0 + absl::Seconds(9)).empty());
  EXPECT_TRUE(t.pending());
  EXPECT_EQ(t.Pass(eps, {"default/b"}, t0 + absl::Seconds(10)), Refs{eps[0]});
  // Released: gone from the endpoints, forgotten.
  EXPECT_TRUE(t.Pass({eps[1]}, {"default/b"}, t0 + absl::Seconds(11)).empty());
  EXPECT_FALSE(t.pending());
}

TEST(LeakTrackerTest, AFailedReleaseIsLeakedAgainAtOnce) {
  LeakTracker t(absl::Seconds(10));
  Refs eps = {{"c1", "eth0", "default/a"}};
  t.Pass(eps, {}, t0);
  EXPECT_EQ(t.Pass(eps, {}, t0 + absl::Seconds(10)), eps);
  EXPECT_EQ(t.Pass(eps, {}, t0 + absl::Seconds(11)), eps);  // still there: retry
  EXPECT_TRUE(t.pending());
}

TEST(LeakTrackerTest, EachInterfaceOfAContainerIsTrackedOnItsOwn) {
  LeakTracker t(absl::Seconds(10));
  Refs eps = {{"c1", "eth0", "default/a"}, {"c1", "net1", "default/a"}};
  t.Pass(eps, {}, t0);
  EXPECT_EQ(t.Pass(eps, {}, t0 + absl::Seconds(10)), eps);
}

TEST(LeakTrackerTest, APodThatReturnsResetsTheClock) {
  LeakTracker t(absl::Seconds(10));
  Refs eps = {{"c1", "eth0", "default/a"}};
  t.Pass(eps, {}, t0);
  t.Pass(eps, {"default/a"}, t0 + absl::Seconds(5));  // the informer caught up
  EXPECT_TRUE(t.Pass(eps, {}, t0 + absl::Seconds(12)).empty());
  EXPECT_EQ(t.Pass(eps, {}, t0 + absl::Seconds(22)), eps);
}

TEST(LeakTrackerTest, ManyPassesInQuickSuccessionDoNotShortenTheGrace) {
  LeakTracker t(absl::Seconds(10));
  Refs eps = {{"c1", "eth0", "default/a"}};
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(t.Pass(eps, {}, t0 + absl::Milliseconds(100 * i)).empty());
  }
}

}  // namespace
}  // namespace weft::daemon
