#include "agent/wireguard/keys.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"

namespace weft::wireguard {
namespace {

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void Clamp(Key& k) {
  k.bytes[0] &= 248;
  k.bytes[31] &= 127;
  k.bytes[31] |= 64;
}


std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::Status FileError(const std::string& what, const std::string& path, int err) {
  std::string msg = absl::StrCat(what, " ", path, ": ", strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

// Makes the folder's entries durable (a rename or link is only on disk once
// the folder is synced).
void SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);
  close(fd);
}

// Writes the key into a new temporary file beside `path` (O_EXCL via mkostemp,
// 0600 whatever the umask) and syncs it. Returns the temporary file's name.
absl::StatusOr<std::string> WriteTempKeyFile(const std::string& path, const Key& key) {
  std::string tmpl = absl::StrCat(DirOf(path), "/.", BaseOf(path), ".tmp.XXXXXX");
  int fd = mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return FileError("create temporary key file for", path, errno);
  std::string text = ToBase64(key) + "\n";
  int err = fchmod(fd, 0600) != 0 ? errno : 0;
  for (size_t off = 0; err == 0 && off < text.size();) {
    ssize_t n = write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno != EINTR) err = errno;
    if (n > 0) off += static_cast<size_t>(n);
  }
  Wipe(text);
  if (err == 0 && fsync(fd) != 0) err = errno;
  if (close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    unlink(tmpl.c_str());
    return FileError("write temporary key file for", path, err);
  }
  return tmpl;
}

absl::StatusOr<Key> ReadKeyFile(const std::string& path, bool* missing) {
  *missing = false;
  // O_NOFOLLOW: a symlink planted in place of the key file is refused, not followed.
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      *missing = true;
      return absl::NotFoundError(absl::StrCat("key file ", path, " does not exist"));
    }
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat("key file ", path, " is a symbolic link; refused"));
    }
    return FileError("open key file", path, errno);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return FileError("stat key file", path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat("key file ", path, " is not a regular file"));
  }
  if (st.st_uid != geteuid()) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat("key file ", path, " is owned by uid ",
                                                      st.st_uid, ", not by this process (uid ",
                                                      geteuid(), "); refused"));
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrFormat(
        "key file %s has mode %04o: group or others may access it, so the key may have leaked; "
        "refused (check it, then chmod 600 it or remove it to get a new key)",
        path, st.st_mode & 07777));
  }
  std::string text(256, '\0');
  size_t len = 0;
  int err = 0;
  while (len < text.size()) {
    ssize_t n = read(fd, text.data() + len, text.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  close(fd);
  if (err != 0) {
    Wipe(text);
    return FileError("read key file", path, err);
  }
  text.resize(len);
  // One line: the key and an optional line end (as `wg genkey > file` writes).
  absl::string_view line(text);
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  auto key = ParseBase64Key(line);
  Wipe(text);
  if (!key.ok()) {
    return absl::DataLossError(
        absl::StrCat("key file ", path, " is malformed (", key.status().message(), "); refused"));
  }
  return key;
}

}  // namespace

bool Key::IsZero() const {
  uint8_t acc = 0;
  for (uint8_t b : bytes) acc |= b;
  return acc == 0;
}

bool operator==(const Key& a, const Key& b) {
  return CRYPTO_memcmp(a.bytes.data(), b.bytes.data(), kKeyLength) == 0;
}

Key GeneratePrivateKey() {
  Key k;
  if (RAND_bytes(k.bytes.data(), kKeyLength) != 1) {
    size_t off = 0;
    while (off < kKeyLength) {
      ssize_t n = getrandom(k.bytes.data() + off, kKeyLength - off, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // Documented crash: there is no safe way on without randomness.
        fputs("weft: no working random source for a WireGuard key; aborting\n", stderr);
        abort();
      }
      off += static_cast<size_t>(n);
    }
  }
  Clamp(k);
  return k;
}

Key PublicKey(const Key& private_key) {
  Key pub;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.bytes.data(), kKeyLength),
      &EVP_PKEY_free);
  if (pkey == nullptr) return pub;
  size_t len = kKeyLength;
  if (EVP_PKEY_get_raw_public_key(pkey.get(), pub.bytes.data(), &len) != 1 || len != kKeyLength) {
    return Key{};
  }
  return pub;
}

std::string ToBase64(const Key& key) {
  std::string out;
  out.reserve(kKeyBase64Length);
  const auto& b = key.bytes;
  size_t i = 0;
  for (; i + 3 <= kKeyLength; i += 3) {
    uint32_t v = (uint32_t{b[i]} << 16) | (uint32_t{b[i + 1]} << 8) | b[i + 2];
    out.push_back(kBase64Alphabet[(v >> 18) & 63]);
    out.push_back(kBase64Alphabet[(v >> 12) & 63]);
    out.push_back(kBase64Alphabet[(v >> 6) & 63]);
    out.push_back(kBase64Alphabet[v & 63]);
  }
  // 32 = 10*3 + 2: two bytes left, three characters and one '='.
  uint32_t v = (uint32_t{b[i]} << 16) | (uint32_t{b[i + 1]} << 8);
  out.push_back(kBase64Alphabet[(v >> 18) & 63]);
  out.push_back(kBase64Alphabet[(v >> 12) & 63]);
  out.push_back(kBase64Alphabet[(v >> 6) & 63]);
  out.push_back('=');
  return out;
}

absl::StatusOr<Key> ParseBase64Key(absl::string_view text) {
  if (text.size() != kKeyBase64Length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a WireGuard key is 44 characters of base64, got ", text.size(), " characters"));
  }
  if (text[43] != '=' || text[42] == '=') {
    return absl::InvalidArgumentError(
        "a WireGuard key in base64 ends with exactly one '=' (it encodes 32 bytes)");
  }
  int values[43];
  for (size_t i = 0; i < 43; ++i) {
    values[i] = Base64Value(text[i]);
    if (values[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid base64 character at position ", i + 1, " of a WireGuard key"));
    }
  }
  // The last character carries 4 bits of the final byte and 2 unused bits,
  // which must be zero (canonical encoding, as `wg` requires).
  if ((values[42] & 3) != 0) {
    return absl::InvalidArgumentError("a WireGuard key in base64 is not canonically encoded");
  }
  Key k;
  size_t o = 0;
  for (size_t i = 0; i < 40; i += 4) {
    uint32_t v = (uint32_t(values[i]) << 18) | (uint32_t(values[i + 1]) << 12) |
                 (uint32_t(values[i + 2]) << 6) | uint32_t(values[i + 3]);
    k.bytes[o++] = static_cast<uint8_t>(v >> 16);
    k.bytes[o++] = static_cast<uint8_t>(v >> 8);
    k.bytes[o++] = static_cast<uint8_t>(v);
  }
  uint32_t v =
      (uint32_t(values[40]) << 18) | (uint32_t(values[41]) << 12) | (uint32_t(values[42]) << 6);
  k.bytes[o++] = static_cast<uint8_t>(v >> 16);
  k.bytes[o++] = static_cast<uint8_t>(v >> 8);
  return k;
}

std::string ToHex(const Key& key) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(kKeyHexLength);
  for (uint8_t b : key.bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

absl::StatusOr<Key> ParseHexKey(absl::string_view text) {
  if (text.size() != kKeyHexLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("a WireGuard key is 64 hex digits, got ", text.size(), " characters"));
  }
  Key k;
  for (size_t i = 0; i < kKeyLength; ++i) {
    int hi = HexValue(text[2 * i]), lo = HexValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid hex digit at position ", 2 * i + (hi < 0 ? 1 : 2), " of a WireGuard key"));
    }
    k.bytes[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return k;
}

absl::StatusOr<Key> LoadOrCreatePrivateKey(const std::string& path, bool* created) {
  if (created != nullptr) *created = false;
  bool missing = false;
  auto existing = ReadKeyFile(path, &missing);
  if (!missing) return existing;

  if (absl::Status s = MakeDirs(DirOf(path), 0700); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("create folder for key file ", path, ": ", s.message()));
  }
  Key key = GeneratePrivateKey();
  auto tmp = WriteTempKeyFile(path, key);
  if (!tmp.ok()) return tmp.status();
  // link(), not rename(): fails when somebody created the file meanwhile, and
  // then their key wins.
  int err = link(tmp->c_str(), path.c_str()) != 0 ? errno : 0;
  unlink(tmp->c_str());
  if (err == EEXIST) return ReadKeyFile(path, &missing);
  if (err != 0) return FileError("create key file", path, err);
  SyncDir(DirOf(path));
  if (created != nullptr) *created = true;
  return key;
}

absl::Status StorePrivateKey(const std::string& path, const Key& key) {
  if (absl::Status s = MakeDirs(DirOf(path), 0700); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("create folder for key file ", path, ": ", s.message()));
  }
  auto tmp = WriteTempKeyFile(path, key);
  if (!tmp.ok()) return tmp.status();
  if (rename(tmp->c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp->c_str());
    return FileError("replace key file", path, err);
  }
  SyncDir(DirOf(path));
  return absl::OkStatus();
}

void Wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

void Wipe(std::vector<uint8_t>& v) {
  if (!v.empty()) OPENSSL_cleanse(v.data(), v.size());
}

}  // namespace weft::wireguard
