// HTTP/1.1 on the wire, for HttpTransport: the server URL, request bytes, an
// incremental response parser (status line, header fields, 1xx interim responses,
// Content-Length / chunked / until-close bodies), gzip content decoding and the
// line splitter of watch streams. Pure (no sockets), so every malformed or
// truncated response is a unit test.
#ifndef WEFT_KUBEPRISM_HTTP_CODEC_H_
#define WEFT_KUBEPRISM_HTTP_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace weft::kubeprism {

// The parts of an https:// server URL that matter to a client.
struct ServerUrl {
  std::string host;  // a DNS name, an IPv4 literal or a bracketed IPv6 literal "[::1]"
  int port = 443;
  std::string base_path;  // "" or "/prefix" (no trailing slash): prepended to request paths

  // The host without the brackets of an IPv6 literal, for resolving and certificates.
  std::string BareHost() const;
};

// https://host[:port][/path]. Any other scheme, user info, a query or a fragment is
// an InvalidArgument error naming the server, without anything up to its last '@'
// (user info may hold a password, and a malformed URL does not say where it ends).
absl::StatusOr<ServerUrl> ParseServerUrl(absl::string_view server);

// The Host header for `host` (as in ServerUrl::host) and `port`: the port is left
// out when it is https' default, 443.
std::string HostHeader(absl::string_view host, int port);

// True for an IPv4 or IPv6 literal (without brackets).
bool IsIpLiteral(absl::string_view host);

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// "VERB target HTTP/1.1", the header fields, a blank line and the body. The caller
// adds Content-Length when it sends a body. CR, LF or NUL in the target or in a
// header would let a value (a token file with a stray newline) inject header
// fields: that is an InvalidArgument error naming the header, never its value.
absl::StatusOr<std::string> SerializeRequest(absl::string_view verb, absl::string_view target,
                                             const HeaderList& headers, absl::string_view body);

struct ResponseHead {
  int version_minor = 1;  // HTTP/1.<version_minor>
  int status = 0;
  std::string reason;
  HeaderList headers;  // names lower-cased, values without surrounding white space

  // The value of the field `lower_name`, several fields joined with ", "; "" when absent.
  std::string Header(absl::string_view lower_name) const;
};

// A status line and header fields, without the blank line that ends them.
absl::StatusOr<ResponseHead> ParseResponseHead(absl::string_view head);

// How the body of a response ends.
enum class BodyFraming {
  kNone,           // no body: HEAD, 1xx, 204, 304
  kContentLength,  // after Content-Length bytes
  kChunked,        // Transfer-Encoding: chunked, after the last (empty) chunk
  kUntilClose,     // neither: when the server closes the connection
};

// Limits against a misbehaving server (the agent must not grow without bound).
inline constexpr size_t kMaxResponseHeadBytes = 64 * 1024;
inline constexpr size_t kMaxChunkLineBytes = 4096;
// One line of a watch stream is one event (an object): far above any object the
// API server stores (etcd's limit is about 1.5 MiB).
inline constexpr size_t kMaxStreamLineBytes = size_t{64} << 20;

// One response, fed in whatever pieces the connection delivers. Interim 1xx
// responses are skipped. Errors are InvalidArgument (a response we cannot read)
// and carry a message for an operator.
class ResponseParser {
 public:
  explicit ResponseParser(bool head_request = false, size_t max_head_bytes = kMaxResponseHeadBytes);

  // Consumes a prefix of `in`, appending body bytes (framing removed) to `body`.
  // Less than all of `in` is consumed only once the response is complete: the
  // rest is not part of it, and the connection is then not reusable().
  absl::StatusOr<size_t> Feed(absl::string_view in, std::string* body);

  // The server closed the connection. OK when the response is complete (an
  // until-close body ends here); otherwise an Unavailable error saying what was
  // cut short.
  absl::Status Eof();

  bool head_done() const { return state_ != State::kHead; }
  const ResponseHead& head() const { return head_; }
  BodyFraming framing() const { return framing_; }
  bool done() const { return state_ == State::kDone; }
  // The connection can carry the next request: the response is complete, framed,
  // neither side asked to close (HTTP/1.1, or HTTP/1.0 with keep-alive), and no
  // bytes came after it.
  bool reusable() const;

 private:
  enum class State {
    kHead,
    kLength,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kUntilClose,
    kDone
  };

  absl::Status StartBody();
  absl::StatusOr<size_t> FeedHead(absl::string_view in);

  const bool head_request_;
  const size_t max_head_bytes_;
  State state_ = State::kHead;
  ResponseHead head_;
  BodyFraming framing_ = BodyFraming::kNone;
  bool keep_alive_ = false;
  std::string line_;         // the head, a chunk-size line or trailers read so far
  uint64_t remaining_ = 0;   // bytes left of the Content-Length body or of the chunk
  bool bytes_seen_ = false;  // anything of a response arrived
  bool trailing_ = false;    // Feed was given bytes after the end of the response
};

// Content-Encoding: gzip, decoded incrementally (zlib).
class GzipDecoder {
 public:
  GzipDecoder();
  ~GzipDecoder();
  GzipDecoder(const GzipDecoder&) = delete;
  GzipDecoder& operator=(const GzipDecoder&) = delete;

  // Appends what `in` decodes to to `out`; InvalidArgument for corrupt data or
  // bytes after the end of the gzip stream.
  absl::Status Decode(absl::string_view in, std::string* out);
  // InvalidArgument if the gzip stream began but has not ended. Nothing decoded at
  // all (an empty body, a HEAD request, a 204) is OK.
  absl::Status Finish() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Splits a watch stream into lines (without "\n" or "\r\n"); empty lines are
// skipped. Lines may span Feed calls, up to `max_line_bytes` each.
class LineSplitter {
 public:
  using LineFn = std::function<bool(absl::string_view line)>;
  explicit LineSplitter(size_t max_line_bytes = kMaxStreamLineBytes)
      : max_line_bytes_(max_line_bytes) {}
  // Calls `on_line` (when set) for each complete line; false once it returned
  // false or a line grew longer than the limit (then too_long()).
  bool Feed(absl::string_view data, const LineFn& on_line);
  // At a clean end: the last line when it had no newline. False if `on_line` said stop.
  bool Flush(const LineFn& on_line);
  // A line grew past the limit; nothing more is split.
  bool too_long() const { return too_long_; }
  size_t max_line_bytes() const { return max_line_bytes_; }

 private:
  const size_t max_line_bytes_;
  std::string partial_;
  bool too_long_ = false;
};

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_HTTP_CODEC_H_
