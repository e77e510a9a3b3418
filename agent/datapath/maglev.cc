#include "agent/datapath/maglev.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace weft::datapath {
namespace {

// FNV-1a 64 followed by the MurmurHash3 finalizer: FNV alone mixes the last
// bytes poorly (names often differ only there, "10.244.1.5:80" / ".6:80"), and
// the finalizer makes the two seeded hashes independent enough. Written out
// here, not absl::Hash, because the table must be the same in every build.
uint64_t NameHash(const std::string& name, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ull ^ seed;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

constexpr uint64_t kOffsetSeed = 0x6d61676c65762d6full;  // "maglev-o"
constexpr uint64_t kSkipSeed = 0x6d61676c65762d73ull;    // "maglev-s"

bool IsPrime(uint32_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

}  // namespace

std::vector<uint32_t> MaglevTable(const std::vector<std::string>& backend_names, uint32_t size) {
  if (backend_names.empty() || !IsPrime(size)) return {};
  const size_t n = backend_names.size();

  // Turns are taken in name order so the input order does not matter.
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return backend_names[a] != backend_names[b] ? backend_names[a] < backend_names[b] : a < b;
  });

  // permutation[i][j] = (offset + j * skip) mod size, walked one step at a
  // time: `position` is the next candidate entry of each backend.
  std::vector<uint64_t> position(n);
  std::vector<uint64_t> skip(n);
  for (size_t k = 0; k < n; ++k) {
    const std::string& name = backend_names[order[k]];
    position[k] = NameHash(name, kOffsetSeed) % size;
    skip[k] = NameHash(name, kSkipSeed) % (size - 1) + 1;
  }

  constexpr uint32_t kEmpty = std::numeric_limits<uint32_t>::max();
  std::vector<uint32_t> table(size, kEmpty);
  uint32_t filled = 0;
  while (true) {
    for (size_t k = 0; k < n; ++k) {
      // Terminates: size is prime and 0 < skip < size, so the walk visits
      // every entry before repeating, and the table is not full yet.
      uint64_t c = position[k];
      while (table[c] != kEmpty) c = (c + skip[k]) % size;
      table[c] = order[k];
      position[k] = (c + skip[k]) % size;
      if (++filled == size) return table;
    }
  }
}

}  // namespace weft::datapath
