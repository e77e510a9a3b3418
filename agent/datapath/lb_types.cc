#include "agent/datapath/lb_types.h"

#include "absl/strings/str_cat.h"

namespace weft::datapath {

const char* LbProtoName(uint8_t proto) {
  switch (proto) {
    case kProtoTcp:
      return "TCP";
    case kProtoUdp:
      return "UDP";
  }
  return "?";
}

const char* LbScopeName(LbScope scope) {
  switch (scope) {
    case LbScope::kSocket:
      return "socket";
    case LbScope::kExternal:
      return "external";
  }
  return "?";
}

const char* LbAlgorithmName(LbAlgorithm a) {
  switch (a) {
    case LbAlgorithm::kRandom:
      return "random";
    case LbAlgorithm::kMaglev:
      return "maglev";
  }
  return "?";
}

std::string LbBackend::ToString() const { return absl::StrCat(ip.ToString(), ":", port); }

std::string LbFrontendKey::ToString() const {
  return absl::StrCat(ip.ToString(), ":", port, "/", LbProtoName(proto), " (", LbScopeName(scope),
                      ")");
}

}  // namespace weft::datapath
