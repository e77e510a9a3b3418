// IPv4 socket addresses from text, for tests that make real connections.
#ifndef WEFT_COMMON_TESTING_SOCKADDR_H_
#define WEFT_COMMON_TESTING_SOCKADDR_H_

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <string>

namespace weft::testing {

// "10.0.0.1", 80 -> sockaddr_in (an unparsable address gives 0.0.0.0).
inline sockaddr_in SockAddr(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

// sockaddr_in -> "10.0.0.1:80".
inline std::string SockAddrString(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a.sin_addr, buf, sizeof(buf));
  return std::string(buf) + ":" + std::to_string(ntohs(a.sin_port));
}

}  // namespace weft::testing

#endif  // WEFT_COMMON_TESTING_SOCKADDR_H_
