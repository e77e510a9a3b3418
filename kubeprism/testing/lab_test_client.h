// A blocking libcurl client for tests against the lab API server: plain requests
// and line-by-line watch streams, with client-certificate or bearer-token auth.
#ifndef WEFT_KUBEPRISM_TESTING_LAB_TEST_CLIENT_H_
#define WEFT_KUBEPRISM_TESTING_LAB_TEST_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

namespace weft::kubeprism::testing {

struct HttpResult {
  long code = 0;  // 0 when the request failed below HTTP (TLS, connection)
  std::string body;
  std::string error;  // libcurl's message when code == 0
};

class LabTestClient {
 public:
  LabTestClient(std::string base_url, std::string ca_pem);
  ~LabTestClient();
  LabTestClient(const LabTestClient&) = delete;
  LabTestClient& operator=(const LabTestClient&) = delete;

  void SetClientCert(std::string cert_pem, std::string key_pem);
  void SetToken(std::string token);

  HttpResult Get(const std::string& path);
  HttpResult Post(const std::string& path, const std::string& body);
  HttpResult Put(const std::string& path, const std::string& body);
  HttpResult Patch(const std::string& path, const std::string& body,
                   const std::string& content_type = "application/merge-patch+json");
  HttpResult Delete(const std::string& path, const std::string& body = "");

  // Streams `path` and calls `on_line` for each complete line; returning false
  // stops the watch. Returns when the server ends the stream, the callback stops
  // it, or after `max_seconds`.
  HttpResult Watch(const std::string& path, const std::function<bool(const std::string&)>& on_line,
                   long max_seconds = 30);

  // Percent-encodes a query value.
  static std::string Escape(const std::string& value);

 private:
  HttpResult Perform(const std::string& method, const std::string& path, const std::string& body,
                     const std::string& content_type,
                     const std::function<bool(const std::string&)>* on_line, long max_seconds);

  std::string base_url_;
  std::string ca_pem_;
  std::string cert_pem_;
  std::string key_pem_;
  std::string token_;
  void* curl_ = nullptr;  // CURL*, reused so connections are kept alive
};

}  // namespace weft::kubeprism::testing

#endif  // WEFT_KUBEPRISM_TESTING_LAB_TEST_CLIENT_H_
