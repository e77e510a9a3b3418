// Routes kube-apiserver REST paths to the object store: discovery, list (paged),
// watch (chunked, with bookmarks), get, create, update, patch, delete, after
// authentication and authorization.
#ifndef WEFT_KUBEPRISM_TESTING_API_HANDLER_H_
#define WEFT_KUBEPRISM_TESTING_API_HANDLER_H_

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "kubeprism/testing/https_server.h"
#include "kubeprism/testing/kube_status.h"
#include "kubeprism/testing/lab_auth.h"
#include "kubeprism/testing/object_store.h"

namespace weft::kubeprism::testing {

class ApiHandler {
 public:
  ApiHandler(ObjectStore* store, const Authenticator* authenticator,
             const Authorizer* authorizer, int bookmark_interval_ms)
      : store_(store),
        authenticator_(authenticator),
        authorizer_(authorizer),
        bookmark_interval_ms_(bookmark_interval_ms) {}

  void set_port(int port) { port_ = port; }
  // A hidden resource is served as if it did not exist (404, absent from discovery).
  void SetHidden(int resource, bool hidden);
  void Handle(const HttpRequest& request, HttpResponder& responder) const;

 private:
  struct Route {
    int resource = -1;
    std::string ns;
    std::string name;
    std::string subresource;
  };

  void ServeDiscovery(const std::vector<std::string>& segments, HttpResponder& out) const;
  void List(const Route& route, const HttpRequest& request, HttpResponder& out) const;
  void Watch(const Route& route, const HttpRequest& request, HttpResponder& out) const;
  void Get(const Route& route, HttpResponder& out) const;
  void Create(const Route& route, const HttpRequest& request, HttpResponder& out) const;
  void Update(const Route& route, const HttpRequest& request, HttpResponder& out) const;
  void Patch(const Route& route, const HttpRequest& request, HttpResponder& out) const;
  void Delete(const Route& route, const HttpRequest& request, HttpResponder& out) const;

  bool IsHidden(int resource) const;
  // The served, visible resources.
  std::vector<LabResource> Visible() const;

  const LabResource& resource(const Route& route) const {
    return store_->resources()[route.resource];
  }

  ObjectStore* store_;
  const Authenticator* authenticator_;
  const Authorizer* authorizer_;
  const int bookmark_interval_ms_;
  std::atomic<int> port_{0};
  mutable std::mutex hidden_mu_;
  std::set<int> hidden_;
};

// Sends `error` as a Status object with its HTTP code.
void SendError(HttpResponder& out, const ApiError& error);

}  // namespace weft::kubeprism::testing

#endif  // WEFT_KUBEPRISM_TESTING_API_HANDLER_H_
