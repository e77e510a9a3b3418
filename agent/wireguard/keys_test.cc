#include "agent/wireguard/keys.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

namespace weft::wireguard {
namespace {

// RFC 7748 section 6.1.
constexpr char kAlicePrivateHex[] =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr char kAlicePublicHex[] =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
constexpr char kAlicePublicBase64[] = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
constexpr char kAlicePrivateBase64[] = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";

Key Hex(const char* hex) {
  auto k = ParseHexKey(hex);
  EXPECT_TRUE(k.ok()) << k.status();
  return k.ok() ? *k : Key{};
}

// A fresh folder under the test's temporary directory.
std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base ? base : "/tmp", "/", name, "-", getpid());
  std::string cmd = "rm -rf '" + dir + "'";
  EXPECT_EQ(system(cmd.c_str()), 0);
  return dir;
}

int ModeOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_mode & 07777;
}

void WriteText(const std::string& path, const std::string& text, int mode) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  return out;
}

TEST(KeysTest, PublicKeyMatchesRfc7748Vector) {
  EXPECT_EQ(ToHex(PublicKey(Hex(kAlicePrivateHex))), kAlicePublicHex);
}

TEST(KeysTest, Base64OfTheRfcVectorIsWhatWgPrints) {
  EXPECT_EQ(ToBase64(Hex(kAlicePublicHex)), kAlicePublicBase64);
  auto k = ParseBase64Key(kAlicePrivateBase64);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(ToHex(*k), kAlicePrivateHex);
}

TEST(KeysTest, GeneratedKeysAreClampedRandomAndDeriveAPublicKey) {
  Key a = GeneratePrivateKey(), b = GeneratePrivateKey();
  EXPECT_NE(a, b);
  for (const Key& k : {a, b}) {
    EXPECT_EQ(k.bytes[0] & 7, 0);
    EXPECT_EQ(k.bytes[31] & 128, 0);
    EXPECT_EQ(k.bytes[31] & 64, 64);
    EXPECT_FALSE(PublicKey(k).IsZero());
  }
  EXPECT_NE(PublicKey(a), PublicKey(b));
}

TEST(KeysTest, Base64RoundTrip) {
  for (int i = 0; i < 50; ++i) {
    Key k = GeneratePrivateKey();
    std::string text = ToBase64(k);
    EXPECT_EQ(text.size(), kKeyBase64Length);
    auto back = ParseBase64Key(text);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, k);
  }
  Key all_ones;
  all_ones.bytes.fill(0xff);
  EXPECT_EQ(*ParseBase64Key(ToBase64(all_ones)), all_ones);
  EXPECT_EQ(*ParseBase64Key(ToBase64(Key{})), Key{});
}

TEST(KeysTest, Base64RejectsWrongInputWithoutEchoingIt) {
  const std::string good = kAlicePrivateBase64;
  const std::vector<std::string> bad = {
      "",
      good.substr(0, 43),                              // no padding
      good + "=",                                      // 45 characters
      good.substr(0, 40) + "====",                     // too much padding
      "!" + good.substr(1),                            // not base64
      good.substr(0, 20) + "-" + good.substr(21),      // URL-safe alphabet
      good.substr(0, 42) + "B=",                       // non-canonical: unused bits set
      "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC==",  // 31 bytes
  };
  for (const std::string& text : bad) {
    auto k = ParseBase64Key(text);
    EXPECT_FALSE(k.ok()) << "accepted \"" << text << "\"";
    if (!k.ok()) {
      EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
      if (text.size() > 8) {
        EXPECT_FALSE(absl::StrContains(k.status().message(), text.substr(0, 8))) << k.status();
      }
    }
  }
  EXPECT_TRUE(absl::StrContains(ParseBase64Key(good.substr(0, 43)).status().message(),
                                "got 43 characters"));
}

TEST(KeysTest, HexRoundTripAndErrors) {
  Key k = GeneratePrivateKey();
  EXPECT_EQ(*ParseHexKey(ToHex(k)), k);
  std::string upper = kAlicePublicHex;
  for (char& c : upper) c = static_cast<char>(toupper(c));
  EXPECT_EQ(ToHex(*ParseHexKey(upper)), kAlicePublicHex);
  EXPECT_FALSE(ParseHexKey(std::string(kAlicePublicHex).substr(2)).ok());
  EXPECT_FALSE(ParseHexKey(std::string(kAlicePublicHex) + "00").ok());
  std::string g = kAlicePublicHex;
  g[10] = 'g';
  auto bad = ParseHexKey(g);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "position 11")) << bad.status();
}

TEST(KeysTest, KeyFileIsCreatedPrivatelyAndReused) {
  const std::string dir = TempDir("keyfile");
  const std::string path = dir + "/sub/wg.key";
  bool created = false;
  auto first = LoadOrCreatePrivateKey(path, &created);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(created);
  EXPECT_EQ(ModeOf(path), 0600);
  EXPECT_EQ(ModeOf(dir + "/sub"), 0700);
  // The file is what `wg genkey` writes: base64 and a newline.
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, ToBase64(*first) + "\n");
  // No temporary file is left beside it.
  EXPECT_EQ(Entries(dir + "/sub"), std::vector<std::string>{"wg.key"});

  auto second = LoadOrCreatePrivateKey(path, &created);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(created);
  EXPECT_EQ(*second, *first);
  EXPECT_TRUE(LoadOrCreatePrivateKey(path, nullptr).ok());
}

TEST(KeysTest, KeyFileCreatedUnderARestrictiveUmaskOrALooseOneIs0600) {
  const std::string dir = TempDir("umask");
  mode_t old = umask(0);
  bool created = false;
  auto k = LoadOrCreatePrivateKey(dir + "/wg.key", &created);
  umask(old);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(ModeOf(dir + "/wg.key"), 0600);
}

TEST(KeysTest, GroupOrOtherReadableKeyFileIsRefused) {
  const std::string dir = TempDir("loose");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  for (int mode : {0644, 0640, 0604, 0620}) {
    const std::string path = absl::StrCat(dir, "/wg-", mode, ".key");
    WriteText(path, std::string(kAlicePrivateBase64) + "\n", mode);
    bool created = true;
    auto k = LoadOrCreatePrivateKey(path, &created);
    ASSERT_FALSE(k.ok()) << "mode " << mode;
    EXPECT_FALSE(created);
    EXPECT_EQ(k.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(absl::StrContains(k.status().message(), path)) << k.status();
    EXPECT_TRUE(absl::StrContains(k.status().message(), absl::StrFormat("%04o", mode)))
        << k.status();
    EXPECT_FALSE(absl::StrContains(k.status().message(), kAlicePrivateBase64));
    // Refused, not replaced.
    EXPECT_EQ(ModeOf(path), mode);
  }
}

TEST(KeysTest, MalformedKeyFileIsRefusedWithoutShowingItsContents) {
  const std::string dir = TempDir("malformed");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  const std::string almost = std::string(kAlicePrivateBase64).substr(0, 40);
  for (const std::string& text : {almost, std::string(kAlicePrivateBase64) + "\nextra\n",
                                  std::string(""), std::string(kAlicePrivateBase64) + " \n"}) {
    const std::string path = dir + "/wg.key";
    unlink(path.c_str());
    WriteText(path, text, 0600);
    auto k = LoadOrCreatePrivateKey(path, nullptr);
    ASSERT_FALSE(k.ok()) << "accepted \"" << text << "\"";
    EXPECT_TRUE(absl::StrContains(k.status().message(), "malformed")) << k.status();
    EXPECT_FALSE(absl::StrContains(k.status().message(), almost.substr(0, 10))) << k.status();
  }
  // CRLF from an editor is fine.
  WriteText(dir + "/crlf.key", std::string(kAlicePrivateBase64) + "\r\n", 0600);
  auto k = LoadOrCreatePrivateKey(dir + "/crlf.key", nullptr);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(ToHex(*k), kAlicePrivateHex);
}

TEST(KeysTest, SymlinkInPlaceOfTheKeyFileIsRefused) {
  const std::string dir = TempDir("symlink");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  WriteText(dir + "/real.key", std::string(kAlicePrivateBase64) + "\n", 0600);
  ASSERT_EQ(symlink((dir + "/real.key").c_str(), (dir + "/wg.key").c_str()), 0);
  auto k = LoadOrCreatePrivateKey(dir + "/wg.key", nullptr);
  ASSERT_FALSE(k.ok());
  EXPECT_TRUE(absl::StrContains(k.status().message(), "symbolic link")) << k.status();
}

TEST(KeysTest, StorePrivateKeyReplacesAtomicallyWith0600) {
  const std::string dir = TempDir("rotate");
  const std::string path = dir + "/wg.key";
  auto old_key = LoadOrCreatePrivateKey(path, nullptr);
  ASSERT_TRUE(old_key.ok()) << old_key.status();
  chmod(path.c_str(), 0400);
  Key next = GeneratePrivateKey();
  ASSERT_TRUE(StorePrivateKey(path, next).ok());
  EXPECT_EQ(ModeOf(path), 0600);
  bool created = true;
  auto loaded = LoadOrCreatePrivateKey(path, &created);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(created);
  EXPECT_EQ(*loaded, next);
  EXPECT_NE(*loaded, *old_key);
  EXPECT_EQ(Entries(dir), std::vector<std::string>{"wg.key"});
}

}  // namespace
}  // namespace weft::wireguard
