#include "kubeprism/curl_transport.h"

#include <curl/curl.h>

#include <mutex>
#include <regex>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "kubeprism/logging.h"

namespace weft::kubeprism {
namespace {

constexpr size_t kMaxErrorBody = 64 * 1024;
constexpr size_t kMaxPooledHandles = 8;
constexpr absl::Duration kTokenRereadInterval = absl::Minutes(1);

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool IsConnectFailure(CURLcode code) {
  return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
         code == CURLE_OPERATION_TIMEDOUT;
}

// scheme://host:port parts of a server URL.
struct ServerUrl {
  std::string host;
  std::string port;
};

absl::StatusOr<ServerUrl> ParseServer(const std::string& server) {
  CURLU* url = curl_url();
  ServerUrl out;
  absl::Status status;
  char* part = nullptr;
  if (curl_url_set(url, CURLUPART_URL, server.c_str(), 0) != CURLUE_OK) {
    status = absl::InvalidArgumentError(absl::StrCat("server \"", server, "\": not a URL"));
  } else {
    if (curl_url_get(url, CURLUPART_SCHEME, &part, 0) == CURLUE_OK &&
        !absl::EqualsIgnoreCase(part, "https")) {
      status = absl::InvalidArgumentError(
          absl::StrCat("server \"", server, "\": only https:// is supported"));
    }
    curl_free(part);
    part = nullptr;
    if (curl_url_get(url, CURLUPART_HOST, &part, 0) == CURLUE_OK) out.host = part;
    curl_free(part);
    part = nullptr;
    if (curl_url_get(url, CURLUPART_PORT, &part, CURLU_DEFAULT_PORT) == CURLUE_OK) {
      out.port = part;
    }
    curl_free(part);
  }
  curl_url_cleanup(url);
  if (!status.ok()) return status;
  return out;
}

// Stops the build of a request at the first failing curl_easy_setopt.
class Setopt {
 public:
  explicit Setopt(CURL* h) : h_(h) {}
  template <typename T>
  Setopt& operator()(CURLoption option, T value) {
    if (code_ == CURLE_OK) code_ = curl_easy_setopt(h_, option, value);
    return *this;
  }
  absl::Status status() const {
    if (code_ == CURLE_OK) return absl::OkStatus();
    return absl::InternalError(
        absl::StrCat("configuring libcurl: ", curl_easy_strerror(code_)));
  }

 private:
  CURL* h_;
  CURLcode code_ = CURLE_OK;
};

struct CurlHeaders {
  curl_slist* list = nullptr;
  ~CurlHeaders() { curl_slist_free_all(list); }
  void Add(const std::string& header) { list = curl_slist_append(list, header.c_str()); }
};

size_t AppendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// State shared with the streaming callbacks.
struct StreamState {
  const StreamHandlers* handlers = nullptr;
  CancelToken* cancel = nullptr;
  CURL* handle = nullptr;
  int status = 0;
  bool stopped = false;  // a handler asked to stop
  std::string partial;   // an incomplete line
  std::string error_body;
};

size_t StreamHeader(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<StreamState*>(user);
  absl::string_view line(data, size * n);
  if (line == "\r\n" || line == "\n") {
    long code = 0;
    curl_easy_getinfo(s->handle, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200) {
      s->status = static_cast<int>(code);
      curl_socket_t fd = CURL_SOCKET_BAD;
      if (curl_easy_getinfo(s->handle, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK &&
          fd != CURL_SOCKET_BAD && s->cancel != nullptr) {
        s->cancel->SetSocket(fd);
      }
      if (s->handlers->on_status && !s->handlers->on_status(s->status)) {
        s->stopped = true;
        return 0;
      }
    }
  }
  return size * n;
}

size_t StreamWrite(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<StreamState*>(user);
  const size_t len = size * n;
  if (s->status < 200 || s->status >= 300) {
    if (s->error_body.size() < kMaxErrorBody) s->error_body.append(data, len);
    return len;
  }
  absl::string_view chunk(data, len);
  while (!chunk.empty()) {
    size_t nl = chunk.find('\n');
    if (nl == absl::string_view::npos) {
      s->partial.append(chunk.data(), chunk.size());
      break;
    }
    absl::string_view line;
    if (s->partial.empty()) {
      line = chunk.substr(0, nl);
    } else {
      s->partial.append(chunk.data(), nl);
      line = s->partial;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool keep_going = line.empty() || !s->handlers->on_line || s->handlers->on_line(line);
    s->partial.clear();
    chunk.remove_prefix(nl + 1);
    if (!keep_going) {
      s->stopped = true;
      return 0;
    }
  }
  return len;
}

int UnaryProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<CancelToken*>(user)->cancelled() ? 1 : 0;
}

int StreamProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* s = static_cast<StreamState*>(user);
  return (s->cancel != nullptr && s->cancel->cancelled()) ? 1 : 0;
}

}  // namespace

absl::Status CurlError(int curl_code, absl::string_view error_buffer, absl::string_view server) {
  const CURLcode code = static_cast<CURLcode>(curl_code);
  // curl says how long it tried ("... port 6443 after 4 ms: ..."); drop that, so
  // the same failure always reads the same (the probe groups identical errors).
  const std::string detail = std::regex_replace(
      error_buffer.empty() ? std::string(curl_easy_strerror(code)) : std::string(error_buffer),
      std::regex(" after [0-9]+ ms"), "");
  switch (code) {
    case CURLE_COULDNT_CONNECT: {
      absl::StatusOr<ServerUrl> url = ParseServer(std::string(server));
      if (url.ok() && url->port == "7445" &&
          (url->host == "127.0.0.1" || url->host == "localhost" || url->host == "[::1]")) {
        return absl::UnavailableError(absl::StrCat(
            "KubePrism is not answering on ", url->host, ":7445 (is machine.features.kubePrism / "
            "KubePrismConfig enabled?): ", detail));
      }
      return absl::UnavailableError(absl::StrCat("cannot connect to ", server, ": ", detail));
    }
    case CURLE_COULDNT_RESOLVE_HOST:
      return absl::UnavailableError(absl::StrCat("cannot resolve ", server, ": ", detail));
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(absl::StrCat("timed out talking to ", server, ": ", detail));
    case CURLE_PEER_FAILED_VERIFICATION: {
      const std::string lower = absl::AsciiStrToLower(detail);
      std::string check = "chain: the server certificate is not signed by the configured CA";
      if (absl::StrContains(lower, "expired") || absl::StrContains(lower, "not yet valid")) {
        check = "expiry: the server certificate is outside its validity period";
      } else if (absl::StrContains(lower, "host name") || absl::StrContains(lower, "hostname") ||
                 absl::StrContains(lower, "subject name") ||
                 absl::StrContains(lower, "does not match")) {
        check = "hostname: the server certificate does not name the host or IP we connected to "
                "(set tls-server-name?)";
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "TLS certificate verification of ", server, " failed (", check, "): ", detail));
    }
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
      return absl::FailedPreconditionError(absl::StrCat(
          "TLS credentials for ", server, " could not be used (check the CA, client certificate "
          "and key PEM): ", detail));
    case CURLE_SSL_CONNECT_ERROR: {
      const std::string lower = absl::AsciiStrToLower(detail);
      if (absl::StrContains(lower, "alert") && absl::StrContains(lower, "certificate")) {
        return absl::UnauthenticatedError(absl::StrCat(
            "unauthorized: ", server, " rejected the client certificate during the TLS handshake "
            "(expired or unknown client certificate): ", detail));
      }
      return absl::UnavailableError(absl::StrCat("TLS handshake with ", server, " failed: ", detail));
    }
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return absl::UnavailableError(absl::StrCat("connection to ", server, " lost: ", detail));
    default:
      return absl::UnavailableError(absl::StrCat("request to ", server, " failed: ", detail));
  }
}

struct CurlTransport::Attempt {
  CURLcode code = CURLE_OK;
  char error[CURL_ERROR_SIZE] = {0};
};

absl::StatusOr<std::unique_ptr<CurlTransport>> CurlTransport::Create(ClientConfig config) {
  GlobalInit();
  if (config.ca_pem.empty()) {
    return absl::FailedPreconditionError(
        "no certificate authority: certificate verification is always on");
  }
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return absl::InvalidArgumentError("client certificate and key must be given together");
  }
  RETURN_IF_ERROR(ParseServer(config.server).status());
  for (const std::string& s : config.fallback_servers) RETURN_IF_ERROR(ParseServer(s).status());
  return std::unique_ptr<CurlTransport>(new CurlTransport(std::move(config)));
}

CurlTransport::CurlTransport(ClientConfig config) : config_(std::move(config)) {
  servers_.push_back(config_.server);
  for (const std::string& s : config_.fallback_servers) servers_.push_back(s);
  absl::MutexLock lock(&token_mu_);
  token_ = config_.token;
  token_read_ = absl::Now();
}

CurlTransport::~CurlTransport() {
  absl::MutexLock lock(&pool_mu_);
  for (void* h : pool_) curl_easy_cleanup(static_cast<CURL*>(h));
}

std::string CurlTransport::server() const { return servers_[active_.load() % servers_.size()]; }

std::string CurlTransport::Token() {
  absl::MutexLock lock(&token_mu_);
  if (!config_.token_file.empty() && absl::Now() - token_read_ > kTokenRereadInterval) {
    absl::StatusOr<std::string> fresh = ReadFileForConfig(config_.token_file, "tokenFile");
    token_read_ = absl::Now();
    if (fresh.ok()) {
      token_ = std::string(absl::StripAsciiWhitespace(*fresh));
    } else {
      Log(LogLevel::kWarning, absl::StrCat("keeping the previous token: ", fresh.status().message()));
    }
  }
  return token_;
}

void* CurlTransport::AcquireHandle() {
  {
    absl::MutexLock lock(&pool_mu_);
    if (!pool_.empty()) {
      void* h = pool_.back();
      pool_.pop_back();
      curl_easy_reset(static_cast<CURL*>(h));  // keeps its live connections
      return h;
    }
  }
  return curl_easy_init();
}

void CurlTransport::ReleaseHandle(void* handle) {
  absl::MutexLock lock(&pool_mu_);
  if (pool_.size() < kMaxPooledHandles) {
    pool_.push_back(handle);
  } else {
    curl_easy_cleanup(static_cast<CURL*>(handle));
  }
}

namespace {

// The settings every request shares: URL, TLS, credentials, timeouts.
absl::Status ConfigureCommon(CURL* h, const ClientConfig& config, const std::string& server,
                             const Request& request, const std::string& token,
                             CurlHeaders* headers, std::string* url, std::string* connect_to,
                             curl_slist** connect_list, char* error_buffer) {
  ASSIGN_OR_RETURN(ServerUrl parsed, ParseServer(server));
  std::string base = server;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (!config.tls_server_name.empty()) {
    // Connect to the configured address but use tls_server_name for SNI and the
    // certificate's host name check.
    std::string host = parsed.host;
    base = absl::StrCat("https://", config.tls_server_name, ":", parsed.port);
    *connect_to = absl::StrCat(config.tls_server_name, ":", parsed.port, ":", host, ":", parsed.port);
    *connect_list = curl_slist_append(nullptr, connect_to->c_str());
  }
  *url = absl::StrCat(base, request.path);
  if (!request.query.empty()) absl::StrAppend(url, "?", EncodeQuery(request.query));

  headers->Add("Accept: application/json");
  headers->Add("User-Agent: weft-agent");
  if (!request.body.empty() || request.verb == "POST" || request.verb == "PUT" ||
      request.verb == "PATCH") {
    headers->Add(absl::StrCat("Content-Type: ", request.content_type.empty()
                                                    ? "application/json"
                                                    : request.content_type));
  }
  if (!token.empty()) headers->Add(absl::StrCat("Authorization: Bearer ", token));

  curl_blob ca{const_cast<char*>(config.ca_pem.data()), config.ca_pem.size(), CURL_BLOB_COPY};
  Setopt set(h);
  set(CURLOPT_URL, url->c_str())
  (CURLOPT_ERRORBUFFER, error_buffer)
  (CURLOPT_NOSIGNAL, 1L)
  (CURLOPT_PROTOCOLS_STR, "https")
  (CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1))
  (CURLOPT_HTTPHEADER, headers->list)
  (CURLOPT_SSL_VERIFYPEER, 1L)
  (CURLOPT_SSL_VERIFYHOST, 2L)
  (CURLOPT_CAINFO, static_cast<const char*>(nullptr))
  (CURLOPT_CAPATH, static_cast<const char*>(nullptr))
  (CURLOPT_CAINFO_BLOB, &ca)
  (CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(config.connect_timeout)))
  (CURLOPT_TCP_KEEPALIVE, 1L)
  (CURLOPT_TCP_KEEPIDLE, 30L)
  (CURLOPT_TCP_KEEPINTVL, 10L);
  if (*connect_list != nullptr) set(CURLOPT_CONNECT_TO, *connect_list);
  if (!config.client_cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(config.client_cert_pem.data()),
                   config.client_cert_pem.size(), CURL_BLOB_COPY};
    curl_blob key{const_cast<char*>(config.client_key_pem.data()), config.client_key_pem.size(),
                  CURL_BLOB_COPY};
    set(CURLOPT_SSLCERT_BLOB, &cert)(CURLOPT_SSLCERTTYPE, "PEM")(CURLOPT_SSLKEY_BLOB, &key)(
        CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (request.verb == "GET") {
    set(CURLOPT_HTTPGET, 1L);
  } else {
    set(CURLOPT_CUSTOMREQUEST, request.verb.c_str());
    if (!request.body.empty() || request.verb != "DELETE") {
      set(CURLOPT_POSTFIELDS, request.body.c_str())(CURLOPT_POSTFIELDSIZE_LARGE,
                                                    static_cast<curl_off_t>(request.body.size()));
    }
  }
  return set.status();
}

}  // namespace

template <typename TryFn>
absl::Status CurlTransport::WithFallback(TryFn try_server) {
  const size_t start = active_.load();
  std::vector<std::string> failures;
  absl::Status first_error;
  for (size_t i = 0; i < servers_.size(); ++i) {
    const size_t index = (start + i) % servers_.size();
    bool connect_failed = false;
    absl::Status s = try_server(servers_[index], &connect_failed);
    if (s.ok() || !connect_failed) {
      if (index != start && s.ok()) {
        active_.store(index);
        Log(LogLevel::kWarning, absl::StrCat("API server ", servers_[start],
                                             " unreachable; using ", servers_[index]));
      }
      return s;
    }
    if (first_error.ok()) first_error = s;
    failures.push_back(std::string(s.message()));
  }
  if (failures.size() == 1) return first_error;
  return absl::Status(first_error.code(), absl::StrJoin(failures, "; then "));
}

absl::StatusOr<Response> CurlTransport::Do(const Request& request) {
  Response response;
  const std::string token = Token();
  absl::Status status = WithFallback([&](const std::string& server, bool* connect_failed) {
    CURL* h = static_cast<CURL*>(AcquireHandle());
    if (h == nullptr) return absl::InternalError("curl_easy_init failed");
    Attempt attempt;
    CurlHeaders headers;
    std::string url, connect_to;
    curl_slist* connect_list = nullptr;
    std::string body;
    absl::Status s = ConfigureCommon(h, config_, server, request, token, &headers, &url,
                                     &connect_to, &connect_list, attempt.error);
    if (s.ok()) {
      Setopt set(h);
      set(CURLOPT_WRITEFUNCTION, AppendBody)(CURLOPT_WRITEDATA, &body)(
          CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(request.timeout)))(
          CURLOPT_ACCEPT_ENCODING, "");
      if (request.cancel != nullptr) {
        set(CURLOPT_NOPROGRESS, 0L)(CURLOPT_XFERINFOFUNCTION, UnaryProgress)(
            CURLOPT_XFERINFODATA, request.cancel);
      }
      s = set.status();
    }
    if (s.ok()) {
      attempt.code = curl_easy_perform(h);
      if (attempt.code == CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        response.status = static_cast<int>(code);
        response.body = std::move(body);
      } else if (request.cancel != nullptr && request.cancel->cancelled()) {
        s = absl::CancelledError("request cancelled");
      } else {
        curl_off_t connect_us = 0;
        curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
        *connect_failed = IsConnectFailure(attempt.code) && connect_us == 0;
        s = CurlError(attempt.code, attempt.error, server);
      }
    }
    // Unset the borrowed pointers before the handle goes back to the pool.
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, nullptr);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    curl_slist_free_all(connect_list);
    ReleaseHandle(h);
    return s;
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<StreamResult> CurlTransport::Stream(const Request& request,
                                                   const StreamHandlers& handlers,
                                                   CancelToken* cancel) {
  StreamResult result;
  const std::string token = Token();
  absl::Status status = WithFallback([&](const std::string& server, bool* connect_failed) {
    // A fresh handle: a watch holds its connection for minutes and must be
    // cancellable by shutting down its own socket.
    CURL* h = curl_easy_init();
    if (h == nullptr) return absl::InternalError("curl_easy_init failed");
    Attempt attempt;
    CurlHeaders headers;
    std::string url, connect_to;
    curl_slist* connect_list = nullptr;
    StreamState state;
    state.handlers = &handlers;
    state.cancel = cancel;
    state.handle = h;
    absl::Status s = ConfigureCommon(h, config_, server, request, token, &headers, &url,
                                     &connect_to, &connect_list, attempt.error);
    if (s.ok()) {
      Setopt set(h);
      set(CURLOPT_HEADERFUNCTION, StreamHeader)(CURLOPT_HEADERDATA, &state)(
          CURLOPT_WRITEFUNCTION, StreamWrite)(CURLOPT_WRITEDATA, &state)(
          CURLOPT_NOPROGRESS, 0L)(CURLOPT_XFERINFOFUNCTION, StreamProgress)(
          CURLOPT_XFERINFODATA, &state)
          // A silent stream longer than this is dead (the server ends watches itself).
          (CURLOPT_LOW_SPEED_LIMIT, 1L)(
              CURLOPT_LOW_SPEED_TIME, static_cast<long>(absl::ToInt64Seconds(request.timeout)));
      s = set.status();
    }
    if (s.ok()) {
      attempt.code = curl_easy_perform(h);
      const bool cancelled = state.stopped || (cancel != nullptr && cancel->cancelled());
      result.status = state.status;
      result.error_body = std::move(state.error_body);
      result.cancelled = cancelled;
      if (attempt.code == CURLE_OK) {
        if (!state.partial.empty() && handlers.on_line && state.status >= 200 &&
            state.status < 300) {
          handlers.on_line(state.partial);
        }
      } else if (!cancelled) {
        if (state.status != 0) {
          s = absl::UnavailableError(absl::StrCat(
              "stream from ", server, " lost: ", CurlError(attempt.code, attempt.error, server).message()));
        } else {
          curl_off_t connect_us = 0;
          curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
          *connect_failed = IsConnectFailure(attempt.code) && connect_us == 0;
          s = CurlError(attempt.code, attempt.error, server);
        }
      }
    }
    if (cancel != nullptr) cancel->SetSocket(-1);
    curl_easy_cleanup(h);
    curl_slist_free_all(connect_list);
    return s;
  });
  if (!status.ok()) return status;
  return result;
}

}  // namespace weft::kubeprism
