#include "kubeprism/testing/https_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/pki.h"

namespace weft::kubeprism::testing {
namespace {

constexpr size_t kMaxHeaderBytes = 1 << 20;
constexpr size_t kMaxBodyBytes = 256 << 20;

SSL_CTX* AsCtx(void* p) { return static_cast<SSL_CTX*>(p); }

std::string SslErrors() {
  std::string out;
  char buf[256];
  while (unsigned long err = ERR_get_error()) {
    ERR_error_string_n(err, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 500: return "Internal Server Error";
    default: return "Status";
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(absl::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() &&
        HexValue(in[i + 1]) >= 0 && HexValue(in[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2]));
      i += 2;
    } else if (plus_is_space && in[i] == '+') {
      out += ' ';
    } else {
      out += in[i];
    }
  }
  return out;
}

// Accept any client certificate: the application decides what it is worth.
int AcceptAnyCertificate(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) { return 1; }

class TlsConnection : public HttpResponder {
 public:
  TlsConnection(SSL* ssl, int fd) : ssl_(ssl), fd_(fd) {}

  bool broken() const { return broken_; }
  bool aborted() const { return aborted_; }
  void set_close_after(bool close) { close_after_ = close; }
  bool close_after() const { return close_after_; }

  bool Send(int status, const std::string& content_type, absl::string_view body) override {
    std::string out = Head(status, content_type);
    absl::StrAppend(&out, "Content-Length: ", body.size(), "\r\n\r\n");
    if (body.size() < (64 << 10)) {
      out.append(body.data(), body.size());
      return WriteAll(out);
    }
    return WriteAll(out) && WriteAll(body);
  }

  bool StartStream(int status, const std::string& content_type) override {
    std::string out = Head(status, content_type);
    out += "Transfer-Encoding: chunked\r\n\r\n";
    return WriteAll(out);
  }

  bool SendChunk(absl::string_view data) override {
    if (data.empty()) return !broken_;
    char size[32];
    std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
    std::string out = size;
    out.append(data.data(), data.size());
    out += "\r\n";
    return WriteAll(out);
  }

  bool EndStream() override { return WriteAll("0\r\n\r\n"); }

  bool PeerClosed() override {
    if (broken_) return true;
    pollfd p{fd_, POLLRDHUP, 0};
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
      return true;
    }
    return false;
  }

  void Abort() override { aborted_ = true; }

  bool WriteAll(absl::string_view data) {
    if (broken_ || aborted_) return false;
    size_t off = 0;
    while (off < data.size()) {
      const int n = SSL_write(ssl_, data.data() + off, static_cast<int>(data.size() - off));
      if (n <= 0) {
        ERR_clear_error();
        broken_ = true;
        return false;
      }
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads one request. False on EOF, error or a malformed request (after
  // answering it where possible).
  bool ReadRequest(HttpRequest* request) {
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (buffer_.size() > kMaxHeaderBytes || !Fill()) return false;
    }
    const std::string head = buffer_.substr(0, header_end);
    buffer_.erase(0, header_end + 4);
    std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
    std::vector<absl::string_view> start = absl::StrSplit(lines[0], ' ');
    if (start.size() != 3) {
      Send(400, "text/plain", "malformed request line");
      return false;
    }
    request->method = std::string(start[0]);
    absl::string_view target = start[1];
    const size_t q = target.find('?');
    request->path = PercentDecode(target.substr(0, q), false);
    if (q != absl::string_view::npos) {
      for (absl::string_view pair : absl::StrSplit(target.substr(q + 1), '&')) {
        if (pair.empty()) continue;
        const size_t eq = pair.find('=');
        request->query[PercentDecode(pair.substr(0, eq), true)] =
            eq == absl::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1), true);
      }
    }
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == absl::string_view::npos) continue;
      std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
      request->headers[name] = std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    const bool http10 = start[2] == "HTTP/1.0";
    const std::string connection = absl::AsciiStrToLower(request->Header("connection"));
    close_after_ = connection == "close" || (http10 && connection != "keep-alive");

    if (!request->Header("transfer-encoding").empty()) {
      close_after_ = true;
      Send(411, "text/plain", "chunked request bodies are not supported");
      return false;
    }
    size_t length = 0;
    const std::string content_length = request->Header("content-length");
    if (!content_length.empty() && !absl::SimpleAtoi(content_length, &length)) {
      close_after_ = true;
      Send(400, "text/plain", "bad Content-Length");
      return false;
    }
    if (length > kMaxBodyBytes) {
      close_after_ = true;
      Send(413, "text/plain", "request body too large");
      return false;
    }
    if (length > 0 && absl::AsciiStrToLower(request->Header("expect")) == "100-continue") {
      if (!WriteAll("HTTP/1.1 100 Continue\r\n\r\n")) return false;
    }
    while (buffer_.size() < length) {
      if (!Fill()) return false;
    }
    request->body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return true;
  }

 private:
  std::string Head(int status, const std::string& content_type) {
    std::string out = absl::StrCat("HTTP/1.1 ", status, " ", ReasonPhrase(status), "\r\n");
    absl::StrAppend(&out, "Content-Type: ", content_type, "\r\n");
    absl::StrAppend(&out, "Cache-Control: no-cache, private\r\n");
    if (close_after_) out += "Connection: close\r\n";
    return out;
  }

  bool Fill() {
    char buf[16384];
    const int n = SSL_read(ssl_, buf, sizeof(buf));
    if (n <= 0) {
      ERR_clear_error();
      broken_ = true;
      return false;
    }
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }

  SSL* ssl_;
  int fd_;
  std::string buffer_;
  bool broken_ = false;
  bool aborted_ = false;
  bool close_after_ = false;
};

}  // namespace

std::string HttpRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

std::string HttpRequest::Query(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? "" : it->second;
}

absl::StatusOr<std::unique_ptr<HttpsServer>> HttpsServer::Start(const HttpsServerOptions& options,
                                                                HttpHandler handler) {
  // A client vanishing mid-write must be an error return, not a process kill.
  std::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<HttpsServer> server(new HttpsServer(std::move(handler)));

  auto cert = pki::ParseCertificatePem(options.cert_pem);
  if (!cert.ok()) return cert.status();
  auto key = pki::ParsePrivateKeyPem(options.key_pem);
  if (!key.ok()) return key.status();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return absl::InternalError(absl::StrCat("SSL_CTX_new: ", SslErrors()));
  server->ssl_ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate(ctx, cert->get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, key->get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return absl::InternalError(absl::StrCat("server certificate: ", SslErrors()));
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, AcceptAnyCertificate);
  static const unsigned char kSessionContext[] = "weft-lab-apiserver";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  if (!options.client_ca_pem.empty()) {
    auto ca = pki::ParseCertificatePem(options.client_ca_pem);
    if (!ca.ok()) return ca.status();
    if (SSL_CTX_add_client_CA(ctx, ca->get()) != 1) {
      return absl::InternalError(absl::StrCat("client CA list: ", SslErrors()));
    }
  }

  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  server->listen_fd_ = fd;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options.port));
  if (inet_pton(AF_INET, options.bind_address.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("bad bind address ", options.bind_address));
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(absl::StrCat("bind ", options.bind_address, ":", options.port,
                                               ": ", strerror(errno)));
  }
  if (listen(fd, 128) != 0) return absl::InternalError(absl::StrCat("listen: ", strerror(errno)));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  server->port_ = ntohs(addr.sin_port);
  if (pipe2(server->wake_pipe_, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  server->accept_thread_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

HttpsServer::~HttpsServer() {
  Stop();
  if (ssl_ctx_ != nullptr) SSL_CTX_free(AsCtx(ssl_ctx_));
  for (int& fd : wake_pipe_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

void HttpsServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (accept_thread_.joinable()) {
    const char byte = 1;
    (void)!write(wake_pipe_[1], &byte, 1);
    accept_thread_.join();
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Connection& c : connections_) {
      if (c.fd >= 0) shutdown(c.fd, SHUT_RDWR);
    }
  }
  for (Connection& c : connections_) {
    if (c.thread.joinable()) c.thread.join();
  }
  connections_.clear();
}

void HttpsServer::ReapFinished() {
  std::list<Connection> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      auto next = std::next(it);
      if (it->done.load()) finished.splice(finished.end(), connections_, it);
      it = next;
    }
  }
  for (Connection& c : finished) c.thread.join();
}

void HttpsServer::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (poll(fds, 2, 1000) < 0 && errno != EINTR) break;
    ReapFinished();
    if (stopping_.load() || (fds[1].revents & POLLIN)) break;
    if (!(fds[0].revents & POLLIN)) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::lock_guard<std::mutex> lock(mu_);
    connections_.emplace_back();
    Connection* c = &connections_.back();
    c->fd = fd;
    c->thread = std::thread([this, c] { Serve(c); });
  }
}

void HttpsServer::Serve(Connection* connection) {
  const int fd = connection->fd;
  SSL* ssl = SSL_new(AsCtx(ssl_ctx_));
  if (ssl != nullptr && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1) {
    std::shared_ptr<X509> client_cert(SSL_get1_peer_certificate(ssl), X509_free);
    TlsConnection conn(ssl, fd);
    while (!stopping_.load()) {
      HttpRequest request;
      if (!conn.ReadRequest(&request)) break;
      request.client_cert = client_cert;
      try {
        handler_(request, conn);
      } catch (...) {
        conn.Send(500, "text/plain", "internal error");
      }
      if (conn.broken() || conn.aborted() || conn.close_after()) break;
    }
    if (!conn.broken() && !conn.aborted()) SSL_shutdown(ssl);
  }
  ERR_clear_error();
  if (ssl != nullptr) SSL_free(ssl);
  {
    std::lock_guard<std::mutex> lock(mu_);
    close(fd);
    connection->fd = -1;
  }
  connection->done.store(true);
}

}  // namespace weft::kubeprism::testing
