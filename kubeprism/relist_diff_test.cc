#include "kubeprism/relist_diff.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace weft::kubeprism {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

TEST(DiffRelistTest, OnlyRealDifferences) {
  std::vector<KeyVersion> old_items = {
      {"a", "same", "1"}, {"a", "changed", "2"}, {"a", "gone", "3"}, {"b", "same", "4"}};
  std::vector<KeyVersion> new_items = {
      {"b", "same", "4"}, {"a", "new", "9"}, {"a", "changed", "8"}, {"a", "same", "1"}};
  RelistDiff d = DiffRelist(old_items, new_items);
  EXPECT_THAT(d.added, ElementsAre(1u));
  EXPECT_THAT(d.updated, ElementsAre(Pair(1u, 2u)));
  EXPECT_THAT(d.deleted, ElementsAre(2u));
}

TEST(DiffRelistTest, EmptyCacheIsAllAdds) {
  RelistDiff d = DiffRelist({}, {{"a", "x", "1"}, {"a", "y", "1"}});
  EXPECT_THAT(d.added, ElementsAre(0u, 1u));
  EXPECT_THAT(d.updated, IsEmpty());
  EXPECT_THAT(d.deleted, IsEmpty());
}

TEST(DiffRelistTest, EmptyListIsAllDeletes) {
  RelistDiff d = DiffRelist({{"a", "x", "1"}, {"", "node", "2"}}, {});
  EXPECT_THAT(d.deleted, ElementsAre(0u, 1u));
  EXPECT_THAT(d.added, IsEmpty());
}

TEST(DiffRelistTest, NamespaceIsPartOfTheKey) {
  RelistDiff d = DiffRelist({{"a", "x", "1"}}, {{"b", "x", "1"}});
  EXPECT_THAT(d.added, ElementsAre(0u));
  EXPECT_THAT(d.deleted, ElementsAre(0u));
}

TEST(DiffRelistTest, ThousandsUnchangedOneUpdated) {
  std::vector<std::string> names;
  for (int i = 0; i < 3000; ++i) names.push_back("svc-" + std::to_string(i));
  std::vector<KeyVersion> old_items, new_items;
  for (const std::string& n : names) {
    old_items.push_back({"default", n, "5"});
    new_items.push_back({"default", n, n == "svc-1234" ? "6" : "5"});
  }
  RelistDiff d = DiffRelist(old_items, new_items);
  EXPECT_THAT(d.updated, ElementsAre(Pair(1234u, 1234u)));
  EXPECT_THAT(d.added, IsEmpty());
  EXPECT_THAT(d.deleted, IsEmpty());
}

}  // namespace
}  // namespace weft::kubeprism
