// WireGuard keys (Curve25519, 32 bytes): generation, public-key derivation,
// the base64 form people and Kubernetes annotations use, the hex form of the
// userspace API, and the node's private key file.
//
// Private keys never appear in a Status message or a log line: every error
// here names the file or the length/position of bad input, never the input.
#ifndef WEFT_AGENT_WIREGUARD_KEYS_H_
#define WEFT_AGENT_WIREGUARD_KEYS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace weft::wireguard {

inline constexpr size_t kKeyLength = 32;
inline constexpr size_t kKeyBase64Length = 44;  // 43 characters and one '='
inline constexpr size_t kKeyHexLength = 64;

struct Key {
  std::array<uint8_t, kKeyLength> bytes{};

  // All zeros: "no key" in both kernel and userspace APIs.
  bool IsZero() const;

  // Constant time, so comparing secrets does not leak where they differ.
  friend bool operator==(const Key& a, const Key& b);
  friend bool operator!=(const Key& a, const Key& b) { return !(a == b); }
  // An arbitrary total order (for sorting peers); not constant time.
  friend bool operator<(const Key& a, const Key& b) { return a.bytes < b.bytes; }
  template <typename H>
  friend H AbslHashValue(H h, const Key& k) {
    return H::combine(std::move(h), k.bytes);
  }
};

// 32 bytes from the OpenSSL CSPRNG (falling back to getrandom()), clamped as
// `wg genkey` does. Aborts the process if the system has no working random
// source at all: a predictable key would be worse than no agent.
Key GeneratePrivateKey();

// The X25519 public key of `private_key` (clamping is part of X25519, so an
// unclamped private key gives the same result as its clamped form). All zeros
// only if OpenSSL fails, which it does not for a 32-byte X25519 key.
Key PublicKey(const Key& private_key);

// Standard base64 with padding: 44 characters.
std::string ToBase64(const Key& key);

// Exactly 44 characters of standard base64 ('+', '/', one '=' at the end) that
// decode to 32 bytes, in canonical form (the unused low bits are zero), like
// `wg`. The error says what is wrong with the text without repeating it.
absl::StatusOr<Key> ParseBase64Key(absl::string_view text);

// 64 lowercase hex digits (the UAPI form).
std::string ToHex(const Key& key);
// 64 hex digits, either case.
absl::StatusOr<Key> ParseHexKey(absl::string_view text);

// Overwrites a buffer that held key material (and empties a string), so a
// freed copy of a private key does not linger in the heap.
void Wipe(std::string& s);
void Wipe(std::vector<uint8_t>& v);

// The node's private key file: one line of base64 (what `wg genkey` writes).
// An existing file must be a regular file owned by this user that neither
// group nor others can read or write (0600 or stricter), else it is refused
// (the key may have leaked; an operator has to look). A missing file is
// created with a new key: the folder (0700) if missing, a temporary file made
// with O_EXCL and mode 0600, fsync, then linked into place, so a concurrent
// creator's key is never overwritten (the loser reads the winner's key).
// `created` (may be null) tells whether a new key was made.
absl::StatusOr<Key> LoadOrCreatePrivateKey(const std::string& path, bool* created);

// Atomically replaces the key file (key rotation): temporary file (O_EXCL,
// 0600), fsync, rename, fsync of the folder.
absl::Status StorePrivateKey(const std::string& path, const Key& key);

}  // namespace weft::wireguard

#endif  // WEFT_AGENT_WIREGUARD_KEYS_H_
