#include "kubeprism/testing/selectors.h"

#include "gtest/gtest.h"

namespace weft::kubeprism::testing {
namespace {

StoredObject Pod(const std::string& name, const std::string& node, const std::string& tier) {
  StoredObject o;
  o.ns = "default";
  o.name = name;
  o.json = {{"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"tier", tier}}}}},
            {"spec", {{"nodeName", node}}}};
  return o;
}

TEST(SelectorTest, FieldEqualityAndInequality) {
  auto on_node = Selector::ParseFields("spec.nodeName=node-1");
  ASSERT_TRUE(on_node.ok());
  EXPECT_TRUE(on_node->Matches(Pod("a", "node-1", "web")));
  EXPECT_FALSE(on_node->Matches(Pod("a", "node-2", "web")));
  auto not_named = Selector::ParseFields("metadata.name!=a,spec.nodeName==node-1");
  ASSERT_TRUE(not_named.ok());
  EXPECT_FALSE(not_named->Matches(Pod("a", "node-1", "web")));
  EXPECT_TRUE(not_named->Matches(Pod("b", "node-1", "web")));
  // An unscheduled pod has no nodeName: it matches "spec.nodeName=".
  auto unscheduled = Selector::ParseFields("spec.nodeName=");
  StoredObject pending = Pod("p", "", "web");
  pending.json["spec"].erase("nodeName");
  EXPECT_TRUE(unscheduled->Matches(pending));
  EXPECT_FALSE(Selector::ParseFields("spec.nodeName").ok());
}

TEST(SelectorTest, LabelOperators) {
  const StoredObject web = Pod("a", "n", "web");
  auto check = [&](const std::string& text) {
    auto s = Selector::ParseLabels(text);
    EXPECT_TRUE(s.ok()) << text;
    return s.ok() && s->Matches(web);
  };
  EXPECT_TRUE(check(""));
  EXPECT_TRUE(check("tier=web"));
  EXPECT_FALSE(check("tier=db"));
  EXPECT_TRUE(check("tier!=db"));
  EXPECT_TRUE(check("tier"));
  EXPECT_FALSE(check("!tier"));
  EXPECT_TRUE(check("tier in (db,web)"));
  EXPECT_FALSE(check("tier notin (db,web)"));
  EXPECT_TRUE(check("missing!=x"));
  EXPECT_FALSE(check("missing=x"));
}

}  // namespace
}  // namespace weft::kubeprism::testing
