// A minimal HTTP/1.1-over-TLS server: one thread per connection, persistent
// connections, Content-Length request bodies, plain and chunked responses.
//
// TLS requests an optional client certificate and accepts whatever the client
// presents; the handler gets the leaf certificate and decides (kube-apiserver
// treats an invalid client certificate as "not authenticated", not as a TLS error).
#ifndef WEFT_KUBEPRISM_TESTING_HTTPS_SERVER_H_
#define WEFT_KUBEPRISM_TESTING_HTTPS_SERVER_H_

#include <openssl/x509.h>

#include <atomic>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace weft::kubeprism::testing {

struct HttpRequest {
  std::string method;
  std::string path;                           // percent-decoded, without the query
  std::map<std::string, std::string> query;   // percent-decoded; last value wins
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::shared_ptr<X509> client_cert;  // the presented leaf, unverified; may be null

  std::string Header(const std::string& lower_name) const;
  std::string Query(const std::string& name) const;
};

// How a handler answers. Every call returns false once the connection is gone.
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;
  virtual bool Send(int status, const std::string& content_type, absl::string_view body) = 0;
  // A chunked response: StartStream, any number of SendChunk, then EndStream.
  virtual bool StartStream(int status, const std::string& content_type) = 0;
  virtual bool SendChunk(absl::string_view data) = 0;
  virtual bool EndStream() = 0;
  // True once the peer closed its side or the server is shutting the socket down.
  virtual bool PeerClosed() = 0;
  // Drop the connection after the handler returns, without finishing the response.
  virtual void Abort() = 0;
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponder&)>;

struct HttpsServerOptions {
  std::string bind_address = "127.0.0.1";
  int port = 0;  // 0 = any free port
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;  // advertised in CertificateRequest
};

class HttpsServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpsServer>> Start(const HttpsServerOptions& options,
                                                            HttpHandler handler);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  int port() const { return port_; }
  // Closes the listener and every connection, then joins all threads. Idempotent.
  void Stop();

 private:
  struct Connection {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  HttpsServer(HttpHandler handler) : handler_(std::move(handler)) {}
  void AcceptLoop();
  void Serve(Connection* connection);
  void ReapFinished();

  HttpHandler handler_;
  void* ssl_ctx_ = nullptr;  // SSL_CTX*, kept out of this header
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::list<Connection> connections_;
};

}  // namespace weft::kubeprism::testing

#endif  // WEFT_KUBEPRISM_TESTING_HTTPS_SERVER_H_
