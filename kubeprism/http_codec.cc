#include "kubeprism/http_codec.h"

#include <arpa/inet.h>
#include <zlib.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace weft::kubeprism {
namespace {

// A server's bytes quoted in an error: escaped, and short.
std::string Quote(absl::string_view bytes) {
  constexpr size_t kMaxQuoted = 80;
  std::string out = absl::StrCat("\"", absl::CHexEscape(bytes.substr(0, kMaxQuoted)), "\"");
  if (bytes.size() > kMaxQuoted) out += "...";
  return out;
}

// RFC 9110 token characters (header names, methods).
bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        !absl::StrContains("!#$%&'*+-.^_`|~", c)) {
      return false;
    }
  }
  return true;
}

bool HasLineBreakOrNul(absl::string_view s) {
  return s.find_first_of(absl::string_view("\r\n\0", 3)) != absl::string_view::npos;
}

bool IsIpv6Literal(const std::string& host) {
  unsigned char addr[16];
  return inet_pton(AF_INET6, host.c_str(), addr) == 1;
}

absl::string_view StripCr(absl::string_view line) {
  absl::ConsumeSuffix(&line, "\r");
  return line;
}

absl::Status BadResponse(absl::string_view what) { return absl::InvalidArgumentError(what); }

}  // namespace

std::string ServerUrl::BareHost() const {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

bool IsIpLiteral(absl::string_view host) {
  const std::string h(host);
  unsigned char addr[16];
  return inet_pton(AF_INET, h.c_str(), addr) == 1 || IsIpv6Literal(h);
}

absl::StatusOr<ServerUrl> ParseServerUrl(absl::string_view server) {
  // User info (user:password@) may hold a password, and where it ends is unclear in
  // a malformed URL ("https://u:pa/ss@h"): messages show nothing up to the last '@'
  // but the scheme, and quote nothing from that part.
  const size_t at = server.rfind('@');
  const size_t secret_end = at == absl::string_view::npos ? 0 : at + 1;
  std::string shown(server);
  if (secret_end != 0) {
    const size_t scheme_end = server.find("://");
    const absl::string_view scheme =
        scheme_end == absl::string_view::npos ? "" : server.substr(0, scheme_end);
    const bool is_scheme = !scheme.empty() && scheme_end < at &&
                           absl::ascii_isalpha(static_cast<unsigned char>(scheme.front())) &&
                           std::all_of(scheme.begin(), scheme.end(), [](char c) {
                             return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                                    c == '+' || c == '-' || c == '.';
                           });
    shown = absl::StrCat(is_scheme ? server.substr(0, scheme_end + 3) : "", "***@",
                         server.substr(secret_end));
  }
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("server \"", shown, "\": ", why));
  };
  const size_t scheme_end = server.find("://");
  if (scheme_end == absl::string_view::npos || scheme_end == 0) return invalid("not a URL");
  if (!absl::EqualsIgnoreCase(server.substr(0, scheme_end), "https")) {
    return invalid("only https:// is supported");
  }
  absl::string_view rest = server.substr(scheme_end + 3);
  const size_t authority_end = rest.find_first_of("/?#");
  absl::string_view authority = rest.substr(0, authority_end);
  absl::string_view path =
      authority_end == absl::string_view::npos ? "" : rest.substr(authority_end);
  if (path.find_first_of("?#") != absl::string_view::npos) {
    return invalid("a server URL takes no query or fragment");
  }
  if (absl::StrContains(authority, '@')) {
    return invalid("user info in the URL is not supported (use a token or a client certificate)");
  }
  ServerUrl url;
  absl::string_view port;
  bool has_port = false;
  if (absl::StartsWith(authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return invalid("not a URL");
    url.host = std::string(authority.substr(0, close + 1));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!absl::ConsumePrefix(&after, ":")) return invalid("not a URL");
      port = after;
      has_port = true;
    }
    if (!IsIpv6Literal(url.BareHost())) return invalid("not a URL");
  } else {
    const size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) {
      port = authority.substr(colon + 1);
      has_port = true;
    }
    for (char c : url.host) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
        return invalid("not a URL");
      }
    }
  }
  if (url.host.empty()) return invalid("not a URL");
  if (has_port && (!absl::SimpleAtoi(port, &url.port) || url.port < 1 || url.port > 65535 ||
                   !std::all_of(port.begin(), port.end(), absl::ascii_isdigit))) {
    const bool may_be_secret = port.data() < server.data() + secret_end;
    return invalid(may_be_secret ? std::string("bad port")
                                 : absl::StrCat("bad port \"", port, "\""));
  }
  while (absl::ConsumeSuffix(&path, "/")) {
  }
  url.base_path = std::string(path);
  return url;
}

std::string HostHeader(absl::string_view host, int port) {
  if (port == 443) return std::string(host);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<std::string> SerializeRequest(absl::string_view verb, absl::string_view target,
                                             const HeaderList& headers, absl::string_view body) {
  if (!IsToken(verb))
    return absl::InvalidArgumentError(absl::StrCat("bad HTTP method ", Quote(verb)));
  if (target.empty() || target.front() != '/' ||
      target.find_first_of(absl::string_view(" \t\r\n\0", 5)) != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "request path must start with / and be escaped (no spaces or control characters)");
  }
  std::string out = absl::StrCat(verb, " ", target, " HTTP/1.1\r\n");
  for (const auto& [name, value] : headers) {
    if (!IsToken(name))
      return absl::InvalidArgumentError(absl::StrCat("bad header name ", Quote(name)));
    // The value is not quoted: it may be a secret.
    if (HasLineBreakOrNul(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("header ", name, " contains a line break or NUL; refusing to send it"));
    }
    absl::StrAppend(&out, name, ": ", value, "\r\n");
  }
  out += "\r\n";
  out.append(body.data(), body.size());
  return out;
}

std::string ResponseHead::Header(absl::string_view lower_name) const {
  std::string out;
  for (const auto& [name, value] : headers) {
    if (name != lower_name) continue;
    if (!out.empty()) out += ", ";
    out += value;
  }
  return out;
}

absl::StatusOr<ResponseHead> ParseResponseHead(absl::string_view head) {
  // The line break of the last field may or may not be there.
  if (!absl::ConsumeSuffix(&head, "\r\n")) absl::ConsumeSuffix(&head, "\n");
  std::vector<absl::string_view> lines = absl::StrSplit(head, '\n');
  ResponseHead out;
  const absl::string_view status_line = StripCr(lines[0]);
  // HTTP/1.x SSS[ reason]
  if (status_line.size() < 12 || !absl::StartsWith(status_line, "HTTP/1.") ||
      !absl::ascii_isdigit(static_cast<unsigned char>(status_line[7])) || status_line[8] != ' ' ||
      !absl::ascii_isdigit(static_cast<unsigned char>(status_line[9])) ||
      !absl::ascii_isdigit(static_cast<unsigned char>(status_line[10])) ||
      !absl::ascii_isdigit(static_cast<unsigned char>(status_line[11])) ||
      (status_line.size() > 12 && status_line[12] != ' ') || status_line[9] == '0') {
    return BadResponse(absl::StrCat("malformed HTTP status line ", Quote(status_line)));
  }
  out.version_minor = status_line[7] - '0';
  out.status =
      (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
  if (status_line.size() > 13) out.reason = std::string(status_line.substr(13));
  for (size_t i = 1; i < lines.size(); ++i) {
    const absl::string_view line = StripCr(lines[i]);
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      return BadResponse(absl::StrCat("obsolete folded header line ", Quote(line)));
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || !IsToken(line.substr(0, colon))) {
      return BadResponse(absl::StrCat("malformed header line ", Quote(line)));
    }
    out.headers.emplace_back(absl::AsciiStrToLower(line.substr(0, colon)),
                             std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return out;
}

ResponseParser::ResponseParser(bool head_request, size_t max_head_bytes)
    : head_request_(head_request), max_head_bytes_(max_head_bytes) {}

bool ResponseParser::reusable() const {
  return done() && keep_alive_ && framing_ != BodyFraming::kUntilClose && !trailing_;
}

absl::StatusOr<size_t> ResponseParser::FeedHead(absl::string_view in) {
  const size_t old = line_.size();
  line_.append(in.data(), in.size());
  // The head ends at the first empty line; look only where a new one can be.
  const size_t from = old >= 3 ? old - 3 : 0;
  size_t end = line_.find("\r\n\r\n", from);
  size_t terminator = 4;
  const size_t lf_end = line_.find("\n\n", from);
  if (lf_end != std::string::npos && (end == std::string::npos || lf_end < end)) {
    end = lf_end;
    terminator = 2;
  }
  if (end == std::string::npos) {
    if (line_.size() > max_head_bytes_) {
      return BadResponse(absl::StrCat("response headers larger than ", max_head_bytes_, " bytes"));
    }
    return in.size();
  }
  if (end > max_head_bytes_) {
    return BadResponse(absl::StrCat("response headers larger than ", max_head_bytes_, " bytes"));
  }
  const size_t used = end + terminator - old;
  absl::StatusOr<ResponseHead> head = ParseResponseHead(absl::string_view(line_).substr(0, end));
  line_.clear();
  if (!head.ok()) return head.status();
  if (head->status >= 100 && head->status < 200) {
    // 100 Continue and friends precede the real response; 101 would change protocols.
    if (head->status == 101) return BadResponse("unexpected 101 Switching Protocols");
    return used;
  }
  head_ = *std::move(head);
  absl::Status body = StartBody();
  if (!body.ok()) return body;
  return used;
}

absl::Status ResponseParser::StartBody() {
  bool close = false, keep_alive_token = false;
  for (absl::string_view token : absl::StrSplit(head_.Header("connection"), ',')) {
    const std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(token));
    close = close || t == "close";
    keep_alive_token = keep_alive_token || t == "keep-alive";
  }
  keep_alive_ = !close && (head_.version_minor >= 1 || keep_alive_token);

  if (head_request_ || head_.status == 204 || head_.status == 304) {
    framing_ = BodyFraming::kNone;
    state_ = State::kDone;
    return absl::OkStatus();
  }
  const std::string transfer_encoding = head_.Header("transfer-encoding");
  const std::string content_length = head_.Header("content-length");
  if (!transfer_encoding.empty()) {
    if (absl::AsciiStrToLower(absl::StripAsciiWhitespace(transfer_encoding)) != "chunked") {
      return BadResponse(absl::StrCat("unsupported Transfer-Encoding ", Quote(transfer_encoding)));
    }
    // Both framings at once is how request smuggling starts: read this response
    // by the chunks, then close.
    if (!content_length.empty()) keep_alive_ = false;
    framing_ = BodyFraming::kChunked;
    state_ = State::kChunkSize;
    return absl::OkStatus();
  }
  if (!content_length.empty()) {
    // Repeated fields must agree ("12, 12").
    bool first = true;
    for (absl::string_view value : absl::StrSplit(content_length, ',')) {
      value = absl::StripAsciiWhitespace(value);
      uint64_t n = 0;
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), absl::ascii_isdigit) ||
          !absl::SimpleAtoi(value, &n) || (!first && n != remaining_)) {
        return BadResponse(absl::StrCat("bad Content-Length ", Quote(content_length)));
      }
      remaining_ = n;
      first = false;
    }
    framing_ = BodyFraming::kContentLength;
    state_ = remaining_ == 0 ? State::kDone : State::kLength;
    return absl::OkStatus();
  }
  framing_ = BodyFraming::kUntilClose;
  keep_alive_ = false;
  state_ = State::kUntilClose;
  return absl::OkStatus();
}

absl::StatusOr<size_t> ResponseParser::Feed(absl::string_view in, std::string* body) {
  size_t used = 0;
  if (!in.empty()) bytes_seen_ = true;
  while (used < in.size() && state_ != State::kDone) {
    const absl::string_view rest = in.substr(used);
    switch (state_) {
      case State::kHead: {
        absl::StatusOr<size_t> n = FeedHead(rest);
        if (!n.ok()) return n.status();
        used += *n;
        break;
      }
      case State::kLength:
      case State::kChunkData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
        body->append(rest.data(), take);
        remaining_ -= take;
        used += take;
        if (remaining_ == 0) {
          state_ = state_ == State::kLength ? State::kDone : State::kChunkDataEnd;
        }
        break;
      }
      case State::kUntilClose:
        body->append(rest.data(), rest.size());
        used = in.size();
        break;
      case State::kChunkDataEnd: {
        // CRLF (or a bare LF) after the chunk's data.
        const char c = rest.front();
        ++used;
        if (c == '\n') {
          line_.clear();
          state_ = State::kChunkSize;
        } else if (c == '\r' && line_.empty()) {
          line_ = "\r";
        } else {
          return BadResponse("chunked body: chunk data not followed by CRLF");
        }
        break;
      }
      case State::kChunkSize:
      case State::kTrailers: {
        const size_t nl = rest.find('\n');
        const size_t take = nl == absl::string_view::npos ? rest.size() : nl;
        line_.append(rest.data(), take);
        used += nl == absl::string_view::npos ? take : take + 1;
        const size_t limit = state_ == State::kChunkSize ? kMaxChunkLineBytes : max_head_bytes_;
        if (line_.size() > limit) {
          return BadResponse(state_ == State::kChunkSize ? "chunked body: chunk size line too long"
                                                         : "chunked body: trailers too large");
        }
        if (nl == absl::string_view::npos) break;
        const absl::string_view line = StripCr(line_);
        if (state_ == State::kTrailers) {
          // Trailer fields are ignored; an empty line ends the body.
          if (line.empty()) state_ = State::kDone;
          remaining_ += line_.size();
          if (remaining_ > max_head_bytes_) return BadResponse("chunked body: trailers too large");
          line_.clear();
          break;
        }
        uint64_t size = 0;
        size_t digits = 0;
        while (digits < line.size() &&
               absl::ascii_isxdigit(static_cast<unsigned char>(line[digits]))) {
          if (size >> 60 != 0) return BadResponse("chunked body: chunk size too large");
          const char h = absl::ascii_tolower(static_cast<unsigned char>(line[digits]));
          size = size * 16 + static_cast<uint64_t>(h <= '9' ? h - '0' : h - 'a' + 10);
          ++digits;
        }
        absl::string_view after = absl::StripLeadingAsciiWhitespace(line.substr(digits));
        if (digits == 0 || (!after.empty() && after.front() != ';')) {
          return BadResponse(absl::StrCat("chunked body: malformed chunk size line ", Quote(line)));
        }
        line_.clear();
        remaining_ = size;
        state_ = size == 0 ? State::kTrailers : State::kChunkData;
        break;
      }
      case State::kDone:
        break;
    }
  }
  // Bytes after the response: the server is out of step with us (or smuggling).
  if (used < in.size()) trailing_ = true;
  return used;
}

absl::Status ResponseParser::Eof() {
  switch (state_) {
    case State::kDone:
      return absl::OkStatus();
    case State::kUntilClose:
      state_ = State::kDone;
      return absl::OkStatus();
    case State::kHead:
      if (!bytes_seen_) return absl::UnavailableError("empty reply from server");
      return absl::UnavailableError("connection closed in the middle of the response headers");
    case State::kLength:
      return absl::UnavailableError(
          absl::StrCat("transfer closed with ", remaining_, " bytes of the body outstanding"));
    default:
      return absl::UnavailableError("transfer closed in the middle of a chunked body");
  }
}

struct GzipDecoder::State {
  z_stream z{};
  bool initialized = false;
  bool ended = false;
};

GzipDecoder::GzipDecoder() : state_(std::make_unique<State>()) {
  // 16 + MAX_WBITS: a gzip wrapper, not zlib's.
  state_->initialized = inflateInit2(&state_->z, 16 + MAX_WBITS) == Z_OK;
}

GzipDecoder::~GzipDecoder() {
  if (state_->initialized) inflateEnd(&state_->z);
}

absl::Status GzipDecoder::Decode(absl::string_view in, std::string* out) {
  if (!state_->initialized) return absl::InternalError("gzip body: zlib did not initialise");
  if (in.empty()) return absl::OkStatus();
  if (state_->ended) return absl::InvalidArgumentError("gzip body: data after its end");
  z_stream& z = state_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[16384];
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    const int rc = inflate(&z, Z_NO_FLUSH);
    out->append(buf, sizeof(buf) - z.avail_out);
    if (rc == Z_STREAM_END) {
      state_->ended = true;
      if (z.avail_in != 0) return absl::InvalidArgumentError("gzip body: data after its end");
      return absl::OkStatus();
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return absl::InvalidArgumentError(
          absl::StrCat("gzip body: corrupt (", z.msg != nullptr ? z.msg : "zlib error", ")"));
    }
    if (z.avail_in == 0 && z.avail_out != 0) return absl::OkStatus();
    if (rc == Z_BUF_ERROR && z.avail_out != 0) {
      return absl::InvalidArgumentError("gzip body: corrupt (no progress)");
    }
  }
}

absl::Status GzipDecoder::Finish() const {
  if (!state_->ended && state_->z.total_in != 0) {
    return absl::InvalidArgumentError("gzip body: ends early");
  }
  return absl::OkStatus();
}

bool LineSplitter::Feed(absl::string_view data, const LineFn& on_line) {
  if (too_long_) return false;
  while (!data.empty()) {
    const size_t nl = data.find('\n');
    const size_t length = nl == absl::string_view::npos ? data.size() : nl;
    if (partial_.size() + length > max_line_bytes_) {
      too_long_ = true;
      partial_.clear();
      partial_.shrink_to_fit();
      return false;
    }
    if (nl == absl::string_view::npos) {
      partial_.append(data.data(), data.size());
      return true;
    }
    absl::string_view line;
    if (partial_.empty()) {
      line = data.substr(0, nl);
    } else {
      partial_.append(data.data(), nl);
      line = partial_;
    }
    line = StripCr(line);
    const bool keep_going = line.empty() || !on_line || on_line(line);
    partial_.clear();
    data.remove_prefix(nl + 1);
    if (!keep_going) return false;
  }
  return true;
}

bool LineSplitter::Flush(const LineFn& on_line) {
  if (too_long_) return false;
  if (partial_.empty()) return true;
  const std::string line = std::move(partial_);
  partial_.clear();
  const absl::string_view stripped = StripCr(line);
  return stripped.empty() || !on_line || on_line(stripped);
}

}  // namespace weft::kubeprism
