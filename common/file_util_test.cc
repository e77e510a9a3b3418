#include "common/file_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "gtest/gtest.h"

namespace weft {
namespace {

std::string TempDir() {
  std::string tmpl = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
                     "/weft-file-XXXXXX";
  return mkdtemp(tmpl.data());
}

TEST(FileUtilTest, WritesAtomicallyWithModeAndReadsBack) {
  std::string path = TempDir() + "/state.json";
  ASSERT_TRUE(WriteFileAtomically(path, "one", 0600).ok());
  ASSERT_TRUE(WriteFileAtomically(path, "two", 0600).ok());
  EXPECT_EQ(*ReadFile(path), "two");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(FileUtilTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadFile(TempDir() + "/nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(FileUtilTest, UnwritableFolderIsAnError) {
  EXPECT_FALSE(WriteFileAtomically("/nonexistent-weft-dir/x", "y").ok());
}

}  // namespace
}  // namespace weft
