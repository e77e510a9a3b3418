// Transport over HTTP/1.1 on plain sockets and OpenSSL. It replaces libcurl, whose
// dependency tree (krb5, ldap, rtmp, ssh2, nghttp2, ...) was most of the agent's
// resident memory as mapped shared libraries and kept the agent from linking
// statically; the agent needs only this much of an HTTP client.
//
// Certificate verification (chain, validity, host name or IP) is always on;
// credentials are in-memory PEM. Requests go to the first server that accepts
// connections, remembered for the next ones. Unary requests reuse a few idle
// keep-alive connections; every stream has a connection of its own, which its
// CancelToken shuts down. Wire format: http_codec.h.
#ifndef WEFT_KUBEPRISM_HTTP_TRANSPORT_H_
#define WEFT_KUBEPRISM_HTTP_TRANSPORT_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kubeprism/http_codec.h"
#include "kubeprism/kubeconfig.h"
#include "kubeprism/transport.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX, kept out of this header

namespace weft::kubeprism {

class TlsConnection;  // one TCP + TLS connection (http_transport.cc)

class HttpTransport : public Transport {
 public:
  static absl::StatusOr<std::unique_ptr<HttpTransport>> Create(ClientConfig config);
  ~HttpTransport() override;
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  absl::StatusOr<Response> Do(const Request& request) override;
  absl::StatusOr<StreamResult> Stream(const Request& request, const StreamHandlers& handlers,
                                      CancelToken* cancel) override;
  std::string server() const override;

 private:
  // One configured server: where to connect, which name to verify, the Host header.
  struct Endpoint {
    std::string server;  // as configured, for messages
    ServerUrl url;
    std::string tls_name;  // tls-server-name, or the URL's host
    bool tls_name_is_ip = false;
    std::string host_header;
  };
  struct IdleConnection;

  HttpTransport(std::vector<Endpoint> endpoints, ssl_ctx_st* ctx, std::string token,
                std::string token_file, absl::Duration connect_timeout);

  // Tries each server from the remembered one on, moving on only when a server
  // does not accept connections. `try_server(index, &connect_failed)`.
  template <typename TryFn>
  absl::Status WithFallback(TryFn try_server);
  absl::StatusOr<std::unique_ptr<TlsConnection>> Connect(const Endpoint& endpoint,
                                                         absl::Time deadline, CancelToken* cancel,
                                                         bool* connect_failed);
  absl::Status DoOn(size_t index, const Request& request, const std::string& token,
                    Response* response, bool* connect_failed);
  absl::Status StreamOn(size_t index, const Request& request, const std::string& token,
                        const StreamHandlers& handlers, CancelToken* cancel, StreamResult* result,
                        bool* connect_failed);
  absl::StatusOr<std::string> RequestBytes(const Endpoint& endpoint, const Request& request,
                                           const std::string& token, bool accept_gzip) const;
  std::unique_ptr<TlsConnection> TakeIdle(size_t index);
  void ReturnIdle(size_t index, std::unique_ptr<TlsConnection> connection);
  std::string Token();

  // Of the ClientConfig only what is needed after Create: the credentials are in
  // ctx_, and the token in token_.
  const std::vector<Endpoint> endpoints_;
  ssl_ctx_st* const ctx_;
  const std::string token_file_;  // re-read every so often when set
  const absl::Duration connect_timeout_;
  std::atomic<size_t> active_{0};

  absl::Mutex pool_mu_;
  std::vector<IdleConnection> idle_ ABSL_GUARDED_BY(pool_mu_);

  absl::Mutex token_mu_;
  std::string token_ ABSL_GUARDED_BY(token_mu_);
  absl::Time token_read_ ABSL_GUARDED_BY(token_mu_);
};

// What failed below HTTP, for TransportError.
enum class TransportFailure {
  kConnect,                    // nothing accepted the TCP connection
  kResolve,                    // the host name did not resolve
  kTimeout,                    // the request (or a stream's silence) outlasted its limit
  kCertificateChain,           // the server certificate is not signed by the configured CA
  kCertificateExpiry,          // ... is outside its validity period
  kCertificateHostname,        // ... does not name the host (or tls-server-name)
  kCredentials,                // our CA, client certificate or key cannot be used
  kClientCertificateRejected,  // the server refused our client certificate (TLS alert)
  kHandshake,                  // any other TLS handshake failure
  kConnectionLost,             // the connection broke or closed mid-response
  kBadResponse,                // the server's bytes are not HTTP/1.x we can read
};

// The error for a failed exchange with `server`, classified for an operator
// (KubePrism down, which certificate check failed, ...). Exposed for tests.
absl::Status TransportError(TransportFailure failure, absl::string_view detail,
                            absl::string_view server);

// Which certificate check an OpenSSL verify result (X509_V_ERR_*) failed.
TransportFailure CertificateFailure(long x509_verify_result);

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_HTTP_TRANSPORT_H_
