#include "kubeprism/http_codec.h"

#include <zlib.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace weft::kubeprism {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// ---- server URLs ----

TEST(ParseServerUrlTest, HostPortAndBasePath) {
  auto kubeprism = ParseServerUrl("https://127.0.0.1:7445");
  ASSERT_TRUE(kubeprism.ok()) << kubeprism.status();
  EXPECT_EQ(kubeprism->host, "127.0.0.1");
  EXPECT_EQ(kubeprism->port, 7445);
  EXPECT_EQ(kubeprism->base_path, "");

  auto named = ParseServerUrl("HTTPS://kube.example/");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->host, "kube.example");
  EXPECT_EQ(named->port, 443);
  EXPECT_EQ(named->base_path, "");

  auto v6 = ParseServerUrl("https://[::1]:6443/k8s/clusters/c-1/");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "[::1]");
  EXPECT_EQ(v6->BareHost(), "::1");
  EXPECT_EQ(v6->port, 6443);
  EXPECT_EQ(v6->base_path, "/k8s/clusters/c-1");
}

TEST(ParseServerUrlTest, RejectsWhatItCannotServe) {
  EXPECT_THAT(ParseServerUrl("http://10.0.0.1:6443").status().message(),
              HasSubstr("server \"http://10.0.0.1:6443\": only https:// is supported"));
  for (const char* bad : {"127.0.0.1:6443", "https://", "https://[::1", "https://[10.0.0.1]:1",
                          "https://a b", "://x"}) {
    EXPECT_THAT(ParseServerUrl(bad).status().message(), HasSubstr("not a URL")) << bad;
  }
  for (const char* bad :
       {"https://h:0", "https://h:65536", "https://h:x", "https://h:", "https://h:+1"}) {
    EXPECT_THAT(ParseServerUrl(bad).status().message(), HasSubstr("bad port")) << bad;
  }
  EXPECT_THAT(ParseServerUrl("https://user:pw@h").status().message(), HasSubstr("user info"));
  EXPECT_THAT(ParseServerUrl("https://h/x?y=1").status().message(), HasSubstr("no query"));
}

TEST(ParseServerUrlTest, ErrorsDoNotRepeatUserInfo) {
  const std::string user_info =
      std::string(ParseServerUrl("https://admin:hunter2@10.0.0.1:6443").status().message());
  EXPECT_EQ(user_info,
            "server \"https://***@10.0.0.1:6443\": user info in the URL is not supported (use a "
            "token or a client certificate)");
  // Where the user info ends is unclear when the password holds a '/', '?', '#' or
  // '@', or the scheme is missing or wrong: nothing up to the last '@' is shown.
  for (const char* bad :
       {"https://admin:hun/ter2@h", "https://admin:hun:ter2@h:1", "https://admin:hun?ter2@h",
        "https://admin:hun#ter2@h", "https://admin:hun@ter2@h", "admin:hunter2@h",
        "http://admin:hunter2@h", "https://admin:hun/ter2@h/x?y=1"}) {
    const absl::Status s = ParseServerUrl(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), Not(HasSubstr("hun"))) << bad << ": " << s.message();
    EXPECT_THAT(s.message(), Not(HasSubstr("ter2"))) << bad << ": " << s.message();
    EXPECT_THAT(s.message(), Not(HasSubstr("admin"))) << bad << ": " << s.message();
  }
  // A path may hold '@'.
  auto path = ParseServerUrl("https://h/@x");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(path->base_path, "/@x");
}

TEST(HostHeaderTest, LeavesOutTheDefaultPort) {
  EXPECT_EQ(HostHeader("kube.example", 443), "kube.example");
  EXPECT_EQ(HostHeader("[::1]", 6443), "[::1]:6443");
  EXPECT_TRUE(IsIpLiteral("10.0.0.1"));
  EXPECT_TRUE(IsIpLiteral("fd00::1"));
  EXPECT_FALSE(IsIpLiteral("localhost"));
  EXPECT_FALSE(IsIpLiteral("[::1]"));
}

// ---- requests ----

TEST(SerializeRequestTest, RequestLineHeadersAndBody) {
  auto bytes = SerializeRequest("POST", "/api/v1/namespaces/x/services?a=b",
                                {{"Host", "127.0.0.1:7445"}, {"Content-Length", "2"}}, "{}");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes,
            "POST /api/v1/namespaces/x/services?a=b HTTP/1.1\r\nHost: 127.0.0.1:7445\r\n"
            "Content-Length: 2\r\n\r\n{}");
}

TEST(SerializeRequestTest, LineBreaksCannotInjectHeadersAndSecretsAreNotQuoted) {
  auto injected =
      SerializeRequest("GET", "/api", {{"Authorization", "Bearer s3cret\r\nX-Evil: 1"}}, "");
  ASSERT_FALSE(injected.ok());
  EXPECT_THAT(injected.status().message(), HasSubstr("header Authorization contains a line break"));
  EXPECT_THAT(injected.status().message(), Not(HasSubstr("s3cret")));
  EXPECT_FALSE(SerializeRequest("GET", "/a b", {}, "").ok());
  EXPECT_FALSE(SerializeRequest("GET", "/a\r\nX: y", {}, "").ok());
  EXPECT_FALSE(SerializeRequest("GET", "api", {}, "").ok());
  EXPECT_FALSE(SerializeRequest("GE T", "/", {}, "").ok());
  EXPECT_FALSE(SerializeRequest("GET", "/", {{"Bad Name", "x"}}, "").ok());
}

// ---- response heads ----

TEST(ParseResponseHeadTest, StatusReasonAndHeaders) {
  auto head = ParseResponseHead(
      "HTTP/1.1 404 Not Found\r\nContent-Type:  application/json \r\nWarning: a\r\n"
      "warning: b\r\nX-Empty:\r\n");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->version_minor, 1);
  EXPECT_EQ(head->status, 404);
  EXPECT_EQ(head->reason, "Not Found");
  EXPECT_EQ(head->Header("content-type"), "application/json");
  EXPECT_EQ(head->Header("warning"), "a, b");
  EXPECT_EQ(head->Header("x-empty"), "");
  EXPECT_EQ(head->Header("absent"), "");

  auto bare = ParseResponseHead("HTTP/1.0 200");
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ(bare->version_minor, 0);
  EXPECT_EQ(bare->status, 200);
  EXPECT_EQ(bare->reason, "");
}

TEST(ParseResponseHeadTest, GarbageStatusLines) {
  for (const char* bad : {"", "garbage", "SSH-2.0-OpenSSH_9.2", "HTTP/2 200 OK", "HTTP/1.1 20 OK",
                          "HTTP/1.1 2000 OK", "HTTP/1.1 OK 200", "http/1.1 200 OK",
                          "HTTP/1.1  200 OK", "HTTP/1.1 099 Low", "ICY 200 OK"}) {
    auto head = ParseResponseHead(bad);
    ASSERT_FALSE(head.ok()) << bad;
    EXPECT_THAT(head.status().message(), HasSubstr("malformed HTTP status line")) << bad;
  }
  // Binary bytes are quoted escaped, not raw.
  EXPECT_THAT(ParseResponseHead(std::string("\x16\x03\x01\x00", 4)).status().message(),
              HasSubstr("\\x16\\x03\\x01\\x00"));
}

TEST(ParseResponseHeadTest, MalformedHeaderLines) {
  EXPECT_THAT(ParseResponseHead("HTTP/1.1 200 OK\r\nno colon here").status().message(),
              HasSubstr("malformed header line \"no colon here\""));
  EXPECT_THAT(ParseResponseHead("HTTP/1.1 200 OK\r\nBad Name: x").status().message(),
              HasSubstr("malformed header line"));
  EXPECT_THAT(ParseResponseHead("HTTP/1.1 200 OK\r\n: no name").status().message(),
              HasSubstr("malformed header line"));
  EXPECT_THAT(ParseResponseHead("HTTP/1.1 200 OK\r\nA: b\r\n  folded").status().message(),
              HasSubstr("obsolete folded header line"));
}

// ---- whole responses ----

// Feeds `bytes` in pieces of `piece` bytes; the body, or the first error.
absl::StatusOr<std::string> FeedAll(ResponseParser& parser, absl::string_view bytes, size_t piece,
                                    size_t* consumed = nullptr) {
  std::string body;
  size_t used_total = 0;
  while (used_total < bytes.size() && !parser.done()) {
    absl::string_view in = bytes.substr(used_total, piece);
    absl::StatusOr<size_t> used = parser.Feed(in, &body);
    if (!used.ok()) return used.status();
    used_total += *used;
    if (*used < in.size()) break;
  }
  if (consumed != nullptr) *consumed = used_total;
  return body;
}

TEST(ResponseParserTest, ContentLengthBodyInAnyPieces) {
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
  for (size_t piece : {size_t{1}, size_t{3}, size_t{17}, response.size()}) {
    ResponseParser parser;
    auto body = FeedAll(parser, response, piece);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(*body, "hello world") << piece;
    EXPECT_TRUE(parser.done());
    EXPECT_EQ(parser.framing(), BodyFraming::kContentLength);
    EXPECT_TRUE(parser.reusable());
  }
}

TEST(ResponseParserTest, StopsAtTheEndOfTheResponse) {
  const std::string two = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n";
  ResponseParser parser;
  std::string body;
  auto used = parser.Feed(two, &body);
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(*used, two.find("okHTTP") + 2);
  EXPECT_EQ(body, "ok");
  EXPECT_TRUE(parser.done());
  // The server is out of step: the connection is not reused.
  EXPECT_FALSE(parser.reusable());
  ResponseParser exact;
  ASSERT_TRUE(exact.Feed(two.substr(0, *used), &body).ok());
  EXPECT_TRUE(exact.reusable());
  auto after = exact.Feed("x", &body);  // a byte after a complete response
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, 0u);
  EXPECT_FALSE(exact.reusable());
}

TEST(ResponseParserTest, ChunkedBodyWithExtensionsAndTrailers) {
  const std::string response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nWiki\r\n5;name=value\r\npedia\r\nd \r\n in\r\n\r\nchunks\r\n0\r\n"
      "Expires: never\r\n\r\n";
  for (size_t piece : {size_t{1}, size_t{2}, size_t{7}, response.size()}) {
    ResponseParser parser;
    auto body = FeedAll(parser, response, piece);
    ASSERT_TRUE(body.ok()) << body.status() << " piece " << piece;
    EXPECT_EQ(*body, "Wikipedia in\r\n\r\nchunks");
    EXPECT_TRUE(parser.done());
    EXPECT_EQ(parser.framing(), BodyFraming::kChunked);
    EXPECT_TRUE(parser.reusable());
  }
}

TEST(ResponseParserTest, BareLineFeedsAreAccepted) {
  ResponseParser parser;
  auto body = FeedAll(parser, "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nhi\n0\n\n", 1);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "hi");
  EXPECT_TRUE(parser.done());
}

TEST(ResponseParserTest, TruncatedBodiesAreErrorsAtEof) {
  {
    ResponseParser parser;
    auto body =
        FeedAll(parser, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01234", 4);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(*body, "01234");  // what arrived is delivered
    absl::Status eof = parser.Eof();
    EXPECT_EQ(eof.code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(eof.message(), HasSubstr("transfer closed in the middle of a chunked body"));
  }
  {
    // The last chunk never came.
    ResponseParser parser;
    ASSERT_TRUE(
        FeedAll(parser, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", 5)
            .ok());
    EXPECT_FALSE(parser.Eof().ok());
  }
  {
    ResponseParser parser;
    ASSERT_TRUE(FeedAll(parser, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456", 100).ok());
    EXPECT_THAT(parser.Eof().message(),
                HasSubstr("transfer closed with 3 bytes of the body outstanding"));
  }
  {
    ResponseParser parser;
    ASSERT_TRUE(FeedAll(parser, "HTTP/1.1 200 OK\r\nContent-Le", 100).ok());
    EXPECT_THAT(parser.Eof().message(), HasSubstr("in the middle of the response headers"));
  }
  ResponseParser nothing;
  EXPECT_THAT(nothing.Eof().message(), HasSubstr("empty reply from server"));
}

TEST(ResponseParserTest, MalformedChunks) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  struct Case {
    std::string chunks;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {"zz\r\n", "malformed chunk size line \"zz\""},
           {"\r\n", "malformed chunk size line"},
           {"4 x\r\nabcd\r\n", "malformed chunk size line"},
           {"-1\r\n", "malformed chunk size line"},
           {"fffffffffffffffff\r\n", "chunk size too large"},
           {std::string(5000, '0') + "1\r\n", "chunk size line too long"},
           {"3\r\nabcX\r\n", "chunk data not followed by CRLF"},
           {"3\r\nabc\r\r\n", "chunk data not followed by CRLF"},
       }) {
    ResponseParser parser;
    auto body = FeedAll(parser, head + c.chunks, 3);
    ASSERT_FALSE(body.ok()) << c.chunks.substr(0, 20);
    EXPECT_EQ(body.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(body.status().message(), HasSubstr(c.error)) << c.chunks.substr(0, 20);
  }
}

TEST(ResponseParserTest, OversizedHeadersAreRefused) {
  std::string response = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(kMaxResponseHeadBytes, 'a');
  ResponseParser parser;
  auto body = FeedAll(parser, response, 4096);
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.status().message(), HasSubstr("response headers larger than 65536 bytes"));

  // Also when the end of the head arrives in the same piece.
  ResponseParser small(false, 64);
  auto all_at_once =
      FeedAll(small, "HTTP/1.1 200 OK\r\nX-Big: " + std::string(100, 'a') + "\r\n\r\n", 1000);
  EXPECT_THAT(all_at_once.status().message(), HasSubstr("response headers larger than 64 bytes"));
  ResponseParser fits(false, 64);
  EXPECT_TRUE(FeedAll(fits, "HTTP/1.1 204 No Content\r\nA: b\r\n\r\n", 1).ok());
}

TEST(ResponseParserTest, InterimResponsesAreSkipped) {
  ResponseParser parser;
  auto body = FeedAll(parser,
                      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n"
                      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
                      5);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(parser.head().status, 201);
  EXPECT_EQ(*body, "{}");

  ResponseParser upgrade;
  EXPECT_THAT(FeedAll(upgrade, "HTTP/1.1 101 Switching Protocols\r\n\r\n", 100).status().message(),
              HasSubstr("unexpected 101"));
}

TEST(ResponseParserTest, ResponsesWithoutBodies) {
  ResponseParser head_request(/*head_request=*/true);
  ASSERT_TRUE(FeedAll(head_request, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 100).ok());
  EXPECT_TRUE(head_request.done());
  EXPECT_EQ(head_request.framing(), BodyFraming::kNone);
  EXPECT_TRUE(head_request.reusable());

  for (const char* response :
       {"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 304 Not Modified\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}) {
    ResponseParser parser;
    ASSERT_TRUE(FeedAll(parser, response, 100).ok());
    EXPECT_TRUE(parser.done()) << response;
    EXPECT_TRUE(parser.reusable()) << response;
  }
}

TEST(ResponseParserTest, BodyUntilCloseIsNeverReusable) {
  ResponseParser parser;
  auto body = FeedAll(parser, "HTTP/1.1 200 OK\r\n\r\nall of it", 3);
  ASSERT_TRUE(body.ok());
  EXPECT_FALSE(parser.done());
  EXPECT_EQ(parser.framing(), BodyFraming::kUntilClose);
  EXPECT_TRUE(parser.Eof().ok());
  EXPECT_TRUE(parser.done());
  EXPECT_EQ(*body, "all of it");
  EXPECT_FALSE(parser.reusable());
}

TEST(ResponseParserTest, KeepAliveRules) {
  auto reusable = [](const std::string& response) {
    ResponseParser parser;
    EXPECT_TRUE(FeedAll(parser, response, 100).ok()) << response;
    return parser.reusable();
  };
  EXPECT_TRUE(reusable("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_FALSE(reusable("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_FALSE(
      reusable("HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_FALSE(reusable("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_TRUE(reusable("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"));
  // Both framings: read by the chunks, then close.
  ResponseParser both;
  auto body = FeedAll(both,
                      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "1\r\nx\r\n0\r\n\r\n",
                      100);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(*body, "x");
  EXPECT_TRUE(both.done());
  EXPECT_FALSE(both.reusable());
}

TEST(ResponseParserTest, BadFraming) {
  for (const char* bad : {"Content-Length: -1", "Content-Length: abc", "Content-Length: 12, 13",
                          "Content-Length: 1e3", "Content-Length: 99999999999999999999"}) {
    ResponseParser parser;
    auto body = FeedAll(parser, absl::StrCat("HTTP/1.1 200 OK\r\n", bad, "\r\n\r\n"), 100);
    EXPECT_THAT(body.status().message(), HasSubstr("bad Content-Length")) << bad;
  }
  ResponseParser same;
  auto body =
      FeedAll(same, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", 100);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "ok");

  ResponseParser gzip_te;
  EXPECT_THAT(FeedAll(gzip_te, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 100)
                  .status()
                  .message(),
              HasSubstr("unsupported Transfer-Encoding \"gzip, chunked\""));
}

// ---- gzip ----

std::string Gzip(const std::string& data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST(GzipDecoderTest, DecodesInPieces) {
  std::string original;
  for (int i = 0; i < 20000; ++i) absl::StrAppend(&original, "{\"line\":", i, "}\n");
  const std::string compressed = Gzip(original);
  ASSERT_LT(compressed.size(), original.size() / 4);
  GzipDecoder decoder;
  std::string out;
  for (size_t i = 0; i < compressed.size(); i += 1000) {
    ASSERT_TRUE(decoder.Decode(absl::string_view(compressed).substr(i, 1000), &out).ok());
  }
  EXPECT_TRUE(decoder.Finish().ok());
  EXPECT_EQ(out, original);
}

TEST(GzipDecoderTest, TruncatedCorruptAndTrailingData) {
  const std::string compressed = Gzip(std::string(10000, 'x'));
  {
    GzipDecoder decoder;
    std::string out;
    ASSERT_TRUE(
        decoder.Decode(absl::string_view(compressed).substr(0, compressed.size() - 4), &out).ok());
    EXPECT_THAT(decoder.Finish().message(), HasSubstr("ends early"));
  }
  {
    GzipDecoder decoder;
    std::string out;
    EXPECT_THAT(decoder.Decode("not gzip at all", &out).message(), HasSubstr("corrupt"));
  }
  {
    GzipDecoder decoder;
    std::string out;
    EXPECT_THAT(decoder.Decode(compressed + "junk", &out).message(),
                HasSubstr("data after its end"));
  }
}

TEST(GzipDecoderTest, NothingDecodedFinishesCleanly) {
  GzipDecoder decoder;
  std::string out;
  EXPECT_TRUE(decoder.Finish().ok());  // HEAD, 204, an empty body
  ASSERT_TRUE(decoder.Decode("", &out).ok());
  EXPECT_TRUE(decoder.Finish().ok());
  const std::string compressed = Gzip("x");
  ASSERT_TRUE(decoder.Decode(absl::string_view(compressed).substr(0, 3), &out).ok());
  EXPECT_THAT(decoder.Finish().message(), HasSubstr("ends early"));
}

// ---- lines ----

TEST(LineSplitterTest, LinesAcrossPiecesWithoutEmptyOnes) {
  LineSplitter splitter;
  std::vector<std::string> lines;
  auto collect = [&](absl::string_view line) {
    lines.emplace_back(line);
    return true;
  };
  EXPECT_TRUE(splitter.Feed("{\"a\":", collect));
  EXPECT_TRUE(splitter.Feed("1}\r\n\n{\"b\"", collect));
  EXPECT_TRUE(splitter.Feed(":2}\n\r\n{\"c\"", collect));
  EXPECT_THAT(lines, ElementsAre("{\"a\":1}", "{\"b\":2}"));
  EXPECT_TRUE(splitter.Flush(collect));
  EXPECT_THAT(lines, ElementsAre("{\"a\":1}", "{\"b\":2}", "{\"c\""));
  EXPECT_TRUE(splitter.Flush(collect));  // nothing left
  EXPECT_EQ(lines.size(), 3u);
}

TEST(LineSplitterTest, FalseStops) {
  LineSplitter splitter;
  int calls = 0;
  EXPECT_FALSE(splitter.Feed("a\nb\nc\n", [&](absl::string_view) { return ++calls < 2; }));
  EXPECT_EQ(calls, 2);
}

TEST(LineSplitterTest, LinesLongerThanTheLimitStopIt) {
  std::vector<std::string> lines;
  auto collect = [&](absl::string_view line) {
    lines.emplace_back(line);
    return true;
  };
  {
    LineSplitter splitter(8);
    EXPECT_EQ(splitter.max_line_bytes(), 8u);
    EXPECT_TRUE(splitter.Feed("12345678\n1234", collect));  // exactly the limit
    EXPECT_TRUE(splitter.Feed("5678", collect));
    EXPECT_FALSE(splitter.too_long());
    EXPECT_FALSE(splitter.Feed("9", collect));  // a partial line past it
    EXPECT_TRUE(splitter.too_long());
    EXPECT_FALSE(splitter.Feed("\nok\n", collect));  // nothing more is split
    EXPECT_FALSE(splitter.Flush(collect));
    EXPECT_THAT(lines, ElementsAre("12345678"));
  }
  {
    LineSplitter splitter(8);
    lines.clear();
    EXPECT_FALSE(splitter.Feed("a\n123456789\nb\n", collect));  // a whole line past it
    EXPECT_TRUE(splitter.too_long());
    EXPECT_THAT(lines, ElementsAre("a"));
  }
  EXPECT_FALSE(LineSplitter().too_long());
  EXPECT_EQ(LineSplitter().max_line_bytes(), kMaxStreamLineBytes);
}

}  // namespace
}  // namespace weft::kubeprism
