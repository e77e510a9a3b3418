#include "agent/datapath/maglev.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace weft::datapath {
namespace {

constexpr uint32_t kSize = 1021;  // WEFT_LB4_MAGLEV_SIZE

std::vector<std::string> Backends(int n, int first = 1) {
  std::vector<std::string> names;
  for (int i = first; i < first + n; ++i) names.push_back(absl::StrCat("10.244.1.", i, ":8080"));
  return names;
}

// The backend name of every entry.
std::vector<std::string> Names(const std::vector<std::string>& backends, uint32_t size) {
  std::vector<std::string> out;
  for (uint32_t index : MaglevTable(backends, size)) out.push_back(backends.at(index));
  return out;
}

TEST(MaglevTableTest, EveryEntryIsABackendIndex) {
  for (int n : {1, 2, 3, 10, 100, 1021, 1500}) {
    auto table = MaglevTable(Backends(n), kSize);
    ASSERT_EQ(table.size(), kSize) << n;
    for (uint32_t index : table) ASSERT_LT(index, static_cast<uint32_t>(n)) << n;
  }
}

TEST(MaglevTableTest, NoBackendOrNonPrimeSizeGivesEmptyTable) {
  EXPECT_TRUE(MaglevTable({}, kSize).empty());
  EXPECT_TRUE(MaglevTable(Backends(3), 0).empty());
  EXPECT_TRUE(MaglevTable(Backends(3), 1).empty());
  EXPECT_TRUE(MaglevTable(Backends(3), 1000).empty());
  EXPECT_EQ(MaglevTable(Backends(3), 2).size(), 2u);
  EXPECT_EQ(MaglevTable(Backends(3), 7).size(), 7u);
}

TEST(MaglevTableTest, BackendsOwnEntriesWithinOneOfEachOther) {
  for (int n : {1, 2, 3, 7, 10, 33, 100}) {
    std::vector<int> count(n, 0);
    for (uint32_t index : MaglevTable(Backends(n), kSize)) ++count[index];
    auto [lo, hi] = std::minmax_element(count.begin(), count.end());
    EXPECT_LE(*hi - *lo, 1) << n;
    EXPECT_EQ(*lo, static_cast<int>(kSize) / n) << n;
  }
}

TEST(MaglevTableTest, SameNamesInAnyOrderGiveSameTable) {
  auto names = Backends(10);
  auto expected = Names(names, kSize);
  std::reverse(names.begin(), names.end());
  EXPECT_EQ(Names(names, kSize), expected);
  std::rotate(names.begin(), names.begin() + 3, names.end());
  EXPECT_EQ(Names(names, kSize), expected);
  EXPECT_EQ(Names(names, kSize), Names(names, kSize));
}

// The table must not depend on the build (the hash is written out, not
// absl::Hash): agents of different versions pick the same backend for a flow.
TEST(MaglevTableTest, TableIsPinnedAcrossBuilds) {
  auto table = MaglevTable({"10.244.1.5:8080", "10.244.2.7:8080", "10.244.3.9:8080"}, 13);
  EXPECT_EQ(table, (std::vector<uint32_t>{0, 2, 1, 1, 2, 1, 0, 0, 1, 0, 0, 2, 2}));
}

TEST(MaglevTableTest, RemovingABackendMovesLittleBesidesItsOwnEntries) {
  const auto before_names = Backends(10);
  auto after_names = before_names;
  const std::string removed = after_names[4];
  after_names.erase(after_names.begin() + 4);
  auto before = Names(before_names, kSize);
  auto after = Names(after_names, kSize);
  int moved_others = 0;
  int owned = 0;
  for (uint32_t i = 0; i < kSize; ++i) {
    if (before[i] == removed) {
      ++owned;
      continue;
    }
    if (before[i] != after[i]) ++moved_others;
  }
  EXPECT_GT(owned, 0);
  EXPECT_LT(moved_others, kSize * 5 / 100) << moved_others << " entries of other backends moved";
}

TEST(MaglevTableTest, AddingABackendMovesAboutItsShare) {
  const auto before_names = Backends(10);
  auto after_names = before_names;
  after_names.push_back("10.244.9.1:8080");
  auto before = Names(before_names, kSize);
  auto after = Names(after_names, kSize);
  int changed = 0;
  int to_new = 0;
  for (uint32_t i = 0; i < kSize; ++i) {
    if (before[i] != after[i]) ++changed;
    if (after[i] == "10.244.9.1:8080") ++to_new;
  }
  EXPECT_GE(to_new, static_cast<int>(kSize) / 11);  // its fair share, 92 or 93
  const double fraction = static_cast<double>(changed) / kSize;
  EXPECT_GE(fraction, 1.0 / 11);
  EXPECT_LT(fraction, 1.0 / 11 + 0.05) << changed << " entries changed";
}

}  // namespace
}  // namespace weft::datapath
