#include "kubeprism/http_transport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "kubeprism/logging.h"

namespace weft::kubeprism {
namespace {

constexpr size_t kMaxErrorBody = 64 * 1024;
// Far above any page the agent lists; a bound against a broken server.
constexpr size_t kMaxResponseBody = size_t{512} << 20;
constexpr size_t kMaxIdleConnections = 4;
// Older idle connections are closed rather than reused: servers and proxies drop
// idle connections after a while, and a reused dead one costs a retry.
constexpr absl::Duration kMaxIdleTime = absl::Seconds(90);
constexpr absl::Duration kTokenRereadInterval = absl::Minutes(1);
// How often a blocked wait looks at its CancelToken. Streams are also woken at
// once: their token shuts the socket down.
constexpr absl::Duration kCancelPoll = absl::Milliseconds(500);
constexpr size_t kReadBuffer = 16 * 1024;

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};

// PEM with a passphrase is not supported; never let OpenSSL prompt on a terminal.
int NoPassphrase(char*, int, int, void*) { return 0; }

// OpenSSL's queued errors of this thread, as reasons ("sslv3 alert bad
// certificate"); the queue is emptied.
struct SslErrorQueue {
  std::vector<unsigned long> codes;
  std::string text;
};

SslErrorQueue DrainSslErrors() {
  SslErrorQueue q;
  while (unsigned long e = ERR_get_error()) {
    q.codes.push_back(e);
    const char* reason = ERR_reason_error_string(e);
    if (!q.text.empty()) q.text += "; ";
    q.text += reason != nullptr ? std::string(reason) : absl::StrCat("OpenSSL error ", e);
  }
  return q;
}

// A TLS alert by which the server refused our client certificate.
bool IsClientCertificateAlert(unsigned long e) {
  if (ERR_GET_LIB(e) != ERR_LIB_SSL) return false;
  switch (ERR_GET_REASON(e)) {
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return true;
    default:
      return false;
  }
}

// A socket BIO that sends with MSG_NOSIGNAL: a server closing the connection under
// a write must be an error return, not SIGPIPE killing the agent (OpenSSL's own
// socket BIO uses write(2)). The socket is non-blocking; OpenSSL reports "want
// read/write" and TlsConnection waits with poll(2) under a deadline.
struct SocketBioState {
  int fd = -1;
  bool eof = false;  // recv returned 0: OpenSSL asks (BIO_eof) to tell a close from an error
};

SocketBioState* StateOf(BIO* bio) { return static_cast<SocketBioState*>(BIO_get_data(bio)); }

bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

int BioWrite(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = send(StateOf(bio)->fd, data, static_cast<size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && WouldBlock(errno)) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

int BioRead(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = recv(StateOf(bio)->fd, data, static_cast<size_t>(size), 0);
  if (n < 0 && WouldBlock(errno)) BIO_set_retry_read(bio);
  if (n == 0) StateOf(bio)->eof = true;
  return static_cast<int>(n);
}

long BioCtrl(BIO* bio, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_EOF:
      return StateOf(bio)->eof ? 1 : 0;
    default:
      return 0;
  }
}

int BioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* SocketBioMethod() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "weft socket");
    BIO_meth_set_write(m, BioWrite);
    BIO_meth_set_read(m, BioRead);
    BIO_meth_set_ctrl(m, BioCtrl);
    BIO_meth_set_create(m, BioCreate);
    return m;
  }();
  return method;
}

enum class WaitResult { kReady, kTimedOut, kCancelled };

// Waits for `events` on `fd` until `deadline`, looking at `cancel` at least every
// kCancelPoll.
WaitResult WaitFor(int fd, short events, absl::Time deadline, const CancelToken* cancel) {
  for (;;) {
    if (cancel != nullptr && cancel->cancelled()) return WaitResult::kCancelled;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return WaitResult::kTimedOut;
    const int ms = static_cast<int>(
        std::max<int64_t>(1, absl::ToInt64Milliseconds(std::min(left, kCancelPoll))));
    pollfd p{fd, events, 0};
    const int rc = poll(&p, 1, ms);
    // Errors and hang-ups count as ready: the next call on the socket reports them.
    if (rc > 0 || (rc < 0 && errno != EINTR)) return WaitResult::kReady;
  }
}

// The limits of one blocking operation.
struct IoLimits {
  absl::Time deadline = absl::InfiniteFuture();
  CancelToken* cancel = nullptr;
  std::string timeout_detail;  // what timed out, for the message
};

absl::Status Cancelled() { return absl::CancelledError("request cancelled"); }

}  // namespace

// One TCP connection with TLS on top, non-blocking underneath so that every wait
// has a deadline and a cancel check.
class TlsConnection {
 public:
  TlsConnection(int fd, std::string server) : fd_(fd), server_(std::move(server)) {
    bio_state_.fd = fd;
  }
  ~TlsConnection() {
    if (ssl_ != nullptr) {
      if (healthy_) {
        // close_notify, best effort: the socket is non-blocking.
        ERR_clear_error();
        SSL_shutdown(ssl_);
      }
      ERR_clear_error();
      SSL_free(ssl_);
    }
    if (fd_ >= 0) close(fd_);
  }
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  int fd() const { return fd_; }
  const std::string& server() const { return server_; }
  uint64_t bytes_read() const { return bytes_read_; }

  // TLS client handshake: verifies the chain against the context's CA and the
  // certificate against `name` (a DNS name, also sent as SNI, or an IP literal).
  absl::Status Handshake(SSL_CTX* ctx, const std::string& name, bool name_is_ip,
                         const IoLimits& limits) {
    ERR_clear_error();
    ssl_ = SSL_new(ctx);
    BIO* bio = BIO_new(SocketBioMethod());
    if (ssl_ == nullptr || bio == nullptr) {
      BIO_free(bio);
      return absl::InternalError(absl::StrCat("TLS setup: ", DrainSslErrors().text));
    }
    BIO_set_data(bio, &bio_state_);
    SSL_set_bio(ssl_, bio, bio);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const bool named = name_is_ip
                           ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1
                           : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) == 1 &&
                                 // SNI carries names only (RFC 6066).
                                 SSL_set_tlsext_host_name(ssl_, name.c_str()) == 1;
    if (!named) {
      return TransportError(
          TransportFailure::kHandshake,
          absl::StrCat("cannot verify against \"", name, "\": ", DrainSslErrors().text), server_);
    }
    SSL_set_connect_state(ssl_);
    absl::StatusOr<int> done =
        Run([this] { return SSL_do_handshake(ssl_); }, "", TransportFailure::kHandshake, limits);
    if (done.ok()) return absl::OkStatus();
    if (absl::IsCancelled(done.status()) || absl::IsDeadlineExceeded(done.status())) {
      return done.status();
    }
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      const TransportFailure failure = CertificateFailure(verify);
      std::string detail = X509_verify_cert_error_string(verify);
      if (failure == TransportFailure::kCertificateHostname) {
        absl::StrAppend(&detail, " (checked for \"", name, "\")");
      }
      return TransportError(failure, detail, server_);
    }
    return done.status();
  }

  absl::Status WriteAll(absl::string_view data, const IoLimits& limits) {
    while (!data.empty()) {
      const int size = static_cast<int>(std::min<size_t>(data.size(), INT_MAX));
      ASSIGN_OR_RETURN(const int n, Run([&] { return SSL_write(ssl_, data.data(), size); },
                                        "send failure", TransportFailure::kConnectionLost, limits));
      if (n == 0) {
        return TransportError(TransportFailure::kConnectionLost,
                              "send failure: the server closed the connection", server_);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  // Some bytes; 0 once the server closed the connection.
  absl::StatusOr<size_t> Read(char* buf, size_t size, const IoLimits& limits) {
    const int want = static_cast<int>(std::min<size_t>(size, INT_MAX));
    ASSIGN_OR_RETURN(const int n, Run([&] { return SSL_read(ssl_, buf, want); }, "recv failure",
                                      TransportFailure::kConnectionLost, limits));
    bytes_read_ += static_cast<uint64_t>(n);
    return static_cast<size_t>(n);
  }

  // An idle keep-alive connection is still usable: nothing arrived on it but
  // TLS housekeeping (session tickets), and the server did not close it.
  bool StillOpen() {
    if (!healthy_ || SSL_pending(ssl_) > 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 0) == 0) return true;
    char byte;
    ERR_clear_error();
    const int rc = SSL_read(ssl_, &byte, 1);
    const bool still_open = rc <= 0 && SSL_get_error(ssl_, rc) == SSL_ERROR_WANT_READ;
    ERR_clear_error();
    healthy_ = still_open;
    return still_open;
  }

 private:
  // Runs an SSL call until it completes, waiting on the socket as OpenSSL asks.
  // The call's positive result, 0 when the server closed the connection, or an
  // error: `failure` (with `doing` before the reason), a refused client
  // certificate, a timeout or cancellation.
  template <typename Op>
  absl::StatusOr<int> Run(Op op, absl::string_view doing, TransportFailure failure,
                          const IoLimits& limits) {
    for (;;) {
      ERR_clear_error();
      errno = 0;
      const int rc = op();
      if (rc > 0) return rc;
      const int err = SSL_get_error(ssl_, rc);
      const int saved_errno = errno;
      short events = 0;
      if (err == SSL_ERROR_WANT_READ) {
        events = POLLIN;
      } else if (err == SSL_ERROR_WANT_WRITE) {
        events = POLLOUT;
      } else if (err == SSL_ERROR_ZERO_RETURN) {
        return 0;
      } else {
        healthy_ = false;
        if (limits.cancel != nullptr && limits.cancel->cancelled()) return Cancelled();
        const SslErrorQueue q = DrainSslErrors();
        if (std::any_of(q.codes.begin(), q.codes.end(), IsClientCertificateAlert)) {
          return TransportError(TransportFailure::kClientCertificateRejected, q.text, server_);
        }
        std::string reason = q.text;
        if (reason.empty()) {
          reason = saved_errno != 0 ? std::string(strerror(saved_errno))
                                    : std::string("the server closed the connection");
        }
        return TransportError(failure, doing.empty() ? reason : absl::StrCat(doing, ": ", reason),
                              server_);
      }
      switch (WaitFor(fd_, events, limits.deadline, limits.cancel)) {
        case WaitResult::kReady:
          break;
        case WaitResult::kCancelled:
          healthy_ = false;
          return Cancelled();
        case WaitResult::kTimedOut:
          healthy_ = false;
          return TransportError(TransportFailure::kTimeout, limits.timeout_detail, server_);
      }
    }
  }

  const int fd_;
  const std::string server_;
  SocketBioState bio_state_;  // outlives ssl_ and its BIO
  SSL* ssl_ = nullptr;
  bool healthy_ = true;
  uint64_t bytes_read_ = 0;
};

struct HttpTransport::IdleConnection {
  size_t endpoint;
  std::unique_ptr<TlsConnection> connection;
  absl::Time since;
};

namespace {

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_UNSPEC;
};

// Literal addresses and "localhost" without asking the resolver: the static agent
// runs in a container without /etc/hosts, and curl treated localhost this way too.
absl::StatusOr<std::vector<Address>> Resolve(const std::string& host, int port) {
  std::vector<Address> out;
  auto add_v4 = [&](const in_addr& ip) {
    Address a;
    auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    sin->sin_addr = ip;
    a.length = sizeof(sockaddr_in);
    a.family = AF_INET;
    out.push_back(a);
  };
  auto add_v6 = [&](const in6_addr& ip) {
    Address a;
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    sin6->sin6_addr = ip;
    a.length = sizeof(sockaddr_in6);
    a.family = AF_INET6;
    out.push_back(a);
  };
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    add_v4(v4);
    return out;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    add_v6(v6);
    return out;
  }
  const std::string lower = absl::AsciiStrToLower(host);
  if (lower == "localhost" || absl::EndsWith(lower, ".localhost")) {
    v4.s_addr = htonl(INADDR_LOOPBACK);
    add_v4(v4);
    add_v6(in6addr_loopback);
    return out;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("Could not resolve host: ", host, " (", gai_strerror(rc), ")"));
  }
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      add_v4(reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr);
    } else if (ai->ai_family == AF_INET6) {
      add_v6(reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr);
    }
  }
  freeaddrinfo(found);
  if (out.empty()) {
    return absl::UnavailableError(absl::StrCat("Could not resolve host: ", host, " (no address)"));
  }
  return out;
}

void SetSocketOptions(int fd) {
  const int one = 1, idle = 30, interval = 10;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // A watch on a connection whose peer vanished must notice (as curl's TCP keepalive did).
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
}

// Every certificate of a PEM bundle, in order.
absl::StatusOr<std::vector<X509Ptr>> ReadCertificates(absl::string_view pem,
                                                      absl::string_view what) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<X509Ptr> out;
  ERR_clear_error();
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)) {
    out.emplace_back(cert);
  }
  // The loop ends at the end of the data ("no start line") or at a broken block.
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end = last == 0 || (ERR_GET_LIB(last) == ERR_LIB_PEM &&
                                       ERR_GET_REASON(last) == PEM_R_NO_START_LINE);
  const std::string errors = DrainSslErrors().text;
  if (out.empty())
    return absl::InvalidArgumentError(absl::StrCat("no PEM certificate in the ", what));
  if (!clean_end) return absl::InvalidArgumentError(absl::StrCat(what, ": ", errors));
  return out;
}

absl::StatusOr<SslCtxPtr> NewSslContext(const ClientConfig& config) {
  auto unusable = [&](absl::string_view why) {
    return TransportError(TransportFailure::kCredentials, why, config.server);
  };
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr)
    return absl::InternalError(absl::StrCat("SSL_CTX_new: ", DrainSslErrors().text));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  // Idle keep-alive connections give their read/write buffers back.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  // Truncation is caught by the HTTP framing (Content-Length, chunked); a server
  // closing without close_notify is an end of data, as it is for curl.
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  static const unsigned char kAlpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn) - 1);

  absl::StatusOr<std::vector<X509Ptr>> cas =
      ReadCertificates(config.ca_pem, "certificate authority data");
  if (!cas.ok()) return unusable(cas.status().message());
  X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
  // Any configured certificate is a trust anchor, also an intermediate CA (as curl
  // has it): the chain need not reach a self-signed root.
  X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
  for (const X509Ptr& ca : *cas) {
    if (X509_STORE_add_cert(store, ca.get()) != 1) {
      const unsigned long last = ERR_peek_last_error();
      if (ERR_GET_REASON(last) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
        return unusable(absl::StrCat("certificate authority: ", DrainSslErrors().text));
      }
      ERR_clear_error();
    }
  }
  if (!config.client_cert_pem.empty()) {
    absl::StatusOr<std::vector<X509Ptr>> chain =
        ReadCertificates(config.client_cert_pem, "client certificate data");
    if (!chain.ok()) return unusable(chain.status().message());
    if (SSL_CTX_use_certificate(ctx.get(), (*chain)[0].get()) != 1) {
      return unusable(absl::StrCat("client certificate: ", DrainSslErrors().text));
    }
    for (size_t i = 1; i < chain->size(); ++i) {
      if (SSL_CTX_add1_chain_cert(ctx.get(), (*chain)[i].get()) != 1) {
        return unusable(absl::StrCat("client certificate chain: ", DrainSslErrors().text));
      }
    }
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(
        config.client_key_pem.data(), static_cast<int>(config.client_key_pem.size())));
    std::unique_ptr<EVP_PKEY, PkeyFree> key(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
    if (key == nullptr) {
      // OpenSSL's reason only: the key's bytes never go into a message.
      return unusable(absl::StrCat("client key: not an unencrypted PEM private key (",
                                   DrainSslErrors().text, ")"));
    }
    if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      DrainSslErrors();
      return unusable("the client key does not belong to the client certificate");
    }
  }
  return ctx;
}

}  // namespace

TransportFailure CertificateFailure(long x509_verify_result) {
  switch (x509_verify_result) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return TransportFailure::kCertificateHostname;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
      return TransportFailure::kCertificateExpiry;
    default:
      return TransportFailure::kCertificateChain;
  }
}

absl::Status TransportError(TransportFailure failure, absl::string_view detail,
                            absl::string_view server) {
  switch (failure) {
    case TransportFailure::kConnect: {
      absl::StatusOr<ServerUrl> url = ParseServerUrl(server);
      if (url.ok() && url->port == 7445 &&
          (url->host == "127.0.0.1" || url->host == "localhost" || url->host == "[::1]")) {
        return absl::UnavailableError(absl::StrCat("KubePrism is not answering on ", url->host,
                                                   ":7445 (is machine.features.kubePrism / "
                                                   "KubePrismConfig enabled?): ",
                                                   detail));
      }
      return absl::UnavailableError(absl::StrCat("cannot connect to ", server, ": ", detail));
    }
    case TransportFailure::kResolve:
      return absl::UnavailableError(absl::StrCat("cannot resolve ", server, ": ", detail));
    case TransportFailure::kTimeout:
      return absl::DeadlineExceededError(
          absl::StrCat("timed out talking to ", server, ": ", detail));
    case TransportFailure::kCertificateChain:
    case TransportFailure::kCertificateExpiry:
    case TransportFailure::kCertificateHostname: {
      const char* check =
          failure == TransportFailure::kCertificateChain
              ? "chain: the server certificate is not signed by the configured CA"
          : failure == TransportFailure::kCertificateExpiry
              ? "expiry: the server certificate is outside its validity period"
              : "hostname: the server certificate does not name the host or IP we connected to "
                "(set tls-server-name?)";
      return absl::FailedPreconditionError(absl::StrCat("TLS certificate verification of ", server,
                                                        " failed (", check, "): ", detail));
    }
    case TransportFailure::kCredentials:
      return absl::FailedPreconditionError(
          absl::StrCat("TLS credentials for ", server,
                       " could not be used (check the CA, client certificate "
                       "and key PEM): ",
                       detail));
    case TransportFailure::kClientCertificateRejected:
      return absl::UnauthenticatedError(
          absl::StrCat("unauthorized: ", server,
                       " rejected the client certificate during the TLS handshake "
                       "(expired or unknown client certificate): ",
                       detail));
    case TransportFailure::kHandshake:
      return absl::UnavailableError(
          absl::StrCat("TLS handshake with ", server, " failed: ", detail));
    case TransportFailure::kConnectionLost:
      return absl::UnavailableError(absl::StrCat("connection to ", server, " lost: ", detail));
    case TransportFailure::kBadResponse:
      return absl::UnavailableError(absl::StrCat("bad HTTP response from ", server, ": ", detail));
  }
  return absl::UnknownError(absl::StrCat("request to ", server, " failed: ", detail));
}

absl::StatusOr<std::unique_ptr<HttpTransport>> HttpTransport::Create(ClientConfig config) {
  if (config.ca_pem.empty()) {
    return absl::FailedPreconditionError(
        "no certificate authority: certificate verification is always on");
  }
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return absl::InvalidArgumentError("client certificate and key must be given together");
  }
  std::vector<std::string> servers = {config.server};
  servers.insert(servers.end(), config.fallback_servers.begin(), config.fallback_servers.end());
  std::vector<Endpoint> endpoints;
  for (const std::string& server : servers) {
    ASSIGN_OR_RETURN(ServerUrl url, ParseServerUrl(server));
    Endpoint e;
    e.server = server;
    // tls-server-name replaces the URL's host for SNI, the certificate check and
    // the Host header; the connection still goes to the URL's address.
    std::string name = config.tls_server_name.empty() ? url.host : config.tls_server_name;
    e.host_header = HostHeader(
        IsIpLiteral(name) && absl::StrContains(name, ':') ? absl::StrCat("[", name, "]") : name,
        url.port);
    if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
      name = name.substr(1, name.size() - 2);
    }
    e.tls_name = name;
    e.tls_name_is_ip = IsIpLiteral(name);
    e.url = std::move(url);
    endpoints.push_back(std::move(e));
  }
  ASSIGN_OR_RETURN(SslCtxPtr ctx, NewSslContext(config));
  return std::unique_ptr<HttpTransport>(
      new HttpTransport(std::move(endpoints), ctx.release(), std::move(config.token),
                        std::move(config.token_file), config.connect_timeout));
}

HttpTransport::HttpTransport(std::vector<Endpoint> endpoints, ssl_ctx_st* ctx, std::string token,
                             std::string token_file, absl::Duration connect_timeout)
    : endpoints_(std::move(endpoints)),
      ctx_(ctx),
      token_file_(std::move(token_file)),
      connect_timeout_(connect_timeout) {
  absl::MutexLock lock(&token_mu_);
  token_ = std::move(token);
  token_read_ = absl::Now();
}

HttpTransport::~HttpTransport() {
  {
    absl::MutexLock lock(&pool_mu_);
    idle_.clear();
  }
  SSL_CTX_free(ctx_);
}

std::string HttpTransport::server() const {
  return endpoints_[active_.load() % endpoints_.size()].server;
}

std::string HttpTransport::Token() {
  absl::MutexLock lock(&token_mu_);
  if (!token_file_.empty() && absl::Now() - token_read_ > kTokenRereadInterval) {
    absl::StatusOr<std::string> fresh = ReadFileForConfig(token_file_, "tokenFile");
    token_read_ = absl::Now();
    if (fresh.ok()) {
      token_ = std::string(absl::StripAsciiWhitespace(*fresh));
    } else {
      Log(LogLevel::kWarning,
          absl::StrCat("keeping the previous token: ", fresh.status().message()));
    }
  }
  return token_;
}

std::unique_ptr<TlsConnection> HttpTransport::TakeIdle(size_t index) {
  std::vector<std::unique_ptr<TlsConnection>> stale;  // closed after the lock is released
  std::unique_ptr<TlsConnection> found;
  {
    absl::MutexLock lock(&pool_mu_);
    const absl::Time now = absl::Now();
    for (size_t i = idle_.size(); i-- > 0 && found == nullptr;) {  // the newest first
      if (idle_[i].endpoint != index) continue;
      std::unique_ptr<TlsConnection> c = std::move(idle_[i].connection);
      const bool fresh = now - idle_[i].since < kMaxIdleTime;
      idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
      if (fresh && c->StillOpen()) {
        found = std::move(c);
      } else {
        stale.push_back(std::move(c));
      }
    }
  }
  return found;
}

void HttpTransport::ReturnIdle(size_t index, std::unique_ptr<TlsConnection> connection) {
  std::unique_ptr<TlsConnection> evicted;  // closed after the lock is released
  absl::MutexLock lock(&pool_mu_);
  if (idle_.size() >= kMaxIdleConnections) {
    evicted = std::move(idle_.front().connection);
    idle_.erase(idle_.begin());
  }
  idle_.push_back(IdleConnection{index, std::move(connection), absl::Now()});
}

absl::StatusOr<std::string> HttpTransport::RequestBytes(const Endpoint& endpoint,
                                                        const Request& request,
                                                        const std::string& token,
                                                        bool accept_gzip) const {
  std::string target = absl::StrCat(endpoint.url.base_path, request.path);
  if (!request.query.empty()) absl::StrAppend(&target, "?", EncodeQuery(request.query));
  HeaderList headers = {
      {"Host", endpoint.host_header}, {"Accept", "application/json"}, {"User-Agent", "weft-agent"}};
  // Lists of every Service or EndpointSlice in a cluster compress well.
  if (accept_gzip) headers.emplace_back("Accept-Encoding", "gzip");
  const std::string& verb = request.verb;
  if (!request.body.empty() || verb == "POST" || verb == "PUT" || verb == "PATCH") {
    headers.emplace_back("Content-Type",
                         request.content_type.empty() ? "application/json" : request.content_type);
  }
  if (!token.empty()) headers.emplace_back("Authorization", absl::StrCat("Bearer ", token));
  // A body (possibly empty) for every verb but GET, and DELETE without one.
  const bool sends_body = verb != "GET" && (!request.body.empty() || verb != "DELETE");
  if (sends_body) headers.emplace_back("Content-Length", absl::StrCat(request.body.size()));
  return SerializeRequest(verb, target, headers, sends_body ? request.body : "");
}

absl::StatusOr<std::unique_ptr<TlsConnection>> HttpTransport::Connect(const Endpoint& endpoint,
                                                                      absl::Time deadline,
                                                                      CancelToken* cancel,
                                                                      bool* connect_failed) {
  const std::string host = endpoint.url.BareHost();
  const std::string where = absl::StrCat(host, " port ", endpoint.url.port);
  absl::StatusOr<std::vector<Address>> addresses = Resolve(host, endpoint.url.port);
  if (!addresses.ok()) {
    *connect_failed = true;
    return TransportError(TransportFailure::kResolve, addresses.status().message(),
                          endpoint.server);
  }
  std::string last_error = "no address";
  for (const Address& address : *addresses) {
    const int fd = socket(address.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) {
      last_error = strerror(errno);
      continue;
    }
    auto connection = std::make_unique<TlsConnection>(fd, endpoint.server);
    SetSocketOptions(fd);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
      if (errno != EINPROGRESS) {
        last_error = strerror(errno);
        continue;
      }
      switch (WaitFor(fd, POLLOUT, deadline, cancel)) {
        case WaitResult::kReady:
          break;
        case WaitResult::kCancelled:
          return Cancelled();
        case WaitResult::kTimedOut:
          *connect_failed = true;
          return TransportError(TransportFailure::kTimeout,
                                absl::StrCat("Failed to connect to ", where, ": timed out"),
                                endpoint.server);
      }
      int so_error = 0;
      socklen_t length = sizeof(so_error);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &length);
      if (so_error != 0) {
        last_error = strerror(so_error);
        continue;
      }
    }
    // The connect timeout covers the TLS handshake too, as curl's did.
    IoLimits limits{deadline, cancel, absl::StrCat("TLS handshake with ", where, " timed out")};
    RETURN_IF_ERROR(
        connection->Handshake(ctx_, endpoint.tls_name, endpoint.tls_name_is_ip, limits));
    return connection;
  }
  *connect_failed = true;
  return TransportError(TransportFailure::kConnect,
                        absl::StrCat("Failed to connect to ", where, ": ", last_error),
                        endpoint.server);
}

template <typename TryFn>
absl::Status HttpTransport::WithFallback(TryFn try_server) {
  const size_t start = active_.load();
  std::vector<std::string> failures;
  absl::Status first_error;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const size_t index = (start + i) % endpoints_.size();
    bool connect_failed = false;
    absl::Status s = try_server(index, &connect_failed);
    if (s.ok() || !connect_failed) {
      if (index != start && s.ok()) {
        active_.store(index);
        Log(LogLevel::kWarning, absl::StrCat("API server ", endpoints_[start].server,
                                             " unreachable; using ", endpoints_[index].server));
      }
      return s;
    }
    if (first_error.ok()) first_error = s;
    failures.push_back(std::string(s.message()));
  }
  if (failures.size() == 1) return first_error;
  return absl::Status(first_error.code(), absl::StrJoin(failures, "; then "));
}

namespace {

// Reads once from `c` and feeds what arrived to `parser`, appending body bytes
// to `out`. At the end of the connection the parser decides: a complete response
// (an until-close body ends here) is OK and done(), anything else is a lost
// connection. Bytes the parser cannot read are a bad response.
absl::Status ReadResponsePart(TlsConnection& c, const IoLimits& limits, ResponseParser& parser,
                              std::string* out) {
  char buf[kReadBuffer];
  ASSIGN_OR_RETURN(const size_t n, c.Read(buf, sizeof(buf), limits));
  if (n == 0) {
    absl::Status eof = parser.Eof();
    if (!eof.ok())
      return TransportError(TransportFailure::kConnectionLost, eof.message(), c.server());
    return absl::OkStatus();
  }
  absl::StatusOr<size_t> used = parser.Feed(absl::string_view(buf, n), out);
  if (!used.ok()) {
    return TransportError(TransportFailure::kBadResponse, used.status().message(), c.server());
  }
  return absl::OkStatus();
}

// Sends a unary request on `c` and reads its response.
absl::Status Exchange(TlsConnection& c, absl::string_view request_bytes, bool head_request,
                      const IoLimits& limits, Response* response, bool* reusable) {
  RETURN_IF_ERROR(c.WriteAll(request_bytes, limits));
  ResponseParser parser(head_request);
  std::unique_ptr<GzipDecoder> gzip;
  bool encoding_known = false;
  std::string chunk, body;
  while (!parser.done()) {
    RETURN_IF_ERROR(ReadResponsePart(c, limits, parser, &chunk));
    if (parser.head_done() && !encoding_known) {
      encoding_known = true;
      const std::string encoding = absl::AsciiStrToLower(
          absl::StripAsciiWhitespace(parser.head().Header("content-encoding")));
      if (encoding == "gzip") {
        gzip = std::make_unique<GzipDecoder>();
      } else if (!encoding.empty() && encoding != "identity") {
        return TransportError(TransportFailure::kBadResponse,
                              absl::StrCat("unsupported Content-Encoding \"", encoding, "\""),
                              c.server());
      }
    }
    absl::Status decoded = absl::OkStatus();
    if (gzip != nullptr) {
      decoded = gzip->Decode(chunk, &body);
    } else {
      body += chunk;
    }
    chunk.clear();
    if (!decoded.ok())
      return TransportError(TransportFailure::kBadResponse, decoded.message(), c.server());
    if (body.size() > kMaxResponseBody) {
      return TransportError(TransportFailure::kBadResponse,
                            absl::StrCat("response body larger than ", kMaxResponseBody, " bytes"),
                            c.server());
    }
  }
  if (gzip != nullptr) {
    // OK for a body that never began (HEAD, 204, an empty body).
    absl::Status finished = gzip->Finish();
    if (!finished.ok())
      return TransportError(TransportFailure::kBadResponse, finished.message(), c.server());
  }
  response->status = parser.head().status;
  response->body = std::move(body);
  *reusable = parser.reusable();
  return absl::OkStatus();
}

// Sends a stream request on `c` and hands the response to `handlers` until it
// ends. result->status is set (non-zero) once the response head arrived.
absl::Status ReadStream(TlsConnection& c, absl::string_view request_bytes, absl::Duration silence,
                        const StreamHandlers& handlers, CancelToken* cancel, StreamResult* result) {
  IoLimits limits{absl::Now() + silence, cancel,
                  absl::StrCat("no data for ", absl::FormatDuration(silence))};
  RETURN_IF_ERROR(c.WriteAll(request_bytes, limits));
  ResponseParser parser;
  LineSplitter lines;
  std::string body;
  const auto success = [&] { return result->status >= 200 && result->status < 300; };
  while (!parser.done()) {
    // A stream silent for longer than this is dead (the server ends watches itself).
    limits.deadline = absl::Now() + silence;
    RETURN_IF_ERROR(ReadResponsePart(c, limits, parser, &body));
    if (parser.head_done() && result->status == 0) {
      result->status = parser.head().status;
      if (handlers.on_status && !handlers.on_status(result->status)) {
        result->cancelled = true;
        return absl::OkStatus();
      }
    }
    if (success()) {
      if (!lines.Feed(body, handlers.on_line)) {
        if (lines.too_long()) {
          return TransportError(
              TransportFailure::kBadResponse,
              absl::StrCat("stream line longer than ", lines.max_line_bytes(), " bytes"),
              c.server());
        }
        result->cancelled = true;
        return absl::OkStatus();
      }
    } else if (result->error_body.size() < kMaxErrorBody) {
      result->error_body.append(body, 0, kMaxErrorBody - result->error_body.size());
    }
    body.clear();
  }
  if (success() && !lines.Flush(handlers.on_line)) result->cancelled = true;
  return absl::OkStatus();
}

}  // namespace

absl::Status HttpTransport::DoOn(size_t index, const Request& request, const std::string& token,
                                 Response* response, bool* connect_failed) {
  const Endpoint& endpoint = endpoints_[index];
  ASSIGN_OR_RETURN(const std::string bytes, RequestBytes(endpoint, request, token, true));
  // The whole-request limit, for each server tried (as curl's was).
  const absl::Time deadline = absl::Now() + request.timeout;
  const IoLimits limits{
      deadline, request.cancel,
      absl::StrCat("no complete response within ", absl::FormatDuration(request.timeout))};
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<TlsConnection> connection = attempt == 0 ? TakeIdle(index) : nullptr;
    const bool reused = connection != nullptr;
    if (!reused) {
      ASSIGN_OR_RETURN(connection,
                       Connect(endpoint, std::min(deadline, absl::Now() + connect_timeout_),
                               request.cancel, connect_failed));
    }
    const uint64_t read_before = connection->bytes_read();
    bool reusable = false;
    absl::Status s =
        Exchange(*connection, bytes, request.verb == "HEAD", limits, response, &reusable);
    // A kept-alive connection the server closed meanwhile fails before any byte
    // of the response arrives: once more, on a new connection.
    if (!s.ok() && reused && absl::IsUnavailable(s) && connection->bytes_read() == read_before) {
      continue;
    }
    if (s.ok() && reusable) ReturnIdle(index, std::move(connection));
    return s;
  }
}

absl::StatusOr<Response> HttpTransport::Do(const Request& request) {
  Response response;
  const std::string token = Token();
  absl::Status status = WithFallback([&](size_t index, bool* connect_failed) {
    return DoOn(index, request, token, &response, connect_failed);
  });
  if (!status.ok()) return status;
  return response;
}

absl::Status HttpTransport::StreamOn(size_t index, const Request& request, const std::string& token,
                                     const StreamHandlers& handlers, CancelToken* cancel,
                                     StreamResult* result, bool* connect_failed) {
  const Endpoint& endpoint = endpoints_[index];
  ASSIGN_OR_RETURN(const std::string bytes, RequestBytes(endpoint, request, token, false));
  // A connection of its own: a watch holds it for minutes, and cancelling shuts it down.
  absl::StatusOr<std::unique_ptr<TlsConnection>> connection =
      Connect(endpoint, absl::Now() + connect_timeout_, cancel, connect_failed);
  absl::Status s = connection.status();
  if (connection.ok()) {
    if (cancel != nullptr) cancel->SetSocket((*connection)->fd());
    s = ReadStream(**connection, bytes, request.timeout, handlers, cancel, result);
    // Forget the socket before it is closed, so a reused descriptor is never touched.
    if (cancel != nullptr) cancel->SetSocket(-1);
  }
  if (cancel != nullptr && cancel->cancelled()) result->cancelled = true;
  if (result->cancelled) return absl::OkStatus();
  // The head arrived (Stream starts each server's attempt from a fresh result).
  if (!s.ok() && result->status != 0) {
    return absl::UnavailableError(
        absl::StrCat("stream from ", endpoint.server, " lost: ", s.message()));
  }
  return s;
}

absl::StatusOr<StreamResult> HttpTransport::Stream(const Request& request,
                                                   const StreamHandlers& handlers,
                                                   CancelToken* cancel) {
  StreamResult result;
  const std::string token = Token();
  absl::Status status = WithFallback([&](size_t index, bool* connect_failed) {
    result = StreamResult();
    return StreamOn(index, request, token, handlers, cancel, &result, connect_failed);
  });
  if (!status.ok()) return status;
  return result;
}

}  // namespace weft::kubeprism
