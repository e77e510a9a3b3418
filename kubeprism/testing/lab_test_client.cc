#include "kubeprism/testing/lab_test_client.h"

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "kubeprism/http_transport.h"
#include "kubeprism/transport.h"

namespace weft::kubeprism::testing {

LabTestClient::LabTestClient(std::string base_url, std::string ca_pem)
    : base_url_(std::move(base_url)), ca_pem_(std::move(ca_pem)) {}

LabTestClient::~LabTestClient() = default;

void LabTestClient::SetClientCert(std::string cert_pem, std::string key_pem) {
  cert_pem_ = std::move(cert_pem);
  key_pem_ = std::move(key_pem);
  transport_.reset();
}

void LabTestClient::SetToken(std::string token) {
  token_ = std::move(token);
  transport_.reset();
}

std::string LabTestClient::Escape(const std::string& value) { return EscapeQueryComponent(value); }

HttpTransport* LabTestClient::Transport(std::string* error) {
  if (transport_ == nullptr) {
    ClientConfig config;
    config.server = base_url_;
    config.ca_pem = ca_pem_;
    config.client_cert_pem = cert_pem_;
    config.client_key_pem = key_pem_;
    config.token = token_;
    config.connect_timeout = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<HttpTransport>> created = HttpTransport::Create(config);
    if (!created.ok()) {
      *error = std::string(created.status().message());
      return nullptr;
    }
    transport_ = *std::move(created);
  }
  return transport_.get();
}

HttpResult LabTestClient::Get(const std::string& path) { return Perform("GET", path, "", ""); }
HttpResult LabTestClient::Post(const std::string& path, const std::string& body) {
  return Perform("POST", path, body, "application/json");
}
HttpResult LabTestClient::Put(const std::string& path, const std::string& body) {
  return Perform("PUT", path, body, "application/json");
}
HttpResult LabTestClient::Patch(const std::string& path, const std::string& body,
                                const std::string& content_type) {
  return Perform("PATCH", path, body, content_type);
}
HttpResult LabTestClient::Delete(const std::string& path, const std::string& body) {
  return Perform("DELETE", path, body, body.empty() ? "" : "application/json");
}

HttpResult LabTestClient::Perform(const std::string& method, const std::string& path,
                                  const std::string& body, const std::string& content_type) {
  HttpResult result;
  HttpTransport* transport = Transport(&result.error);
  if (transport == nullptr) return result;
  Request request;
  request.verb = method;
  request.path = path;
  request.body = body;
  request.content_type = content_type;
  request.timeout = absl::Seconds(60);
  absl::StatusOr<Response> response = transport->Do(request);
  if (!response.ok()) {
    result.error = std::string(response.status().message());
    return result;
  }
  result.code = response->status;
  result.body = std::move(response->body);
  return result;
}

HttpResult LabTestClient::Watch(const std::string& path,
                                const std::function<bool(const std::string&)>& on_line,
                                long max_seconds) {
  HttpResult result;
  HttpTransport* transport = Transport(&result.error);
  if (transport == nullptr) return result;
  Request request;
  request.path = path;
  request.timeout = absl::Seconds(max_seconds);  // also the longest silence
  StreamHandlers handlers;
  handlers.on_status = [&](int status) {
    result.code = status;
    return true;
  };
  handlers.on_line = [&](absl::string_view line) {
    result.body.append(line.data(), line.size()).append("\n");
    return on_line(std::string(line));
  };
  CancelToken cancel;
  absl::Notification ended;
  bool timed_out = false;
  std::thread timer([&] {
    if (!ended.WaitForNotificationWithTimeout(absl::Seconds(max_seconds))) {
      timed_out = true;
      cancel.Cancel();
    }
  });
  absl::StatusOr<StreamResult> stream = transport->Stream(request, handlers, &cancel);
  ended.Notify();
  timer.join();
  if (!stream.ok()) {
    result.error = std::string(stream.status().message());
  } else if (timed_out) {
    result.error = absl::StrCat("watch still open after ", max_seconds, " s");
  } else if (stream->status < 200 || stream->status >= 300) {
    result.body = stream->error_body;
  }
  return result;
}

}  // namespace weft::kubeprism::testing
