// Transport over libcurl (built on OpenSSL). Certificate verification (chain and
// host name) is always on; credentials are passed as in-memory blobs. Requests go
// to the first server that accepts connections, remembered for the next ones.
#ifndef WEFT_KUBEPRISM_CURL_TRANSPORT_H_
#define WEFT_KUBEPRISM_CURL_TRANSPORT_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kubeprism/kubeconfig.h"
#include "kubeprism/transport.h"

namespace weft::kubeprism {

class CurlTransport : public Transport {
 public:
  static absl::StatusOr<std::unique_ptr<CurlTransport>> Create(ClientConfig config);
  ~CurlTransport() override;

  absl::StatusOr<Response> Do(const Request& request) override;
  absl::StatusOr<StreamResult> Stream(const Request& request, const StreamHandlers& handlers,
                                      CancelToken* cancel) override;
  std::string server() const override;

 private:
  struct Attempt;  // the outcome of one try against one server
  explicit CurlTransport(ClientConfig config);

  // Tries each server from the remembered one on, moving on only when a server
  // does not accept connections.
  template <typename TryFn>
  absl::Status WithFallback(TryFn try_server);
  void* AcquireHandle();
  void ReleaseHandle(void* handle);
  std::string Token();

  const ClientConfig config_;
  std::vector<std::string> servers_;
  std::atomic<size_t> active_{0};

  absl::Mutex pool_mu_;
  std::vector<void*> pool_ ABSL_GUARDED_BY(pool_mu_);

  absl::Mutex token_mu_;
  std::string token_ ABSL_GUARDED_BY(token_mu_);
  absl::Time token_read_ ABSL_GUARDED_BY(token_mu_);
};

// The error for a failed libcurl transfer against `server`, classified for an
// operator (KubePrism down, which certificate check failed, ...). Exposed for tests.
absl::Status CurlError(int curl_code, absl::string_view error_buffer, absl::string_view server);

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_CURL_TRANSPORT_H_
