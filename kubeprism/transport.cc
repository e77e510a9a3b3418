#include "kubeprism/transport.h"

#include <sys/socket.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace weft::kubeprism {

void CancelToken::Cancel() {
  cancelled_.store(true, std::memory_order_release);
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

void CancelToken::SetSocket(int fd) {
  absl::MutexLock lock(&mu_);
  fd_ = fd;
  if (fd_ >= 0 && cancelled()) ::shutdown(fd_, SHUT_RDWR);
}

std::string EscapeQueryComponent(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

std::string EncodeQuery(const std::vector<std::pair<std::string, std::string>>& query) {
  std::string out;
  for (const auto& [key, value] : query) {
    if (!out.empty()) out.push_back('&');
    absl::StrAppend(&out, EscapeQueryComponent(key), "=", EscapeQueryComponent(value));
  }
  return out;
}

}  // namespace weft::kubeprism
