// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable
// Software Network Load Balancer", NSDI 2016, section 3.4): a lookup table in
// which every backend owns nearly the same number of entries and which changes
// little when a backend comes or goes, so a flow hashed onto the table keeps
// its backend across most changes, on every node that computes the same table.
#ifndef WEFT_AGENT_DATAPATH_MAGLEV_H_
#define WEFT_AGENT_DATAPATH_MAGLEV_H_

#include <cstdint>
#include <string>
#include <vector>

namespace weft::datapath {

// Returns a table of `size` entries, each an index into `backend_names`.
// Empty when there is no backend or when `size` is not a prime (the
// permutations only visit every entry when the size is prime). Each backend's
// permutation depends only on its name (two stable hashes of it, the same in
// every build and on every node), and backends take turns in name order, so
// the same names in any order map every entry to the same name. Backends own
// floor(size/N) or ceil(size/N) entries (none when N > size for some).
// Names should be unique (a backend's address and port); a name given twice
// counts as two backends (twice the entries).
std::vector<uint32_t> MaglevTable(const std::vector<std::string>& backend_names, uint32_t size);

}  // namespace weft::datapath

#endif  // WEFT_AGENT_DATAPATH_MAGLEV_H_
