// A scriptable Transport for unit tests: tests install handlers for unary requests
// and streams; every request is recorded.
#ifndef WEFT_KUBEPRISM_FAKE_TRANSPORT_H_
#define WEFT_KUBEPRISM_FAKE_TRANSPORT_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "kubeprism/transport.h"

namespace weft::kubeprism {

class FakeTransport : public Transport {
 public:
  using UnaryHandler = std::function<absl::StatusOr<Response>(const Request&)>;
  using StreamHandler = std::function<absl::StatusOr<StreamResult>(
      const Request&, const StreamHandlers&, CancelToken*)>;

  void SetUnaryHandler(UnaryHandler handler);
  void SetStreamHandler(StreamHandler handler);

  absl::StatusOr<Response> Do(const Request& request) override;
  absl::StatusOr<StreamResult> Stream(const Request& request, const StreamHandlers& handlers,
                                      CancelToken* cancel) override;
  std::string server() const override { return "https://fake:7445"; }

  std::vector<Request> requests() const;

  // The value of `key` in a request's query, or "".
  static std::string QueryValue(const Request& request, const std::string& key);

 private:
  mutable absl::Mutex mu_;
  UnaryHandler unary_ ABSL_GUARDED_BY(mu_);
  StreamHandler stream_ ABSL_GUARDED_BY(mu_);
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_FAKE_TRANSPORT_H_
