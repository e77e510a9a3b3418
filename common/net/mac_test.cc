#include "common/net/mac.h"

#include "gtest/gtest.h"

namespace weft::net {
namespace {

TEST(MacTest, RoundTripsAndRejectsGarbage) {
  Mac m;
  ASSERT_TRUE(MacFromString("0A:58:0a:f4:01:05", &m));
  EXPECT_EQ(MacToString(m), "0a:58:0a:f4:01:05");
  EXPECT_FALSE(MacFromString("0a:58:0a:f4:01", &m));
  EXPECT_FALSE(MacFromString("0a-58-0a-f4-01-05", &m));
  EXPECT_FALSE(MacFromString("0g:58:0a:f4:01:05", &m));
}

}  // namespace
}  // namespace weft::net
