// Informer protocol tests against a scripted fake transport (no server, no threads
// other than the informer's own).
#include "kubeprism/informer.h"

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kubeprism/fake_transport.h"
#include "kubeprism/logging.h"

namespace weft::kubeprism {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

json Svc(const std::string& name, int rv, const std::string& ns = "default") {
  return {{"metadata", {{"namespace", ns}, {"name", name}, {"resourceVersion", absl::StrCat(rv)}}},
          {"spec", {{"ports", {{{"port", 80}}}}}}};
}

std::string Event(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump();
}

// One scripted watch connection.
struct Session {
  int status = 200;
  std::vector<std::string> lines;
  absl::Status failure;  // returned instead of a result (connect failure / drop)
  bool hold = false;     // stay open until cancelled after the lines
};

// A list endpoint over `items` plus a queue of watch sessions.
class FakeApi {
 public:
  FakeApi() : transport_(std::make_shared<FakeTransport>()) {
    transport_->SetUnaryHandler([this](const Request& r) { return List(r); });
    transport_->SetStreamHandler(
        [this](const Request& r, const StreamHandlers& h, CancelToken* c) { return Watch(r, h, c); });
  }

  void SetItems(std::vector<json> items, int rv) {
    absl::MutexLock lock(&mu_);
    items_ = std::move(items);
    list_rv_ = rv;
  }
  void SetListStatus(int status) {
    absl::MutexLock lock(&mu_);
    list_status_ = status;
  }
  void SetListFailure(absl::Status s) {
    absl::MutexLock lock(&mu_);
    list_failure_ = std::move(s);
  }
  void AddSession(Session s) {
    absl::MutexLock lock(&mu_);
    sessions_.push_back(std::move(s));
  }
  int watch_calls() {
    absl::MutexLock lock(&mu_);
    return watch_calls_;
  }
  std::vector<std::string> watch_versions() {
    absl::MutexLock lock(&mu_);
    return watch_versions_;
  }
  std::shared_ptr<FakeTransport> transport() { return transport_; }

 private:
  absl::StatusOr<Response> List(const Request& r) {
    absl::MutexLock lock(&mu_);
    if (!list_failure_.ok()) return list_failure_;
    if (list_status_ != 200) return Response{list_status_, R"({"message":"scripted"})"};
    int limit = 0, start = 0;
    absl::SimpleAtoi(FakeTransport::QueryValue(r, "limit"), &limit);
    absl::SimpleAtoi(FakeTransport::QueryValue(r, "continue"), &start);
    if (limit == 0) limit = static_cast<int>(items_.size());
    json page = {{"kind", "ServiceList"}, {"items", json::array()}};
    int end = std::min<int>(start + limit, static_cast<int>(items_.size()));
    for (int i = start; i < end; ++i) page["items"].push_back(items_[i]);
    page["metadata"] = {{"resourceVersion", absl::StrCat(list_rv_)}};
    if (end < static_cast<int>(items_.size())) page["metadata"]["continue"] = absl::StrCat(end);
    return Response{200, page.dump()};
  }

  bool HasPendingSession() {
    absl::MutexLock lock(&mu_);
    return !sessions_.empty();
  }

  absl::StatusOr<StreamResult> Watch(const Request& r, const StreamHandlers& h, CancelToken* c) {
    Session s;
    {
      absl::MutexLock lock(&mu_);
      ++watch_calls_;
      watch_versions_.push_back(FakeTransport::QueryValue(r, "resourceVersion"));
      if (sessions_.empty()) {
        s.hold = true;  // nothing scripted: an idle watch
      } else {
        s = std::move(sessions_.front());
        sessions_.pop_front();
      }
    }
    if (!s.failure.ok() && s.lines.empty()) return s.failure;
    StreamResult result;
    result.status = s.status;
    if (h.on_status) h.on_status(s.status);
    if (s.status != 200) {
      result.error_body = s.lines.empty() ? "" : s.lines[0];
      return result;
    }
    for (const std::string& line : s.lines) {
      if (!h.on_line(line)) {
        result.cancelled = true;
        return result;
      }
    }
    if (!s.failure.ok()) return s.failure;  // dropped after the lines
    // An idle watch ends (as a server timeout would) once the test scripts more.
    while (s.hold && !c->cancelled() && !HasPendingSession()) absl::SleepFor(absl::Milliseconds(1));
    result.cancelled = c->cancelled();
    return result;
  }

  std::shared_ptr<FakeTransport> transport_;
  absl::Mutex mu_;
  std::vector<json> items_ ABSL_GUARDED_BY(mu_);
  int list_rv_ ABSL_GUARDED_BY(mu_) = 1;
  int list_status_ ABSL_GUARDED_BY(mu_) = 200;
  absl::Status list_failure_ ABSL_GUARDED_BY(mu_);
  std::deque<Session> sessions_ ABSL_GUARDED_BY(mu_);
  int watch_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> watch_versions_ ABSL_GUARDED_BY(mu_);
};

// Records callbacks as "ADD ns/name@rv", "UPDATE ns/name@old->new", "DELETE ns/name@rv".
class Recorder {
 public:
  Informer<Service>::Handlers Handlers() {
    return {[this](const Service& s) { Add(absl::StrCat("ADD ", Id(s))); },
            [this](const Service& o, const Service& n) {
              Add(absl::StrCat("UPDATE ", Id(o), "->", n.meta.resource_version));
            },
            [this](const Service& s) { Add(absl::StrCat("DELETE ", Id(s))); }};
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return events_.size();
  }
  // Waits (bounded) until `n` callbacks were seen.
  bool WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return events_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }

 private:
  static std::string Id(const Service& s) {
    return absl::StrCat(s.meta.Key(), "@", s.meta.resource_version);
  }
  void Add(std::string e) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(e));
  }
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

InformerOptions FastOptions() {
  InformerOptions o;
  o.backoff = {absl::Milliseconds(1), absl::Milliseconds(5)};
  o.seed = 1;
  o.absent_retry = absl::Milliseconds(20);
  return o;
}

// Polls `pred` until true or 10 s pass.
template <typename Pred>
bool Eventually(Pred pred) {
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return pred();
}

class InformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink([](LogLevel, absl::string_view) {});
  }
  void TearDown() override { SetLogSink(nullptr); }
};

TEST_F(InformerTest, PagedInitialListThenWatchFromListVersion) {
  FakeApi api;
  std::vector<json> items;
  for (int i = 0; i < 1200; ++i) items.push_back(Svc(absl::StrCat("s", i), 10));
  api.SetItems(items, 77);
  Informer<Service> informer(api.transport(), FastOptions());
  Recorder rec;
  informer.AddHandlers(rec.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(10)));
  EXPECT_EQ(rec.size(), 1200u);
  EXPECT_EQ(informer.List().size(), 1200u);
  ASSERT_NE(informer.Get("default", "s5"), nullptr);
  EXPECT_TRUE(Eventually([&] { return api.watch_calls() >= 1; }));
  informer.Stop();

  int lists = 0;
  for (const Request& r : api.transport()->requests()) {
    if (FakeTransport::QueryValue(r, "watch") == "true") {
      EXPECT_EQ(FakeTransport::QueryValue(r, "resourceVersion"), "77");
      EXPECT_EQ(FakeTransport::QueryValue(r, "allowWatchBookmarks"), "true");
      EXPECT_EQ(r.path, "/api/v1/services");
    } else {
      ++lists;
      EXPECT_EQ(FakeTransport::QueryValue(r, "limit"), "500");
    }
  }
  EXPECT_EQ(lists, 3);
  InformerStats stats = informer.Stats();
  EXPECT_EQ(stats.state, SyncState::kSynced);
  EXPECT_EQ(stats.objects, 1200);
  EXPECT_EQ(stats.resource_version, "77");
  EXPECT_EQ(stats.relists, 0);
}

TEST_F(InformerTest, WatchEventsInOrderBookmarksAndResumeFromLastVersion) {
  FakeApi api;
  api.SetItems({Svc("a", 5)}, 5);
  api.AddSession({200,
                  {Event("ADDED", Svc("b", 6)), Event("MODIFIED", Svc("a", 7)),
                   Event("ADDED", Svc("b", 6)),  // a duplicate: no callback
                   Event("BOOKMARK", {{"metadata", {{"resourceVersion", "9"}}}}),
                   Event("DELETED", Svc("b", 10))},
                  absl::OkStatus(), false});
  api.AddSession({200, {Event("ADDED", Svc("c", 11))}, absl::UnavailableError("dropped"), false});
  Informer<Service> informer(api.transport(), FastOptions());
  Recorder rec;
  informer.AddHandlers(rec.Handlers());
  informer.Start();
  ASSERT_TRUE(rec.WaitFor(5));
  EXPECT_TRUE(Eventually([&] { return api.watch_calls() >= 3; }));
  informer.Stop();
  EXPECT_THAT(rec.events(), ElementsAre("ADD default/a@5", "ADD default/b@6",
                                        "UPDATE default/a@5->7", "DELETE default/b@6",
                                        "ADD default/c@11"));
  // First watch from the list, then from the last event, then after the drop.
  std::vector<std::string> versions = api.watch_versions();
  ASSERT_GE(versions.size(), 3u);
  EXPECT_EQ(versions[0], "5");
  EXPECT_EQ(versions[1], "10");
  EXPECT_EQ(versions[2], "11");
  InformerStats stats = informer.Stats();
  EXPECT_GE(stats.reconnects, 2);
  EXPECT_EQ(stats.events, 5);
  EXPECT_EQ(stats.relists, 0);
}

TEST_F(InformerTest, GoneRelistsAndEmitsOnlyDifferences) {
  FakeApi api;
  std::vector<json> items;
  for (int i = 0; i < 100; ++i) items.push_back(Svc(absl::StrCat("s", i), 10));
  api.SetItems(items, 10);
  Informer<Service> informer(api.transport(), FastOptions());
  Recorder rec;
  informer.AddHandlers(rec.Handlers());
  // While the watch is away: s1 changed, s2 deleted, s100 added.
  std::vector<json> after = items;
  after[1] = Svc("s1", 12);
  after.erase(after.begin() + 2);
  after.push_back(Svc("s100", 13));
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(10)));
  ASSERT_TRUE(rec.WaitFor(100));
  api.SetItems(after, 13);
  api.AddSession({200,
                  {Event("ERROR", {{"kind", "Status"}, {"code", 410}, {"reason", "Expired"}})},
                  absl::OkStatus(), false});
  ASSERT_TRUE(Eventually([&] { return informer.Stats().relists >= 1 && rec.size() >= 103; }));
  informer.Stop();
  std::vector<std::string> events = rec.events();
  std::vector<std::string> tail(events.begin() + 100, events.end());
  EXPECT_THAT(tail, ElementsAre("UPDATE default/s1@10->12", "ADD default/s100@13",
                                "DELETE default/s2@10"));
  EXPECT_EQ(informer.List().size(), 100u);
  EXPECT_EQ(informer.Get("default", "s1")->meta.resource_version, "12");
}

TEST_F(InformerTest, HttpGoneOnWatchAlsoRelists) {
  FakeApi api;
  api.SetItems({Svc("a", 1)}, 1);
  api.AddSession({410, {R"({"kind":"Status","code":410,"reason":"Expired"})"}, absl::OkStatus(), false});
  Informer<Service> informer(api.transport(), FastOptions());
  informer.Start();
  ASSERT_TRUE(Eventually([&] { return informer.Stats().relists == 1; }));
  informer.Stop();
}

TEST_F(InformerTest, MalformedObjectsAreSkippedAndCounted) {
  FakeApi api;
  json bad = Svc("bad", 3);
  bad["spec"]["ports"][0]["port"] = "eighty";
  api.SetItems({Svc("a", 1), bad, Svc("b", 2)}, 3);
  api.AddSession({200, {"{not json", Event("ADDED", Svc("c", 4))}, absl::OkStatus(), true});
  Informer<Service> informer(api.transport(), FastOptions());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(10)));
  ASSERT_TRUE(Eventually([&] { return informer.Stats().objects == 3; }));
  InformerStats stats = informer.Stats();
  informer.Stop();
  EXPECT_EQ(stats.decode_errors, 2);
  EXPECT_EQ(informer.Get("default", "bad"), nullptr);
  EXPECT_NE(informer.Get("default", "c"), nullptr);
}

TEST_F(InformerTest, AbsentCrdIsNotAnError) {
  FakeApi api;
  api.SetListStatus(404);
  Informer<CiliumPolicy> informer(api.transport(), kCiliumNetworkPolicies,
                                  DecodeCiliumNetworkPolicy, FastOptions());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(10)));
  EXPECT_EQ(informer.Stats().state, SyncState::kAbsent);
  EXPECT_THAT(informer.Stats().last_error, HasSubstr("not installed"));
  // The CRD appears later: the informer finds it.
  api.SetListStatus(200);
  api.SetItems({json{{"metadata", {{"namespace", "a"}, {"name", "p"}, {"resourceVersion", "3"}}},
                     {"spec", json::object()}}},
               3);
  ASSERT_TRUE(Eventually([&] { return informer.Stats().state == SyncState::kSynced; }));
  EXPECT_EQ(informer.List().size(), 1u);
  informer.Stop();
}

TEST_F(InformerTest, CoreNotFoundIsFailingNotAbsent) {
  FakeApi api;
  api.SetListStatus(404);
  Informer<Service> informer(api.transport(), FastOptions());
  informer.Start();
  ASSERT_TRUE(Eventually([&] { return informer.Stats().state == SyncState::kFailing; }));
  informer.Stop();
}

TEST_F(InformerTest, ForbiddenListIsFailingWithRbacMessage) {
  FakeApi api;
  api.SetListStatus(403);
  Informer<EndpointSlice> informer(api.transport(), FastOptions());
  informer.Start();
  ASSERT_TRUE(Eventually([&] { return informer.Stats().state == SyncState::kFailing; }));
  informer.Stop();
  EXPECT_THAT(informer.Stats().last_error,
              HasSubstr("forbidden: RBAC refused list endpointslices in group discovery.k8s.io"));
}

TEST_F(InformerTest, ServerDownKeepsCacheAndRecovers) {
  FakeApi api;
  api.SetItems({Svc("a", 1), Svc("b", 1)}, 1);
  // The watch drops, then three connection attempts fail, then it comes back.
  api.AddSession({200, {}, absl::UnavailableError("stream lost"), false});
  for (int i = 0; i < 3; ++i) {
    api.AddSession({0, {}, absl::UnavailableError("KubePrism is not answering"), false});
  }
  api.AddSession({200, {Event("MODIFIED", Svc("a", 2))}, absl::OkStatus(), true});
  Informer<Service> informer(api.transport(), FastOptions());
  Recorder rec;
  informer.AddHandlers(rec.Handlers());
  informer.Start();
  ASSERT_TRUE(rec.WaitFor(3));
  informer.Stop();
  EXPECT_THAT(rec.events(), ElementsAre("ADD default/a@1", "ADD default/b@1",
                                        "UPDATE default/a@1->2"));
  InformerStats stats = informer.Stats();
  EXPECT_GE(stats.reconnects, 4);
  EXPECT_EQ(stats.state, SyncState::kSynced);
  EXPECT_EQ(stats.objects, 2);
}

TEST_F(InformerTest, FieldSelectorIsSentOnListAndWatch) {
  FakeApi api;
  api.SetItems({}, 1);
  InformerOptions options = FastOptions();
  options.field_selector = "spec.nodeName=node-1";
  Informer<Pod> informer(api.transport(), options);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(10)));
  ASSERT_TRUE(Eventually([&] { return api.watch_calls() >= 1; }));
  informer.Stop();
  for (const Request& r : api.transport()->requests()) {
    EXPECT_EQ(FakeTransport::QueryValue(r, "fieldSelector"), "spec.nodeName=node-1");
  }
}

TEST(InformerStatsTest, RendersTextAndJson) {
  InformerStats s;
  s.resource = "services";
  s.state = SyncState::kFailing;
  s.objects = 3;
  s.resource_version = "42";
  s.last_error = "KubePrism is not answering";
  std::string text = RenderStatsText({s}, absl::Now());
  EXPECT_THAT(text, HasSubstr("services"));
  EXPECT_THAT(text, HasSubstr("failing"));
  json j = StatsToJson({s});
  EXPECT_EQ(j[0]["state"], "failing");
  EXPECT_EQ(j[0]["objects"], 3);
}

}  // namespace
}  // namespace weft::kubeprism
