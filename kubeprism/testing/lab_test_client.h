// A blocking client for tests against the lab API server: plain requests and
// line-by-line watch streams, with client-certificate or bearer-token auth. It runs
// on the agent's own HttpTransport, so every lab test also exercises that.
#ifndef WEFT_KUBEPRISM_TESTING_LAB_TEST_CLIENT_H_
#define WEFT_KUBEPRISM_TESTING_LAB_TEST_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

namespace weft::kubeprism {
class HttpTransport;
}  // namespace weft::kubeprism

namespace weft::kubeprism::testing {

struct HttpResult {
  long code = 0;  // 0 when the request failed below HTTP (TLS, connection)
  std::string body;
  std::string error;  // the transport's message when the request or the stream failed
};

class LabTestClient {
 public:
  LabTestClient(std::string base_url, std::string ca_pem);
  ~LabTestClient();
  LabTestClient(const LabTestClient&) = delete;
  LabTestClient& operator=(const LabTestClient&) = delete;

  void SetClientCert(std::string cert_pem, std::string key_pem);
  void SetToken(std::string token);

  // `path` may carry a query string, already escaped.
  HttpResult Get(const std::string& path);
  HttpResult Post(const std::string& path, const std::string& body);
  HttpResult Put(const std::string& path, const std::string& body);
  HttpResult Patch(const std::string& path, const std::string& body,
                   const std::string& content_type = "application/merge-patch+json");
  HttpResult Delete(const std::string& path, const std::string& body = "");

  // Streams `path` and calls `on_line` for each line of a 2xx body; returning
  // false stops the watch. Returns when the server ends the stream, the callback
  // stops it, or after `max_seconds` (an error). A non-2xx body is in `body`.
  HttpResult Watch(const std::string& path, const std::function<bool(const std::string&)>& on_line,
                   long max_seconds = 30);

  // Percent-encodes a query value (RFC 3986 unreserved characters stay).
  static std::string Escape(const std::string& value);

 private:
  HttpResult Perform(const std::string& method, const std::string& path, const std::string& body,
                     const std::string& content_type);
  // The transport for the current credentials (kept, so connections are kept alive).
  HttpTransport* Transport(std::string* error);

  std::string base_url_;
  std::string ca_pem_;
  std::string cert_pem_;
  std::string key_pem_;
  std::string token_;
  std::unique_ptr<HttpTransport> transport_;
};

}  // namespace weft::kubeprism::testing

#endif  // WEFT_KUBEPRISM_TESTING_LAB_TEST_CLIENT_H_
