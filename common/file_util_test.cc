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

TEST(FileUtilTest, CopiesAtomicallyWithModeAndReplaces) {
  std::string root = TempDir();
  std::string big(3 << 20, 'x');  // several copy_file_range rounds are fine too
  big[12345] = 'y';
  ASSERT_TRUE(WriteFileAtomically(root + "/src", big, 0600).ok());
  ASSERT_TRUE(WriteFileAtomically(root + "/dst", "old", 0600).ok());
  ASSERT_TRUE(CopyFileAtomically(root + "/src", root + "/dst", 0755).ok());
  EXPECT_EQ(*ReadFile(root + "/dst"), big);
  struct stat st;
  ASSERT_EQ(stat((root + "/dst").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  EXPECT_EQ(CopyFileAtomically(root + "/nope", root + "/dst", 0755).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(*ReadFile(root + "/dst"), big);  // a failed copy changes nothing
  EXPECT_FALSE(CopyFileAtomically(root + "/src", "/nonexistent-weft-dir/x", 0755).ok());
}

TEST(FileUtilTest, CopiesAcrossFilesystems) {
  // /dev/shm is a tmpfs of its own: the agent copies weft-cni from its
  // extension's rootfs into a bind-mounted /opt/cni/bin the same way.
  std::string src = "/dev/shm/weft-file-util-" + std::to_string(getpid());
  ASSERT_TRUE(WriteFileAtomically(src, "plugin", 0600).ok());
  std::string dst = TempDir() + "/plugin";
  absl::Status s = CopyFileAtomically(src, dst, 0755);
  unlink(src.c_str());
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(*ReadFile(dst), "plugin");
}

TEST(FileUtilTest, MakeDirsTakesRelativePaths) {
  std::string root = TempDir();
  ASSERT_EQ(chdir(root.c_str()), 0);
  EXPECT_TRUE(MakeDirs("rel/a/b", 0700).ok());
  struct stat st;
  EXPECT_EQ(stat((root + "/rel/a/b").c_str(), &st), 0);
}

TEST(FileUtilTest, SelfExecutableIsThisTest) {
  EXPECT_NE(SelfExecutable().find("file_util_test"), std::string::npos) << SelfExecutable();
}

}  // namespace
}  // namespace weft
