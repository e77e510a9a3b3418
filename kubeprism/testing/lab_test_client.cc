#include "kubeprism/testing/lab_test_client.h"

#include <curl/curl.h>

#include <mutex>

namespace weft::kubeprism::testing {
namespace {

struct Sink {
  std::string* body;
  const std::function<bool(const std::string&)>* on_line;
  std::string pending;
  bool stopped = false;
};

size_t Write(char* data, size_t size, size_t n, void* user) {
  Sink* sink = static_cast<Sink*>(user);
  const size_t bytes = size * n;
  if (sink->on_line == nullptr) {
    sink->body->append(data, bytes);
    return bytes;
  }
  sink->pending.append(data, bytes);
  size_t nl;
  while ((nl = sink->pending.find('\n')) != std::string::npos) {
    std::string line = sink->pending.substr(0, nl);
    sink->pending.erase(0, nl + 1);
    sink->body->append(line).append("\n");
    if (!(*sink->on_line)(line)) {
      sink->stopped = true;
      return 0;  // aborts the transfer
    }
  }
  return bytes;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

void SetBlob(CURL* curl, CURLoption option, const std::string& pem) {
  curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
  curl_easy_setopt(curl, option, &blob);
}

}  // namespace

LabTestClient::LabTestClient(std::string base_url, std::string ca_pem)
    : base_url_(std::move(base_url)), ca_pem_(std::move(ca_pem)) {
  GlobalInit();
  curl_ = curl_easy_init();
}

LabTestClient::~LabTestClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

void LabTestClient::SetClientCert(std::string cert_pem, std::string key_pem) {
  cert_pem_ = std::move(cert_pem);
  key_pem_ = std::move(key_pem);
}

void LabTestClient::SetToken(std::string token) { token_ = std::move(token); }

std::string LabTestClient::Escape(const std::string& value) {
  GlobalInit();
  char* escaped = curl_easy_escape(nullptr, value.c_str(), static_cast<int>(value.size()));
  std::string out = escaped ? escaped : "";
  curl_free(escaped);
  return out;
}

HttpResult LabTestClient::Get(const std::string& path) {
  return Perform("GET", path, "", "", nullptr, 60);
}
HttpResult LabTestClient::Post(const std::string& path, const std::string& body) {
  return Perform("POST", path, body, "application/json", nullptr, 60);
}
HttpResult LabTestClient::Put(const std::string& path, const std::string& body) {
  return Perform("PUT", path, body, "application/json", nullptr, 60);
}
HttpResult LabTestClient::Patch(const std::string& path, const std::string& body,
                                const std::string& content_type) {
  return Perform("PATCH", path, body, content_type, nullptr, 60);
}
HttpResult LabTestClient::Delete(const std::string& path, const std::string& body) {
  return Perform("DELETE", path, body, body.empty() ? "" : "application/json", nullptr, 60);
}
HttpResult LabTestClient::Watch(const std::string& path,
                                const std::function<bool(const std::string&)>& on_line,
                                long max_seconds) {
  return Perform("GET", path, "", "", &on_line, max_seconds);
}

HttpResult LabTestClient::Perform(const std::string& method, const std::string& path,
                                  const std::string& body, const std::string& content_type,
                                  const std::function<bool(const std::string&)>* on_line,
                                  long max_seconds) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);
  HttpResult result;
  Sink sink{&result.body, on_line, "", false};
  const std::string url = base_url_ + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, max_seconds);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  SetBlob(curl, CURLOPT_CAINFO_BLOB, ca_pem_);
  if (!cert_pem_.empty()) {
    SetBlob(curl, CURLOPT_SSLCERT_BLOB, cert_pem_);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    SetBlob(curl, CURLOPT_SSLKEY_BLOB, key_pem_);
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
  }
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");
  if (!token_.empty()) {
    headers = curl_slist_append(headers, ("Authorization: Bearer " + token_).c_str());
  }
  if (!content_type.empty()) {
    headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  const CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.code);
  if (rc != CURLE_OK && !(sink.stopped && rc == CURLE_WRITE_ERROR)) {
    result.error = curl_easy_strerror(rc);
  }
  return result;
}

}  // namespace weft::kubeprism::testing
