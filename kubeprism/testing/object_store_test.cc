#include "kubeprism/testing/object_store.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace weft::kubeprism::testing {
namespace {

using nlohmann::json;

json Service(const std::string& name, int port = 80) {
  return {{"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", {{"ports", {{{"port", port}}}}}}};
}

std::vector<std::string> Names(const ListPage& page) {
  std::vector<std::string> out;
  for (const ObjectPtr& o : page.items) out.push_back(o->name);
  return out;
}

class ObjectStoreTest : public ::testing::Test {
 protected:
  ObjectStore store_{DefaultLabResources(), 100};
  const int services_ = store_.FindResource("", "services");
};

TEST_F(ObjectStoreTest, ListAtAnOlderVersionSeesThatSnapshot) {
  ASSERT_TRUE(store_.Create(services_, Service("a")).ok());
  ASSERT_TRUE(store_.Create(services_, Service("b")).ok());
  const int64_t snapshot = store_.resource_version();
  ASSERT_TRUE(store_.Create(services_, Service("c")).ok());
  ASSERT_TRUE(store_.Delete(services_, "default", "a", "").ok());
  ASSERT_TRUE(store_.Upsert(services_, Service("b", 81)).ok());

  auto old = store_.List(services_, "", snapshot, "", 0, nullptr);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(Names(*old), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(old->items[1]->json["spec"]["ports"][0]["port"], 80);
  auto now = store_.List(services_, "", 0, "", 0, nullptr);
  EXPECT_EQ(Names(*now), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(now->items[0]->json["spec"]["ports"][0]["port"], 81);
}

TEST_F(ObjectStoreTest, PagesResumeAfterTheLastKey) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_.Create(services_, Service(absl::StrCat("s", i))).ok());
  auto first = store_.List(services_, "default", 0, "", 2, nullptr);
  EXPECT_EQ(Names(*first), (std::vector<std::string>{"s0", "s1"}));
  EXPECT_EQ(first->last_key, "default/s1");
  auto second = store_.List(services_, "default", first->resource_version, first->last_key, 3,
                            nullptr);
  EXPECT_EQ(Names(*second), (std::vector<std::string>{"s2", "s3", "s4"}));
  EXPECT_TRUE(second->last_key.empty());
}

TEST_F(ObjectStoreTest, UpdateChecksResourceVersionAndSkipsNoOps) {
  auto created = store_.Create(services_, Service("a"));
  ASSERT_TRUE(created.ok());
  json stale = (*created)->json;
  json changed = stale;
  changed["spec"]["ports"][0]["port"] = 90;
  ASSERT_TRUE(store_.Update(services_, changed).ok());
  EXPECT_EQ(store_.Update(services_, changed).status().code(), absl::StatusCode::kAborted);
  const int64_t rv = store_.resource_version();
  json same = (*store_.Get(services_, "default", "a"))->json;
  auto unchanged = store_.Update(services_, same);
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(store_.resource_version(), rv);
}

TEST_F(ObjectStoreTest, HistoryOverflowMovesTheCompactionPoint) {
  ObjectStore small(DefaultLabResources(), 3);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(small.Create(services_, Service(absl::StrCat("s", i))).ok());
  EXPECT_EQ(small.compacted_resource_version(), 2);
  EXPECT_EQ(small.EventsAfter(services_, 1, 10).status().code(), absl::StatusCode::kOutOfRange);
  auto events = small.EventsAfter(services_, 2, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->events.size(), 3u);
  EXPECT_EQ(events->events[0].resource_version, 3);
  EXPECT_EQ(small.List(services_, "", 1, "", 0, nullptr).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST_F(ObjectStoreTest, CompactDropsTombstonesAndOldVersions) {
  ASSERT_TRUE(store_.Create(services_, Service("a")).ok());
  ASSERT_TRUE(store_.Delete(services_, "default", "a", "").ok());
  store_.Compact();
  EXPECT_TRUE(store_.List(services_, "", 0, "", 0, nullptr)->items.empty());
  EXPECT_EQ(store_.Get(services_, "default", "a").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_.Create(services_, Service("a")).ok());  // the name is free again
}

TEST_F(ObjectStoreTest, EventsAreFilteredByResourceAndSkipRaw) {
  const int nodes = store_.FindResource("", "nodes");
  ASSERT_TRUE(store_.Create(services_, Service("a")).ok());
  ASSERT_TRUE(store_.Create(nodes, {{"metadata", {{"name", "n"}}}}).ok());
  ASSERT_TRUE(store_.PutRaw(services_, "default", "raw", "{").ok());
  auto events = store_.EventsAfter(services_, 0, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->events.size(), 1u);
  EXPECT_EQ(events->events[0].type, EventType::kAdded);
  EXPECT_EQ(events->scanned_to, 3);
  EXPECT_TRUE(store_.Get(nodes, "", "n").ok());
}

}  // namespace
}  // namespace weft::kubeprism::testing
