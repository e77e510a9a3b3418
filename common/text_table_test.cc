#include "common/text_table.h"

#include "gtest/gtest.h"

namespace weft {
namespace {

TEST(TextTableTest, ColumnsAlignWithoutTrailingBlanks) {
  EXPECT_EQ(RenderTable({{"NAME", "IP"}, {"frontend", "10.0.0.1"}, {"db", ""}, {"x"}}),
            "NAME      IP\n"
            "frontend  10.0.0.1\n"
            "db\n"
            "x\n");
  EXPECT_EQ(RenderTable({}), "");
}

}  // namespace
}  // namespace weft
