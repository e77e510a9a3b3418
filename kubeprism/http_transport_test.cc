// HttpTransport: its error classification, and the transport against scripted TLS
// servers on loopback, which decide byte for byte what the client gets (keep-alive,
// chunked streams, truncation, garbage, silence, cancellation, certificates).
// The lab API server tests (client_lab_test, informer_lab_test) cover it against a
// kube-apiserver look-alike.
#include "kubeprism/http_transport.h"

#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <csignal>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kubeprism/logging.h"
#include "kubeprism/transport.h"

// ---- the resolver, watched ----

namespace {
std::atomic<int> resolver_calls{0};
// Resolved by the resolver below to 127.0.0.1, to show that it is the one the
// transport calls.
constexpr char kResolverProbeName[] = "weft-resolver-probe.test";
}  // namespace

// Interposes on the C library's getaddrinfo for this test binary: counts the
// calls, answers kResolverProbeName itself, and passes everything else on.
extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                           addrinfo** res) noexcept {
  using Fn = int (*)(const char*, const char*, const addrinfo*, addrinfo**);
  static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  ++resolver_calls;
  if (node != nullptr && std::string(node) == kResolverProbeName) {
    addrinfo numeric{};
    if (hints != nullptr) numeric = *hints;
    numeric.ai_flags |= AI_NUMERICHOST;
    return real("127.0.0.1", service, &numeric, res);
  }
  return real(node, service, hints, res);
}

namespace weft::kubeprism {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// ---- error classification ----

TEST(TransportErrorTest, KubePrismNotAnswering) {
  absl::Status s = TransportError(TransportFailure::kConnect,
                                  "Failed to connect to 127.0.0.1 port 7445: Connection refused",
                                  "https://127.0.0.1:7445");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("KubePrism is not answering on 127.0.0.1:7445 (is "
                                     "machine.features.kubePrism / KubePrismConfig enabled?)"));
  absl::Status other =
      TransportError(TransportFailure::kConnect, "refused", "https://10.0.0.1:6443");
  EXPECT_EQ(other.message(), "cannot connect to https://10.0.0.1:6443: refused");
}

TEST(TransportErrorTest, NamesTheFailedCertificateCheck) {
  EXPECT_EQ(CertificateFailure(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
            TransportFailure::kCertificateChain);
  EXPECT_EQ(CertificateFailure(X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN),
            TransportFailure::kCertificateChain);
  EXPECT_EQ(CertificateFailure(X509_V_ERR_CERT_HAS_EXPIRED), TransportFailure::kCertificateExpiry);
  EXPECT_EQ(CertificateFailure(X509_V_ERR_CERT_NOT_YET_VALID),
            TransportFailure::kCertificateExpiry);
  EXPECT_EQ(CertificateFailure(X509_V_ERR_HOSTNAME_MISMATCH),
            TransportFailure::kCertificateHostname);
  EXPECT_EQ(CertificateFailure(X509_V_ERR_IP_ADDRESS_MISMATCH),
            TransportFailure::kCertificateHostname);

  EXPECT_THAT(TransportError(TransportFailure::kCertificateChain, "x", "s").message(),
              HasSubstr("(chain:"));
  EXPECT_THAT(TransportError(TransportFailure::kCertificateExpiry, "x", "s").message(),
              HasSubstr("(expiry:"));
  absl::Status host =
      TransportError(TransportFailure::kCertificateHostname, "hostname mismatch", "s");
  EXPECT_EQ(host.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(host.message(), HasSubstr("(hostname:"));
  EXPECT_THAT(host.message(), HasSubstr("TLS certificate verification of s failed"));
}

TEST(TransportErrorTest, CodesCallersActOn) {
  EXPECT_EQ(TransportError(TransportFailure::kTimeout, "x", "s").code(),
            absl::StatusCode::kDeadlineExceeded);
  absl::Status rejected = TransportError(TransportFailure::kClientCertificateRejected, "x", "s");
  EXPECT_EQ(rejected.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(rejected.message(), HasSubstr("unauthorized: s rejected the client certificate"));
  EXPECT_EQ(TransportError(TransportFailure::kCredentials, "x", "s").code(),
            absl::StatusCode::kFailedPrecondition);
  for (TransportFailure f : {TransportFailure::kResolve, TransportFailure::kHandshake,
                             TransportFailure::kConnectionLost, TransportFailure::kBadResponse}) {
    EXPECT_EQ(TransportError(f, "x", "s").code(), absl::StatusCode::kUnavailable);
  }
}

TEST(EscapeQueryComponentTest, KeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(EscapeQueryComponent("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(EscapeQueryComponent("a=b&c d/\xc3\xa9"), "a%3Db%26c%20d%2F%C3%A9");
  EXPECT_EQ(EncodeQuery({{"label Selector", "app=web"}}), "label%20Selector=app%3Dweb");
}

// ---- scripted TLS servers ----

struct Pki {
  pki::CertificateAndKey ca;
  std::string ca_pem;
};

Pki NewPki() {
  Pki out;
  auto ca = pki::GenerateCa({});
  EXPECT_TRUE(ca.ok()) << ca.status();
  out.ca = *std::move(ca);
  out.ca_pem = *pki::CertificateToPem(out.ca.cert.get());
  return out;
}

struct ClientCredentials {
  std::string cert_pem, key_pem;
};

// A CA issued by `root` (not self-signed): a chain through it ends at the root.
pki::CertificateAndKey IssueIntermediate(const pki::CertificateAndKey& root) {
  pki::CaOptions options;
  options.common_name = "weft-intermediate";
  auto ca = pki::GenerateCa(options);
  EXPECT_TRUE(ca.ok()) << ca.status();
  X509* cert = ca->cert.get();
  EXPECT_EQ(X509_set_issuer_name(cert, X509_get_subject_name(root.cert.get())), 1);
  EXPECT_GT(X509_sign(cert, root.key.get(), EVP_sha256()), 0);
  EXPECT_EQ(X509_check_issued(root.cert.get(), cert), X509_V_OK);
  EXPECT_NE(X509_check_issued(cert, cert), X509_V_OK);
  return *std::move(ca);
}

ClientCredentials IssueClient(const Pki& p) {
  pki::ClientCertOptions options;
  options.common_name = "agent";
  auto cert = pki::IssueClientCert(p.ca, options);
  EXPECT_TRUE(cert.ok()) << cert.status();
  return {*pki::CertificateToPem(cert->cert.get()), *pki::PrivateKeyToPem(cert->key.get())};
}

// One accepted connection, seen from the script.
class ScriptedConnection {
 public:
  ScriptedConnection(SSL* ssl, int fd) : ssl_(ssl), fd_(fd) {}

  // Reads one request (head and Content-Length body); false once the client closed.
  bool ReadRequest(std::string* request) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return false;
    }
    const std::string head = buffer_.substr(0, end + 4);
    size_t length = 0;
    const std::string lower = absl::AsciiStrToLower(head);
    const size_t cl = lower.find("\r\ncontent-length: ");
    if (cl != std::string::npos) {
      const size_t start = cl + 18;
      absl::SimpleAtoi(lower.substr(start, lower.find("\r\n", start) - start), &length);
    }
    while (buffer_.size() < end + 4 + length) {
      if (!Fill()) return false;
    }
    *request = buffer_.substr(0, end + 4 + length);
    buffer_.erase(0, end + 4 + length);
    return true;
  }

  bool Write(absl::string_view bytes) {
    return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
           static_cast<int>(bytes.size());
  }

  // Blocks until the client closes the connection (or the server stops).
  void WaitForClose() {
    while (Fill()) {
    }
  }

  // Closes the TCP connection at once, without close_notify.
  void Drop() { ::shutdown(fd_, SHUT_RDWR); }

 private:
  bool Fill() {
    char buf[4096];
    const int n = SSL_read(ssl_, buf, sizeof(buf));
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }

  SSL* ssl_;
  int fd_;
  std::string buffer_;
};

using Script = std::function<void(ScriptedConnection&)>;

struct ServerOptions {
  std::vector<std::string> sans = {"127.0.0.1", "localhost"};
  int64_t valid_seconds = 3600;
  bool require_client_cert = false;
  int max_tls_version = 0;  // 0: OpenSSL's newest
  // The certificate is issued by an intermediate CA (sent along with it), which
  // the root CA issued.
  bool signed_by_intermediate = false;
};

// A TLS server on 127.0.0.1 running `script` for each connection, on a thread of its own.
class ScriptedServer {
 public:
  ScriptedServer(Script script, ServerOptions options = {}) : script_(std::move(script)) {
    // The server side writes with OpenSSL's socket BIO (write(2)) to clients that
    // may be gone. (The transport sends with MSG_NOSIGNAL and needs no such thing.)
    std::signal(SIGPIPE, SIG_IGN);
    pki_ = NewPki();
    pki::ServerCertOptions cert_options;
    cert_options.common_name = "scripted";
    cert_options.sans = options.sans;
    cert_options.valid_seconds = options.valid_seconds;
    if (options.signed_by_intermediate) {
      intermediate_ = IssueIntermediate(pki_.ca);
      intermediate_pem_ = *pki::CertificateToPem(intermediate_.cert.get());
    }
    auto cert = pki::IssueServerCert(options.signed_by_intermediate ? intermediate_ : pki_.ca,
                                     cert_options);
    EXPECT_TRUE(cert.ok()) << cert.status();
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx_, cert->cert.get());
    SSL_CTX_use_PrivateKey(ctx_, cert->key.get());
    if (options.signed_by_intermediate) {
      EXPECT_EQ(SSL_CTX_add1_chain_cert(ctx_, intermediate_.cert.get()), 1);
    }
    if (options.max_tls_version != 0) SSL_CTX_set_max_proto_version(ctx_, options.max_tls_version);
    if (options.require_client_cert) {
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), pki_.ca.cert.get());
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listen_fd_, 16), 0);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~ScriptedServer() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    accept_thread_.join();
    close(listen_fd_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : threads_) t.join();
    SSL_CTX_free(ctx_);
  }

  std::string url() const { return absl::StrCat("https://127.0.0.1:", port_); }
  int port() const { return port_; }
  const Pki& pki() const { return pki_; }
  // With signed_by_intermediate: the intermediate CA's certificate.
  const std::string& intermediate_pem() const { return intermediate_pem_; }
  int connections() const { return connections_.load(); }
  std::vector<std::string> server_names() {
    std::lock_guard<std::mutex> lock(mu_);
    return server_names_;
  }

  ClientConfig Config() const {
    ClientConfig config;
    config.server = url();
    config.ca_pem = pki_.ca_pem;
    config.connect_timeout = absl::Seconds(5);
    return config;
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        server_names_.push_back(sni != nullptr ? sni : "");
      }
      ScriptedConnection connection(ssl, fd);
      script_(connection);
      SSL_shutdown(ssl);
    } else {
      // Keep the socket until the client has read the alert and gone (no RST).
      ERR_clear_error();
      char buf[256];
      pollfd p{fd, POLLIN, 0};
      while (poll(&p, 1, 5000) > 0 && recv(fd, buf, sizeof(buf), 0) > 0) {
      }
    }
    ERR_clear_error();
    SSL_free(ssl);
    std::lock_guard<std::mutex> lock(mu_);
    for (int& f : fds_) {
      if (f == fd) f = -1;
    }
    close(fd);
  }

  Script script_;
  Pki pki_;
  pki::CertificateAndKey intermediate_;
  std::string intermediate_pem_;
  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::list<std::thread> threads_;
  std::vector<std::string> server_names_;
};

std::string Ok(absl::string_view body) {
  return absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ",
                      body.size(), "\r\n\r\n", body);
}

std::string Chunk(absl::string_view data) {
  return absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n");
}

constexpr absl::string_view kChunkedHead =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

// `std::unique_ptr<HttpTransport> var` made from `config`; when Create fails, the
// test fails and stops here (no null to dereference).
#define ASSERT_NEW_TRANSPORT(var, config)                                  \
  auto var##_created = HttpTransport::Create(config);                      \
  ASSERT_TRUE(var##_created.ok()) << "Create: " << var##_created.status(); \
  std::unique_ptr<HttpTransport> var = *std::move(var##_created)

Request Get(const std::string& path) {
  Request r;
  r.path = path;
  return r;
}

// One request on a transport of its own. When Create fails, the test fails and
// its error is the result.
absl::StatusOr<Response> DoOnce(const ClientConfig& config, const Request& request) {
  auto transport = HttpTransport::Create(config);
  EXPECT_TRUE(transport.ok()) << "Create: " << transport.status();
  if (!transport.ok()) return transport.status();
  return (*transport)->Do(request);
}

// A port on 127.0.0.1 nothing listens on.
int DeadPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class HttpTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink([](LogLevel, absl::string_view) {});
  }
  void TearDown() override { SetLogSink(nullptr); }
};

TEST_F(HttpTransportTest, UnaryRequestsShareOneKeptAliveConnection) {
  std::mutex mu;
  std::vector<std::string> requests;
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    while (c.ReadRequest(&request)) {
      int n;
      {
        std::lock_guard<std::mutex> lock(mu);
        requests.push_back(request);
        n = static_cast<int>(requests.size());
      }
      c.Write(Ok(absl::StrCat("{\"n\":", n, "}")));
    }
  });
  ClientConfig config = server.Config();
  config.token = "t0ken";
  ASSERT_NEW_TRANSPORT(transport, config);
  for (int i = 1; i <= 3; ++i) {
    Request request = Get("/api/v1/pods");
    request.query = {{"labelSelector", "app=web"}, {"limit", "500"}};
    auto response = transport->Do(request);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, absl::StrCat("{\"n\":", i, "}"));
  }
  EXPECT_EQ(server.connections(), 1);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0],
            absl::StrCat("GET /api/v1/pods?labelSelector=app%3Dweb&limit=500 HTTP/1.1\r\n"
                         "Host: 127.0.0.1:",
                         server.port(),
                         "\r\nAccept: application/json\r\nUser-Agent: weft-agent\r\n"
                         "Accept-Encoding: gzip\r\nAuthorization: Bearer t0ken\r\n\r\n"));
}

TEST_F(HttpTransportTest, WritesCarryTheirBodyAndDeleteWithoutOneHasNoLength) {
  std::mutex mu;
  std::vector<std::string> requests;
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    while (c.ReadRequest(&request)) {
      {
        std::lock_guard<std::mutex> lock(mu);
        requests.push_back(request);
      }
      c.Write(Ok("{}"));
    }
  });
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  Request patch = Get("/api/v1/nodes/n1");
  patch.verb = "PATCH";
  patch.body = R"({"metadata":{}})";
  patch.content_type = "application/merge-patch+json";
  ASSERT_TRUE(transport->Do(patch).ok());
  Request del = Get("/api/v1/namespaces/default/services/web");
  del.verb = "DELETE";
  ASSERT_TRUE(transport->Do(del).ok());
  Request post = Get("/api/v1/namespaces/default/services");
  post.verb = "POST";
  ASSERT_TRUE(transport->Do(post).ok());
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_THAT(requests[0], HasSubstr("PATCH /api/v1/nodes/n1 HTTP/1.1\r\n"));
  EXPECT_THAT(requests[0], HasSubstr("\r\nContent-Type: application/merge-patch+json\r\n"));
  EXPECT_THAT(requests[0], HasSubstr("\r\nContent-Length: 15\r\n\r\n{\"metadata\":{}}"));
  EXPECT_THAT(requests[1], Not(HasSubstr("Content-Length")));
  EXPECT_THAT(requests[1], Not(HasSubstr("Content-Type")));
  EXPECT_THAT(requests[2], HasSubstr("\r\nContent-Type: application/json\r\n"));
  EXPECT_THAT(requests[2], HasSubstr("\r\nContent-Length: 0\r\n"));
}

TEST_F(HttpTransportTest, ConnectionClosedWhileIdleIsReplaced) {
  // Each connection answers one request; a second request on it is met with a
  // close, as a server whose idle timeout just struck does.
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    if (!c.ReadRequest(&request)) return;
    c.Write(Ok("{\"first\":true}"));
    if (c.ReadRequest(&request)) c.Drop();
  });
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  for (int i = 0; i < 3; ++i) {
    auto response = transport->Do(Get("/api"));
    ASSERT_TRUE(response.ok()) << i << ": " << response.status();
    EXPECT_EQ(response->body, "{\"first\":true}");
  }
  EXPECT_EQ(server.connections(), 3);
}

TEST_F(HttpTransportTest, ConnectionCloseIsHonoured) {
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    while (c.ReadRequest(&request)) {
      c.Write("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}");
    }
  });
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  ASSERT_TRUE(transport->Do(Get("/a")).ok());
  ASSERT_TRUE(transport->Do(Get("/b")).ok());
  EXPECT_EQ(server.connections(), 2);
}

std::string Gzip(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST_F(HttpTransportTest, ChunkedGzipBodiesAreDecoded) {
  std::string items;
  for (int i = 0; i < 2000; ++i) absl::StrAppend(&items, i == 0 ? "" : ",", "{\"i\":", i, "}");
  const std::string body = absl::StrCat("{\"items\":[", items, "]}");
  const std::string compressed = Gzip(body);
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    while (c.ReadRequest(&request)) {
      std::string out =
          "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
      for (size_t i = 0; i < compressed.size(); i += 700) {
        out += Chunk(absl::string_view(compressed).substr(i, 700));
      }
      out += "0\r\n\r\n";
      c.Write(out);
    }
  });
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  auto response = transport->Do(Get("/api/v1/services"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, body);
  ASSERT_TRUE(transport->Do(Get("/api/v1/services")).ok());
  EXPECT_EQ(server.connections(), 1);  // the chunked body ended cleanly: reused
}

TEST_F(HttpTransportTest, GarbageAndTruncatedResponsesAreErrors) {
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    if (!c.ReadRequest(&request)) return;
    if (absl::StrContains(request, "/garbage")) c.Write("SSH-2.0-OpenSSH_9.2\r\n\r\n");
    if (absl::StrContains(request, "/short"))
      c.Write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    if (absl::StrContains(request, "/nothing")) c.Drop();
  });
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  auto garbage = transport->Do(Get("/garbage"));
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(garbage.status().message(),
            absl::StrCat("bad HTTP response from ", server.url(),
                         ": malformed HTTP status line \"SSH-2.0-OpenSSH_9.2\""));
  auto short_body = transport->Do(Get("/short"));
  EXPECT_EQ(short_body.status().message(),
            absl::StrCat("connection to ", server.url(),
                         " lost: transfer closed with 95 bytes of the body outstanding"));
  auto nothing = transport->Do(Get("/nothing"));
  EXPECT_EQ(nothing.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(nothing.status().message(),
              HasSubstr(absl::StrCat("connection to ", server.url(), " lost")));
}

TEST_F(HttpTransportTest, UnaryTimeoutAndCancellation) {
  ScriptedServer server([&](ScriptedConnection& c) { c.WaitForClose(); });  // never answers
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  Request slow = Get("/api");
  slow.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  auto timed_out = transport->Do(slow);
  EXPECT_EQ(timed_out.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(timed_out.status().message(), absl::StrCat("timed out talking to ", server.url(),
                                                       ": no complete response within 300ms"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));

  CancelToken cancel;
  Request cancellable = Get("/api");
  cancellable.cancel = &cancel;
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(200));
    cancel.Cancel();
  });
  const absl::Time cancel_start = absl::Now();
  auto cancelled = transport->Do(cancellable);
  canceller.join();
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(cancelled.status().message(), "request cancelled");
  EXPECT_LT(absl::Now() - cancel_start, absl::Seconds(3));
}

struct Collected {
  std::vector<int> statuses;
  std::vector<std::string> lines;
  StreamHandlers Handlers(int stop_after_lines = 0) {
    StreamHandlers h;
    h.on_status = [this](int status) {
      statuses.push_back(status);
      return true;
    };
    h.on_line = [this, stop_after_lines](absl::string_view line) {
      lines.emplace_back(line);
      return stop_after_lines == 0 || static_cast<int>(lines.size()) < stop_after_lines;
    };
    return h;
  }
};

TEST_F(HttpTransportTest, StreamDeliversLinesAcrossChunksUntilTheLastChunk) {
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    if (!c.ReadRequest(&request)) return;
    c.Write(kChunkedHead);
    c.Write(Chunk("{\"type\":\"ADDED\"}\n{\"type\""));
    c.Write(Chunk(":\"MODIFIED\"}\r\n\n"));
    c.Write(Chunk("{\"type\":\"DELETED\"}"));  // the last line has no newline
    c.Write("0\r\n\r\n");
  });
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  Collected got;
  CancelToken cancel;
  auto result = transport->Stream(Get("/api/v1/services?watch=true"), got.Handlers(), &cancel);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
  EXPECT_FALSE(result->cancelled);
  EXPECT_THAT(got.statuses, ElementsAre(200));
  EXPECT_THAT(got.lines, ElementsAre("{\"type\":\"ADDED\"}", "{\"type\":\"MODIFIED\"}",
                                     "{\"type\":\"DELETED\"}"));
}

TEST_F(HttpTransportTest, StreamCutInTheMiddleOfAChunkIsLost) {
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    if (!c.ReadRequest(&request)) return;
    c.Write(kChunkedHead);
    c.Write(Chunk("{\"type\":\"ADDED\"}\n"));
    c.Write("40\r\n{\"type\":\"MODI");  // 64 bytes announced, 13 sent
    c.Drop();
  });
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  Collected got;
  auto result = transport->Stream(Get("/api/v1/services?watch=true"), got.Handlers(), nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(std::string(result.status().message()),
            absl::StrCat("stream from ", server.url(), " lost: connection to ", server.url(),
                         " lost: transfer closed in the middle of a chunked body"));
  EXPECT_THAT(got.lines, ElementsAre("{\"type\":\"ADDED\"}"));
}

TEST_F(HttpTransportTest, StreamRefusedCarriesTheErrorBody) {
  const std::string status =
      R"({"kind":"Status","reason":"Forbidden","message":"pods is forbidden","code":403})";
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    if (!c.ReadRequest(&request)) return;
    c.Write(absl::StrCat("HTTP/1.1 403 Forbidden\r\nContent-Length: ", status.size(), "\r\n\r\n",
                         status));
  });
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  Collected got;
  auto result = transport->Stream(Get("/api/v1/pods?watch=true"), got.Handlers(), nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 403);
  EXPECT_EQ(result->error_body, status);
  EXPECT_TRUE(got.lines.empty());
}

TEST_F(HttpTransportTest, HandlerEndsTheStream) {
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    if (!c.ReadRequest(&request)) return;
    c.Write(kChunkedHead);
    c.Write(Chunk("{\"type\":\"ERROR\"}\n{\"type\":\"ADDED\"}\n"));
    c.WaitForClose();
  });
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  Collected got;
  auto result = transport->Stream(Get("/w"), got.Handlers(/*stop_after_lines=*/1), nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->cancelled);
  EXPECT_THAT(got.lines, ElementsAre("{\"type\":\"ERROR\"}"));
}

TEST_F(HttpTransportTest, SilentStreamIsDeclaredDead) {
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    if (!c.ReadRequest(&request)) return;
    c.Write(kChunkedHead);
    c.WaitForClose();
  });
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  Request watch = Get("/w");
  watch.timeout = absl::Milliseconds(300);
  Collected got;
  auto result = transport->Stream(watch, got.Handlers(), nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(result.status().message(),
              HasSubstr(absl::StrCat("stream from ", server.url(), " lost: timed out talking to ",
                                     server.url(), ": no data for 300ms")));
}

TEST_F(HttpTransportTest, CancelTokenEndsABlockedStreamAtOnce) {
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    if (!c.ReadRequest(&request)) return;
    c.Write(kChunkedHead);
    c.WaitForClose();
  });
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  CancelToken cancel;
  absl::Notification headers;
  StreamHandlers handlers;
  handlers.on_status = [&](int) {
    headers.Notify();
    return true;
  };
  absl::Time cancelled_at;
  std::thread canceller([&] {
    headers.WaitForNotification();
    absl::SleepFor(absl::Milliseconds(100));
    cancelled_at = absl::Now();
    cancel.Cancel();
  });
  auto result = transport->Stream(Get("/w"), handlers, &cancel);  // 30 s of silence allowed
  const absl::Time returned_at = absl::Now();
  canceller.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->cancelled);
  // Woken by the socket shutdown, not by the next look at the token (every 500 ms).
  EXPECT_LT(returned_at - cancelled_at, absl::Milliseconds(300));
}

TEST_F(HttpTransportTest, FallsBackOnlyWhenAServerRefusesConnections) {
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    while (c.ReadRequest(&request)) c.Write(Ok("{}"));
  });
  ClientConfig config = server.Config();
  const std::string dead = absl::StrCat("https://127.0.0.1:", DeadPort());
  config.server = dead;
  config.fallback_servers = {server.url()};
  ASSERT_NEW_TRANSPORT(transport, config);
  auto response = transport->Do(Get("/api"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(transport->server(), server.url());

  // A server that accepts but answers garbage is not skipped.
  ScriptedServer broken([&](ScriptedConnection& c) {
    std::string request;
    if (c.ReadRequest(&request)) c.Write("garbage\r\n\r\n");
  });
  ClientConfig no_skip = server.Config();
  no_skip.server = broken.url();
  no_skip.ca_pem = broken.pki().ca_pem + server.pki().ca_pem;  // a bundle of two CAs
  no_skip.fallback_servers = {server.url()};
  ASSERT_NEW_TRANSPORT(stays, no_skip);
  auto result = stays->Do(Get("/api"));
  EXPECT_THAT(result.status().message(), HasSubstr("malformed HTTP status line"));
  EXPECT_EQ(stays->server(), broken.url());
}

TEST_F(HttpTransportTest, RefusedConnectionReadsTheSameEveryTime) {
  ClientConfig config;
  config.server = absl::StrCat("https://127.0.0.1:", DeadPort());
  config.ca_pem = NewPki().ca_pem;
  ASSERT_NEW_TRANSPORT(transport, config);
  auto first = transport->Do(Get("/api"));
  auto second = transport->Do(Get("/api"));
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(first.status(), second.status());
  EXPECT_EQ(
      first.status().message(),
      absl::StrCat("cannot connect to ", config.server, ": Failed to connect to 127.0.0.1 port ",
                   config.server.substr(config.server.rfind(':') + 1), ": Connection refused"));
}

TEST_F(HttpTransportTest, ServerCertificateChecks) {
  Script answer = [](ScriptedConnection& c) {
    std::string request;
    while (c.ReadRequest(&request)) c.Write(Ok("{}"));
  };
  {
    ServerOptions expired;
    expired.valid_seconds = -60;
    ScriptedServer server(answer, expired);
    auto result = DoOnce(server.Config(), Get("/api"));
    EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(result.status().message(), HasSubstr("(expiry:"));
    EXPECT_THAT(result.status().message(), HasSubstr("certificate has expired"));
  }
  {
    ServerOptions only_a_name;
    only_a_name.sans = {"kube.example"};
    ScriptedServer server(answer, only_a_name);
    auto by_ip = DoOnce(server.Config(), Get("/api"));
    EXPECT_THAT(by_ip.status().message(), HasSubstr("(hostname:"));
    EXPECT_THAT(by_ip.status().message(), HasSubstr("checked for \"127.0.0.1\""));

    ClientConfig config = server.Config();
    config.tls_server_name = "kube.example";
    auto by_name = DoOnce(config, Get("/api"));
    ASSERT_TRUE(by_name.ok()) << by_name.status();
    EXPECT_THAT(server.server_names(), ElementsAre("kube.example"));  // SNI

    config.tls_server_name = "other.example";
    auto wrong = DoOnce(config, Get("/api"));
    EXPECT_THAT(wrong.status().message(), HasSubstr("(hostname:"));
    EXPECT_THAT(wrong.status().message(), HasSubstr("checked for \"other.example\""));
  }
  {
    ScriptedServer server(answer);
    ClientConfig config = server.Config();
    config.ca_pem = NewPki().ca_pem;
    auto result = DoOnce(config, Get("/api"));
    EXPECT_THAT(result.status().message(), HasSubstr("(chain:"));
  }
}

TEST_F(HttpTransportTest, RefusedClientCertificateIsUnauthorized) {
  Script answer = [](ScriptedConnection& c) {
    std::string request;
    while (c.ReadRequest(&request)) c.Write(Ok("{}"));
  };
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    ServerOptions options;
    options.require_client_cert = true;
    options.max_tls_version = version;
    ScriptedServer server(answer, options);
    // A certificate from another CA. (TLS 1.3 reports it after the handshake.)
    const ClientCredentials foreign = IssueClient(NewPki());
    ClientConfig config = server.Config();
    config.client_cert_pem = foreign.cert_pem;
    config.client_key_pem = foreign.key_pem;
    auto result = DoOnce(config, Get("/api"));
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << result.status();
    EXPECT_THAT(result.status().message(),
                HasSubstr(absl::StrCat("unauthorized: ", server.url(),
                                       " rejected the client certificate")));

    const ClientCredentials known = IssueClient(server.pki());
    config.client_cert_pem = known.cert_pem;
    config.client_key_pem = known.key_pem;
    auto accepted = DoOnce(config, Get("/api"));
    EXPECT_TRUE(accepted.ok()) << accepted.status();
  }
}

TEST_F(HttpTransportTest, UnusableCredentialsFailAtCreate) {
  const Pki p = NewPki();
  ClientConfig config;
  config.server = "https://127.0.0.1:7445";
  EXPECT_THAT(HttpTransport::Create(config).status().message(),
              HasSubstr("no certificate authority"));
  config.ca_pem = "not PEM";
  auto bad_ca = HttpTransport::Create(config);
  EXPECT_EQ(bad_ca.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(bad_ca.status().message(),
              HasSubstr("TLS credentials for https://127.0.0.1:7445 could not be used"));
  EXPECT_THAT(bad_ca.status().message(),
              HasSubstr("no PEM certificate in the certificate authority data"));

  config.ca_pem = p.ca_pem;
  const ClientCredentials one = IssueClient(p), two = IssueClient(p);
  config.client_cert_pem = one.cert_pem;
  EXPECT_EQ(HttpTransport::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
  config.client_key_pem = two.key_pem;
  EXPECT_THAT(HttpTransport::Create(config).status().message(),
              HasSubstr("the client key does not belong to the client certificate"));
  config.client_key_pem = "-----BEGIN PRIVATE KEY-----\nsecretbytes\n-----END PRIVATE KEY-----\n";
  auto bad_key = HttpTransport::Create(config);
  EXPECT_THAT(bad_key.status().message(),
              HasSubstr("client key: not an unencrypted PEM private key"));
  EXPECT_THAT(bad_key.status().message(), Not(HasSubstr("secretbytes")));
  config.client_key_pem = one.key_pem;
  EXPECT_TRUE(HttpTransport::Create(config).ok());

  config.server = "http://127.0.0.1:7445";
  EXPECT_THAT(HttpTransport::Create(config).status().message(), HasSubstr("only https://"));
}

TEST_F(HttpTransportTest, IntermediateCaIsATrustAnchor) {
  Script answer = [](ScriptedConnection& c) {
    std::string request;
    while (c.ReadRequest(&request)) c.Write(Ok("{}"));
  };
  ServerOptions options;
  options.signed_by_intermediate = true;
  ScriptedServer server(answer, options);
  // The kubeconfig names only the intermediate: the chain stops there (curl
  // accepted such a partial chain).
  ClientConfig config = server.Config();
  config.ca_pem = server.intermediate_pem();
  auto by_intermediate = DoOnce(config, Get("/api"));
  ASSERT_TRUE(by_intermediate.ok()) << by_intermediate.status();
  EXPECT_EQ(by_intermediate->status, 200);
  // The whole chain, up to the root.
  auto by_root = DoOnce(server.Config(), Get("/api"));
  ASSERT_TRUE(by_root.ok()) << by_root.status();
  // Still checked: an unrelated CA is refused.
  config.ca_pem = NewPki().ca_pem;
  auto foreign = DoOnce(config, Get("/api"));
  EXPECT_THAT(foreign.status().message(), HasSubstr("(chain:"));
}

TEST_F(HttpTransportTest, BytesAfterTheResponseRetireTheConnection) {
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    while (c.ReadRequest(&request)) c.Write(Ok("{}") + "HTTP/1.1 200 OK\r\n");
  });
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  for (int i = 0; i < 2; ++i) {
    auto response = transport->Do(Get("/api"));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->body, "{}");
  }
  EXPECT_EQ(server.connections(), 2);
}

TEST_F(HttpTransportTest, GzipEncodingWithoutABody) {
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    while (c.ReadRequest(&request)) {
      if (absl::StartsWith(request, "HEAD ")) {
        c.Write("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 20\r\n\r\n");
      } else if (absl::StrContains(request, "/empty")) {
        c.Write("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n");
      } else {
        c.Write("HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\n\r\n");
      }
    }
  });
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  Request head = Get("/api");
  head.verb = "HEAD";
  for (const Request& request : {Get("/none"), Get("/empty"), head}) {
    auto response = transport->Do(request);
    ASSERT_TRUE(response.ok()) << request.verb << " " << request.path << ": " << response.status();
    EXPECT_EQ(response->body, "");
  }
  EXPECT_EQ(server.connections(), 1);
}

TEST_F(HttpTransportTest, StreamLineLongerThanTheLimitIsABadResponse) {
  ScriptedServer server([&](ScriptedConnection& c) {
    std::string request;
    if (!c.ReadRequest(&request)) return;
    c.Write(kChunkedHead);
    c.Write(Chunk("{\"type\":\"ADDED\"}\n"));
    const std::string piece = Chunk(std::string(size_t{1} << 20, 'x'));  // no newline
    for (size_t sent = 0; sent <= kMaxStreamLineBytes; sent += size_t{1} << 20) {
      if (!c.Write(piece)) return;
    }
    c.WaitForClose();
  });
  ASSERT_NEW_TRANSPORT(transport, server.Config());
  Collected got;
  auto result = transport->Stream(Get("/w"), got.Handlers(), nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(
      std::string(result.status().message()),
      absl::StrCat("stream from ", server.url(), " lost: bad HTTP response from ", server.url(),
                   ": stream line longer than ", kMaxStreamLineBytes, " bytes"));
  EXPECT_THAT(got.lines, ElementsAre("{\"type\":\"ADDED\"}"));
}

// The static agent runs where there is no /etc/hosts: "localhost" and names under
// .localhost must reach loopback without the resolver (getaddrinfo, watched above).
TEST_F(HttpTransportTest, LocalhostNeedsNoResolver) {
  ServerOptions options;
  options.sans = {"127.0.0.1", "localhost", "weft-test.localhost", kResolverProbeName};
  ScriptedServer server(
      [&](ScriptedConnection& c) {
        std::string request;
        while (c.ReadRequest(&request)) c.Write(Ok(request.substr(0, request.find("\r\n\r\n"))));
      },
      options);
  ClientConfig config = server.Config();
  // The watch is live: a name the transport cannot shortcut goes through it.
  const int before_probe = resolver_calls.load();
  config.server = absl::StrCat("https://", kResolverProbeName, ":", server.port());
  auto probe = DoOnce(config, Get("/api"));
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_GT(resolver_calls.load(), before_probe);

  const int before = resolver_calls.load();
  config.server = absl::StrCat("https://localhost:", server.port(), "/prefix/");
  auto response = DoOnce(config, Get("/api"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(response->body, HasSubstr("GET /prefix/api HTTP/1.1\r\n"));
  EXPECT_THAT(response->body, HasSubstr(absl::StrCat("\r\nHost: localhost:", server.port())));
  // (Success alone proves nothing: /etc/hosts names localhost.)
  EXPECT_EQ(resolver_calls.load(), before);

  config.server = absl::StrCat("https://Weft-Test.localhost:", server.port());
  auto under = DoOnce(config, Get("/api"));
  ASSERT_TRUE(under.ok()) << under.status();
  EXPECT_THAT(under->body,
              HasSubstr(absl::StrCat("\r\nHost: Weft-Test.localhost:", server.port())));
  EXPECT_EQ(resolver_calls.load(), before);
  EXPECT_THAT(server.server_names(),
              ElementsAre(kResolverProbeName, "localhost", "Weft-Test.localhost"));
}

}  // namespace
}  // namespace weft::kubeprism
