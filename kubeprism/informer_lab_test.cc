// Informers against the lab API server over real HTTPS: sync, order, restarts,
// 410 relists, outages, malformed objects, absent CRDs.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kubeprism/informer.h"
#include "kubeprism/lab_fixture.h"
#include "kubeprism/logging.h"

namespace weft::kubeprism {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Every callback as "ADD ns/name@rv" etc., thread-safe.
class Recorder {
 public:
  Informer<Service>::Handlers Handlers() {
    return {[this](const Service& s) { Add("ADD", s); },
            [this](const Service&, const Service& s) { Add("UPDATE", s); },
            [this](const Service& s) { Add("DELETE", s); }};
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return events_.size();
  }
  bool WaitFor(size_t n, absl::Duration timeout = absl::Seconds(8)) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return events_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

 private:
  void Add(const char* what, const Service& s) {
    absl::MutexLock lock(&mu_);
    events_.push_back(absl::StrCat(what, " ", s.meta.Key(), "@", s.meta.resource_version));
  }
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

template <typename Pred>
bool Eventually(Pred pred, absl::Duration timeout = absl::Seconds(8)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return pred();
}

InformerOptions TestOptions() {
  InformerOptions o;
  o.backoff = {absl::Milliseconds(20), absl::Milliseconds(200)};
  o.seed = 7;
  o.absent_retry = absl::Milliseconds(100);
  return o;
}

class InformerLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink([](LogLevel, absl::string_view) {});
    testing::LabApiServerOptions options;
    options.bookmark_interval_ms = 100;
    StartLab(options);
  }
  void TearDown() override { SetLogSink(nullptr); }

  void StartLab(testing::LabApiServerOptions options) {
    auto lab = LabFixture::Start(options);
    ASSERT_TRUE(lab.ok()) << lab.status();
    lab_ = *std::move(lab);
    auto transport = lab_->AdminTransport();
    ASSERT_TRUE(transport.ok()) << transport.status();
    transport_ = *transport;
  }

  // The rv the server assigned to default/<name>.
  void PutService(const std::string& name, int generation) {
    ASSERT_TRUE(lab_->Put(kServices, ServiceObject("default", name, generation)).ok());
  }

  std::unique_ptr<LabFixture> lab_;
  std::shared_ptr<Transport> transport_;
};

TEST_F(InformerLabTest, InitialSyncOfFiveThousandServices) {
  for (int i = 0; i < 5000; ++i) PutService(absl::StrCat("svc-", i), 0);
  Informer<Service> informer(transport_, TestOptions());
  Recorder rec;
  informer.AddHandlers(rec.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(8)));
  EXPECT_EQ(rec.size(), 5000u);
  EXPECT_EQ(informer.List().size(), 5000u);
  auto svc = informer.Get("default", "svc-4999");
  ASSERT_NE(svc, nullptr);
  ASSERT_EQ(svc->ports.size(), 2u);
  EXPECT_EQ(svc->ports[1].target_port.string_value, "metrics");
  InformerStats stats = informer.Stats();
  EXPECT_EQ(stats.state, SyncState::kSynced);
  EXPECT_EQ(stats.resource_version, absl::StrCat(lab_->server().resource_version()));
  EXPECT_EQ(stats.decode_errors, 0);
}

TEST_F(InformerLabTest, WatchEventsArriveInOrder) {
  PutService("a", 0);
  Informer<Service> informer(transport_, TestOptions());
  Recorder rec;
  informer.AddHandlers(rec.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(8)));
  const int64_t base = lab_->server().resource_version();
  PutService("b", 1);
  PutService("a", 2);
  PutService("b", 3);
  ASSERT_TRUE(lab_->server().Remove(ToLab(kServices), "default", "a").ok());
  PutService("c", 4);
  ASSERT_TRUE(rec.WaitFor(6));
  informer.Stop();
  EXPECT_THAT(rec.events(),
              ElementsAre(absl::StrCat("ADD default/a@", base), absl::StrCat("ADD default/b@", base + 1),
                          absl::StrCat("UPDATE default/a@", base + 2),
                          absl::StrCat("UPDATE default/b@", base + 3),
                          absl::StrCat("DELETE default/a@", base + 2),
                          absl::StrCat("ADD default/c@", base + 5)));
}

TEST_F(InformerLabTest, RestartMidWatchResumesWithoutGapsOrDuplicates) {
  for (int i = 0; i < 100; ++i) PutService(absl::StrCat("s", i), 0);
  Informer<Service> informer(transport_, TestOptions());
  Recorder rec;
  informer.AddHandlers(rec.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(8)));
  for (int i = 0; i < 50; ++i) PutService(absl::StrCat("s", i), 1);
  ASSERT_TRUE(rec.WaitFor(150));
  lab_->server().Stop();
  for (int i = 50; i < 80; ++i) PutService(absl::StrCat("s", i), 1);  // while down
  ASSERT_TRUE(Eventually([&] { return informer.Stats().state == SyncState::kFailing; }));
  ASSERT_TRUE(lab_->server().Restart().ok());
  for (int i = 80; i < 100; ++i) PutService(absl::StrCat("s", i), 1);
  ASSERT_TRUE(rec.WaitFor(200));
  // Nothing more may trickle in: the last event is the last update.
  ASSERT_TRUE(Eventually([&] {
    return informer.Stats().resource_version == absl::StrCat(lab_->server().resource_version());
  }));
  informer.Stop();
  std::vector<std::string> events = rec.events();
  EXPECT_EQ(events.size(), 200u);
  std::set<std::string> unique(events.begin(), events.end());
  EXPECT_EQ(unique.size(), events.size()) << "duplicate callbacks";
  for (const auto& svc : informer.List()) {
    EXPECT_EQ(svc->meta.annotations[0].second, "1") << svc->meta.name;
  }
  EXPECT_GE(informer.Stats().reconnects, 1);
}

TEST_F(InformerLabTest, ExpiredVersionRelistYieldsOnlyTheDifference) {
  for (int i = 0; i < 3000; ++i) PutService(absl::StrCat("s", i), 0);
  Informer<Service> informer(transport_, TestOptions());
  Recorder rec;
  informer.AddHandlers(rec.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(8)));
  ASSERT_EQ(rec.size(), 3000u);
  // Keep the informer from watching (403), change one object behind its back,
  // compact the history, then let it back in: it resumes from a version that is
  // now too old (410) and must relist.
  lab_->server().SetRules({{"*", "list", "*", "*"}, {"*", "get", "*", "*"}});
  lab_->server().DropWatches();
  ASSERT_TRUE(Eventually([&] { return informer.Stats().state == SyncState::kFailing; }));
  PutService("s1234", 1);
  lab_->server().Compact();
  lab_->server().SetRules({});
  ASSERT_TRUE(Eventually([&] { return informer.Stats().relists == 1; }));
  ASSERT_TRUE(rec.WaitFor(3001));
  std::vector<std::string> events = rec.events();
  informer.Stop();
  std::vector<std::string> tail(events.begin() + 3000, events.end());
  EXPECT_THAT(tail, ElementsAre(HasSubstr("UPDATE default/s1234@")));
  EXPECT_EQ(informer.List().size(), 3000u);
  EXPECT_EQ(informer.Stats().state, SyncState::kSynced);
}

TEST_F(InformerLabTest, OutageKeepsCacheBacksOffAndResyncs) {
  for (int i = 0; i < 20; ++i) PutService(absl::StrCat("s", i), 0);
  Informer<Service> informer(transport_, TestOptions());
  Recorder rec;
  informer.AddHandlers(rec.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(8)));
  lab_->server().Stop();
  // While down: one update, one delete, one add.
  PutService("s3", 1);
  ASSERT_TRUE(lab_->server().Remove(ToLab(kServices), "default", "s4").ok());
  PutService("new", 0);
  // ~2 s of failed reconnects: the cache keeps serving the last state.
  ASSERT_TRUE(Eventually([&] { return informer.Stats().reconnects >= 5; }));
  absl::SleepFor(absl::Seconds(1));
  InformerStats down = informer.Stats();
  EXPECT_EQ(down.state, SyncState::kFailing);
  EXPECT_THAT(down.last_error, HasSubstr("cannot connect"));
  EXPECT_EQ(informer.List().size(), 20u);
  EXPECT_NE(informer.Get("default", "s4"), nullptr);
  EXPECT_EQ(rec.size(), 20u);
  ASSERT_TRUE(lab_->server().Restart().ok());
  ASSERT_TRUE(rec.WaitFor(23));
  ASSERT_TRUE(Eventually([&] { return informer.Stats().state == SyncState::kSynced; }));
  informer.Stop();
  std::vector<std::string> events = rec.events();
  std::vector<std::string> tail(events.begin() + 20, events.end());
  EXPECT_THAT(tail, ElementsAre(HasSubstr("UPDATE default/s3@"), HasSubstr("DELETE default/s4@"),
                                HasSubstr("ADD default/new@")));
  EXPECT_EQ(informer.Get("default", "s4"), nullptr);
  EXPECT_EQ(informer.List().size(), 20u);
}

TEST_F(InformerLabTest, MalformedObjectInListIsSkippedAndCounted) {
  PutService("good-1", 0);
  json bad = ServiceObject("default", "bad", 0);
  bad["metadata"]["resourceVersion"] = "1";
  bad["spec"]["ports"][0]["port"] = "eighty";
  ASSERT_TRUE(lab_->server().PutRaw(ToLab(kServices), "default", "bad", bad.dump()).ok());
  PutService("good-2", 0);
  Informer<Service> informer(transport_, TestOptions());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(8)));
  InformerStats stats = informer.Stats();
  informer.Stop();
  EXPECT_EQ(stats.decode_errors, 1);
  EXPECT_THAT(stats.last_decode_error,
              HasSubstr("Service default/bad: spec.ports[0].port: expected integer, got string"));
  EXPECT_EQ(informer.List().size(), 2u);
  EXPECT_EQ(informer.Get("default", "bad"), nullptr);
}

TEST_F(InformerLabTest, EndpointSlicesDecodeFromTheLab) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(
        lab_->Put(kEndpointSlices, EndpointSliceObject("default", absl::StrCat("s", i), i)).ok());
  }
  Informer<EndpointSlice> informer(transport_, TestOptions());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(8)));
  informer.Stop();
  auto slice = informer.Get("default", "s3-abcde");
  ASSERT_NE(slice, nullptr);
  EXPECT_EQ(slice->service_name, "s3");
  ASSERT_EQ(slice->endpoints.size(), 3u);
  EXPECT_EQ(slice->endpoints[2].node_name, "node-2");
  EXPECT_EQ(informer.Stats().decode_errors, 0);
}

class AbsentCrdLabTest : public InformerLabTest {
 protected:
  void SetUp() override {
    SetLogSink([](LogLevel, absl::string_view) {});
    testing::LabApiServerOptions options;
    options.resources.clear();
    for (const auto& r : testing::DefaultLabResources()) {
      if (r.group != "cilium.io") options.resources.push_back(r);
    }
    StartLab(options);
  }
};

TEST_F(AbsentCrdLabTest, MissingCrdIsAbsentNotAnError) {
  Informer<CiliumPolicy> informer(transport_, kCiliumNetworkPolicies, DecodeCiliumNetworkPolicy,
                                  TestOptions());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(8)));
  InformerStats stats = informer.Stats();
  informer.Stop();
  EXPECT_EQ(stats.state, SyncState::kAbsent);
  EXPECT_FALSE(stats.has_synced);
  EXPECT_THAT(informer.List(), IsEmpty());
}

}  // namespace
}  // namespace weft::kubeprism

namespace weft::kubeprism {
namespace {

json PodObject(const std::string& name, const std::string& node) {
  return {{"metadata", {{"namespace", "default"}, {"name", name}}},
          {"spec", {{"nodeName", node}, {"serviceAccountName", "default"}}},
          {"status", {{"phase", "Running"}, {"podIPs", {{{"ip", "10.244.0.5"}}}}}}};
}

TEST_F(InformerLabTest, PodsOfThisNodeByFieldSelector) {
  ASSERT_TRUE(lab_->Put(kPods, PodObject("a", "node-1")).ok());
  ASSERT_TRUE(lab_->Put(kPods, PodObject("b", "node-2")).ok());
  ASSERT_TRUE(lab_->Put(kPods, PodObject("c", "node-1")).ok());
  InformerOptions options = TestOptions();
  options.field_selector = "spec.nodeName=node-1";
  Informer<Pod> informer(transport_, options);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(8)));
  EXPECT_EQ(informer.List().size(), 2u);
  ASSERT_TRUE(lab_->Put(kPods, PodObject("d", "node-2")).ok());
  ASSERT_TRUE(lab_->Put(kPods, PodObject("e", "node-1")).ok());
  ASSERT_TRUE(Eventually([&] { return informer.Get("default", "e") != nullptr; }));
  informer.Stop();
  EXPECT_EQ(informer.Get("default", "d"), nullptr);
  EXPECT_EQ(informer.List().size(), 3u);
  EXPECT_EQ(informer.Get("default", "a")->pod_ips[0], "10.244.0.5");
}

}  // namespace
}  // namespace weft::kubeprism
