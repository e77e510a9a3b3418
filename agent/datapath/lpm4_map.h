// The agent's side of Weft's IPv4 prefix sets (LPM tries keyed by lpm4_key,
// bpf/maps/lpm4.h): weft_nonmasq4, weft_strict4 and weft_lb4_range.
#ifndef WEFT_AGENT_DATAPATH_LPM4_MAP_H_
#define WEFT_AGENT_DATAPATH_LPM4_MAP_H_

#include <cstddef>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "bpf/maps/lpm4.h"
#include "common/net/ip.h"

namespace weft::datapath {

lpm4_key Lpm4KeyOf(const net::IpPrefix& p);

// Makes the IPv4 prefixes in the LPM trie `fd` equal the IPv4 ones of `cidrs`.
// `last` is what this process last wrote (nullopt: unknown, e.g. a pinned map
// from a previous run); the same set again is no work. Adds before removing,
// so a prefix in both the old and the new set is never missing, not even for
// one packet.
absl::Status ReplaceLpm4(int fd, const std::vector<net::IpPrefix>& cidrs, size_t max_entries,
                         const char* what, std::optional<std::vector<lpm4_key>>* last);

}  // namespace weft::datapath

#endif  // WEFT_AGENT_DATAPATH_LPM4_MAP_H_
