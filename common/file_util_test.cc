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

TEST(FileUtilTest, MakeDirsCreatesParentsWithModeAndAcceptsExisting) {
  std::string root = TempDir();
  std::string leaf = root + "/a/b/c";
  ASSERT_TRUE(MakeDirs(leaf, 0700).ok());
  struct stat st;
  ASSERT_EQ(stat(leaf.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(MakeDirs(leaf, 0700).ok());
  ASSERT_TRUE(WriteFileAtomically(root + "/file", "x").ok());
  EXPECT_FALSE(MakeDirs(root + "/file", 0700).ok());
  EXPECT_FALSE(MakeDirs(root + "/file/below", 0700).ok());
}

}  // namespace
}  // namespace weft
