// Ethernet MAC addresses as text ("0a:58:0a:f4:01:05").
#ifndef WEFT_COMMON_NET_MAC_H_
#define WEFT_COMMON_NET_MAC_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace weft::net {

using Mac = std::array<uint8_t, 6>;

std::string MacToString(const Mac& mac);
// Accepts lower or upper case hex with ':' separators; false on anything else.
bool MacFromString(absl::string_view text, Mac* mac);

}  // namespace weft::net

#endif  // WEFT_COMMON_NET_MAC_H_
