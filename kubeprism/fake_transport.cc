#include "kubeprism/fake_transport.h"

#include <utility>

namespace weft::kubeprism {

void FakeTransport::SetUnaryHandler(UnaryHandler handler) {
  absl::MutexLock lock(&mu_);
  unary_ = std::move(handler);
}

void FakeTransport::SetStreamHandler(StreamHandler handler) {
  absl::MutexLock lock(&mu_);
  stream_ = std::move(handler);
}

absl::StatusOr<Response> FakeTransport::Do(const Request& request) {
  UnaryHandler handler;
  {
    absl::MutexLock lock(&mu_);
    requests_.push_back(request);
    handler = unary_;
  }
  if (!handler) return absl::UnavailableError("fake transport: no unary handler");
  return handler(request);
}

absl::StatusOr<StreamResult> FakeTransport::Stream(const Request& request,
                                                   const StreamHandlers& handlers,
                                                   CancelToken* cancel) {
  StreamHandler handler;
  {
    absl::MutexLock lock(&mu_);
    requests_.push_back(request);
    handler = stream_;
  }
  if (!handler) return absl::UnavailableError("fake transport: no stream handler");
  return handler(request, handlers, cancel);
}

std::vector<Request> FakeTransport::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

std::string FakeTransport::QueryValue(const Request& request, const std::string& key) {
  for (const auto& [k, v] : request.query) {
    if (k == key) return v;
  }
  return "";
}

}  // namespace weft::kubeprism
