// HTTP transport to the Kubernetes API: unary requests and line-streamed watches.
// Implementations: HttpTransport (HTTP/1.1 on OpenSSL) and FakeTransport (tests).
#ifndef WEFT_KUBEPRISM_TRANSPORT_H_
#define WEFT_KUBEPRISM_TRANSPORT_H_

#include <atomic>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace weft::kubeprism {

class CancelToken;

struct Request {
  std::string verb = "GET";  // GET, POST, PUT, PATCH, DELETE
  std::string path;          // already escaped: /api/v1/namespaces/x/services
  std::vector<std::pair<std::string, std::string>> query;  // escaped by the transport
  std::string body;
  std::string content_type;  // for bodies; default application/json
  // Unary requests: the whole-request limit. Streams: the longest silence
  // tolerated before the connection is considered dead.
  absl::Duration timeout = absl::Seconds(30);
  // Unary requests: aborts the request when cancelled (checked about once a
  // second while waiting). Streams take their token as an argument.
  CancelToken* cancel = nullptr;
};

struct Response {
  int status = 0;
  std::string body;
};

// Stops a stream from another thread: sets a flag the transport polls and shuts
// down the stream's socket so a blocked read returns at once.
class CancelToken {
 public:
  void Cancel();
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // For transports: the socket to shut down on Cancel(); -1 to forget it (before
  // closing it, so a reused descriptor is never touched).
  void SetSocket(int fd);

 private:
  std::atomic<bool> cancelled_{false};
  absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;
};

struct StreamHandlers {
  // Called once with the HTTP status when the headers arrive; return false to stop.
  std::function<bool(int http_status)> on_status;
  // Called for each line of a 2xx body (without the newline); return false to stop.
  std::function<bool(absl::string_view line)> on_line;
};

struct StreamResult {
  int status = 0;
  std::string error_body;  // the body of a non-2xx response
  bool cancelled = false;  // ended by the token or a handler returning false
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Transport failures (connect, TLS) are errors; any HTTP status is a Response.
  virtual absl::StatusOr<Response> Do(const Request& request) = 0;

  // Blocks until the stream ends, fails, or is cancelled. A connection lost after
  // the headers arrived is an Unavailable error.
  virtual absl::StatusOr<StreamResult> Stream(const Request& request,
                                              const StreamHandlers& handlers,
                                              CancelToken* cancel) = 0;

  // The server currently in use (after fallbacks), for messages.
  virtual std::string server() const = 0;
};

// RFC 3986 escaping of a query key or value: every byte but the unreserved
// characters (A-Z a-z 0-9 - . _ ~) becomes %XX.
std::string EscapeQueryComponent(absl::string_view s);

// a=b&c=d with EscapeQueryComponent applied to keys and values.
std::string EncodeQuery(const std::vector<std::pair<std::string, std::string>>& query);

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_TRANSPORT_H_
