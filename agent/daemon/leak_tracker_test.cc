#include "agent/daemon/leak_tracker.h"

#include "gtest/gtest.h"

namespace weft::daemon {
namespace {

const absl::Time t0 = absl::FromUnixSeconds(1000);

TEST(LeakTrackerTest, LivePodsAreKept) {
  LeakTracker t(absl::Seconds(10));
  auto keep = t.Pass({{"c1", "default/a"}}, {"default/a"}, t0);
  EXPECT_TRUE(keep.contains("c1"));
}

TEST(LeakTrackerTest, MissingPodIsReleasedOnlyAfterTheGrace) {
  LeakTracker t(absl::Seconds(10));
  std::vector<EndpointRef> eps = {{"c1", "default/a"}, {"c2", "default/b"}};
  EXPECT_EQ(t.Pass(eps, {"default/b"}, t0).size(), 2u);
  EXPECT_EQ(t.Pass(eps, {"default/b"}, t0 + absl::Seconds(9)).size(), 2u);
  EXPECT_TRUE(t.pending());
  auto keep = t.Pass(eps, {"default/b"}, t0 + absl::Seconds(10));
  EXPECT_FALSE(keep.contains("c1"));
  EXPECT_TRUE(keep.contains("c2"));
  EXPECT_FALSE(t.pending());
}

TEST(LeakTrackerTest, APodThatReturnsResetsTheClock) {
  LeakTracker t(absl::Seconds(10));
  std::vector<EndpointRef> eps = {{"c1", "default/a"}};
  t.Pass(eps, {}, t0);
  t.Pass(eps, {"default/a"}, t0 + absl::Seconds(5));  // the informer caught up
  EXPECT_TRUE(t.Pass(eps, {}, t0 + absl::Seconds(12)).contains("c1"));
  EXPECT_FALSE(t.Pass(eps, {}, t0 + absl::Seconds(22)).contains("c1"));
}

TEST(LeakTrackerTest, ManyPassesInQuickSuccessionDoNotShortenTheGrace) {
  LeakTracker t(absl::Seconds(10));
  std::vector<EndpointRef> eps = {{"c1", "default/a"}};
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(t.Pass(eps, {}, t0 + absl::Milliseconds(100 * i)).contains("c1"));
  }
}

}  // namespace
}  // namespace weft::daemon
