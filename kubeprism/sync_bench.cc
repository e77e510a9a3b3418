// Initial sync and event latency of the informers at 10,000 Services + 10,000
// EndpointSlices. The lab API server runs in a forked child so this process's
// resident memory is the client's alone.
//
//   bazel run -c opt //kubeprism:sync_bench [-- --objects 10000 --updates 1000]
//
// Baselines measured in the same run: fetching and parsing every list page without typed decoding
// (transport cost) and the size of the JSON the server sent (cache vs wire size).
#include <malloc.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kubeprism/client.h"
#include "kubeprism/http_transport.h"
#include "kubeprism/informer.h"
#include "kubeprism/lab_fixture.h"
#include "kubeprism/logging.h"
#include "kubeprism/testing/lab_apiserver.h"

namespace weft::kubeprism {
namespace {

int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t RssKiB() {
  malloc_trim(0);
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kib = 0;
      absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(6, line.size() - 6 - 3)), &kib);
      return kib;
    }
  }
  return -1;
}

// Length-prefixed messages over pipes between the bench and its server child.
void Send(int fd, const std::string& s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  std::string frame(reinterpret_cast<const char*>(&n), 4);
  frame += s;
  size_t off = 0;
  while (off < frame.size()) {
    ssize_t w = write(fd, frame.data() + off, frame.size() - off);
    if (w <= 0) std::exit(3);
    off += static_cast<size_t>(w);
  }
}

std::string Receive(int fd) {
  auto read_exact = [fd](char* p, size_t n) {
    size_t off = 0;
    while (off < n) {
      ssize_t r = read(fd, p + off, n - off);
      if (r <= 0) std::exit(3);
      off += static_cast<size_t>(r);
    }
  };
  uint32_t n = 0;
  read_exact(reinterpret_cast<char*>(&n), 4);
  std::string s(n, '\0');
  read_exact(s.data(), n);
  return s;
}

// The child: runs the lab server and executes the parent's commands.
[[noreturn]] void ServeChild(int commands, int replies, int objects) {
  SetLogSink([](LogLevel, absl::string_view) {});
  auto lab = LabFixture::Start({}, "/tmp");
  if (!lab.ok()) {
    std::fprintf(stderr, "lab server: %s\n", std::string(lab.status().message()).c_str());
    std::exit(2);
  }
  auto config = (*lab)->AdminConfig();
  if (!config.ok()) std::exit(2);
  Send(replies, config->server);
  Send(replies, config->ca_pem);
  Send(replies, config->client_cert_pem);
  Send(replies, config->client_key_pem);
  while (true) {
    std::string command = Receive(commands);
    if (command == "load") {
      for (int i = 0; i < objects; ++i) {
        const std::string name = absl::StrCat("svc-", i);
        const std::string ns = absl::StrCat("ns-", i % 100);
        if (!(*lab)->Put(kServices, ServiceObject(ns, name)).ok() ||
            !(*lab)->Put(kEndpointSlices, EndpointSliceObject(ns, name, i)).ok()) {
          std::exit(2);
        }
      }
      Send(replies, "loaded");
    } else if (command.rfind("update ", 0) == 0) {
      int i = 0;
      absl::SimpleAtoi(command.substr(7), &i);
      const int64_t at = MonotonicNanos();
      if (!(*lab)->Put(kServices, ServiceObject(absl::StrCat("ns-", i % 100), absl::StrCat("svc-", i), 1 + i))
               .ok()) {
        std::exit(2);
      }
      Send(replies, absl::StrCat(at));
    } else {
      lab->reset();  // std::exit runs no destructors: remove the state folder first
      std::exit(0);
    }
  }
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

// Fetches and parses every page without typed decoding: the transport + JSON share of a sync.
int64_t FetchAllPages(Client& client, const ResourceType& type, int64_t* bytes) {
  const int64_t start = MonotonicNanos();
  ListOptions options;
  options.limit = 500;
  while (true) {
    auto body = client.ListPage(type, "", options);
    if (!body.ok()) std::exit(4);
    *bytes += static_cast<int64_t>(body->size());
    auto page = nlohmann::json::parse(*body, nullptr, false);
    std::string next = page["metadata"].value("continue", "");
    if (next.empty()) break;
    options.continue_token = next;
  }
  return MonotonicNanos() - start;
}

int Main(int argc, char** argv) {
  int objects = 10000, updates = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--objects") == 0) absl::SimpleAtoi(argv[i + 1], &objects);
    if (std::strcmp(argv[i], "--updates") == 0) absl::SimpleAtoi(argv[i + 1], &updates);
  }
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) return 1;
  const pid_t child = fork();  // before any thread exists
  if (child == 0) {
    close(to_child[1]);
    close(from_child[0]);
    ServeChild(to_child[0], from_child[1], objects);
  }
  close(to_child[0]);
  close(from_child[1]);
  const int commands = to_child[1], replies = from_child[0];

  ClientConfig config;
  config.server = Receive(replies);
  config.ca_pem = Receive(replies);
  config.client_cert_pem = Receive(replies);
  config.client_key_pem = Receive(replies);
  std::printf("loading %d Services + %d EndpointSlices into the lab server (pid %d)...\n",
              objects, objects, static_cast<int>(child));
  Send(commands, "load");
  Receive(replies);

  SetLogSink([](LogLevel level, absl::string_view m) {
    if (level != LogLevel::kInfo) std::fprintf(stderr, "%.*s\n", static_cast<int>(m.size()), m.data());
  });
  auto created = HttpTransport::Create(config);
  if (!created.ok()) return 1;
  std::shared_ptr<Transport> transport = *std::move(created);
  Client client(transport);

  // Baseline: the same pages fetched without decoding (also warms TLS and heap).
  int64_t wire_bytes = 0;
  const int64_t fetch_ns = FetchAllPages(client, kServices, &wire_bytes) +
                           FetchAllPages(client, kEndpointSlices, &wire_bytes);

  const int64_t rss_before = RssKiB();
  Informer<Service> services(transport);
  Informer<EndpointSlice> slices(transport);

  absl::Mutex mu;
  int64_t callback_at = 0;
  int expected_generation = -1;
  services.AddHandlers({nullptr,
                        [&](const Service&, const Service& now) {
                          const int64_t t = MonotonicNanos();
                          const std::string* g = FindKey(now.meta.annotations, "weft.dev/generation");
                          int gen = 0;
                          if (g != nullptr) absl::SimpleAtoi(*g, &gen);
                          absl::MutexLock lock(&mu);
                          if (gen == expected_generation) callback_at = t;
                        },
                        nullptr});

  const int64_t sync_start = MonotonicNanos();
  services.Start();
  slices.Start();
  if (!services.WaitForSync(absl::Seconds(120)) || !slices.WaitForSync(absl::Seconds(120))) {
    std::fprintf(stderr, "sync did not complete\n");
    return 1;
  }
  const int64_t sync_ns = MonotonicNanos() - sync_start;
  const int64_t rss_after = RssKiB();
  const int64_t cached = services.Stats().objects + slices.Stats().objects;

  std::vector<double> latencies_ms;
  for (int i = 0; i < updates; ++i) {
    {
      absl::MutexLock lock(&mu);
      expected_generation = 1 + i;
      callback_at = 0;
    }
    Send(commands, absl::StrCat("update ", i % objects));
    int64_t put_at = 0;
    absl::SimpleAtoi(Receive(replies), &put_at);
    absl::MutexLock lock(&mu);
    auto arrived = [&]() { return callback_at != 0; };
    if (!mu.AwaitWithTimeout(absl::Condition(&arrived), absl::Seconds(10))) {
      std::fprintf(stderr, "update %d never arrived\n", i);
      return 1;
    }
    latencies_ms.push_back(static_cast<double>(callback_at - put_at) / 1e6);
  }
  services.Stop();
  slices.Stop();
  Send(commands, "quit");
  waitpid(child, nullptr, 0);

  const double sync_s = static_cast<double>(sync_ns) / 1e9;
  const double fetch_s = static_cast<double>(fetch_ns) / 1e9;
  const double cache_mib = static_cast<double>(rss_after - rss_before) / 1024.0;
  const double p50 = Percentile(latencies_ms, 0.50), p99 = Percentile(latencies_ms, 0.99);
  std::printf("\ninitial sync: %lld objects in %.3f s = %.0f objects/s   (goal < 2 s: %s)\n",
              static_cast<long long>(cached), sync_s, static_cast<double>(cached) / sync_s,
              sync_s < 2 ? "met" : "MISSED");
  std::printf("  baseline, same pages fetched and JSON-parsed, not decoded: %.3f s (sync/fetch = %.2fx)\n",
              fetch_s, sync_s / fetch_s);
  std::printf("cache RSS: %.1f MiB (%.0f bytes/object)   (goal < 30 MB: %s)\n", cache_mib,
              cache_mib * 1048576.0 / static_cast<double>(cached), cache_mib < 28.6 ? "met" : "MISSED");
  std::printf("  baseline, JSON on the wire: %.1f MiB (cache/wire = %.2fx)\n",
              static_cast<double>(wire_bytes) / 1048576.0,
              cache_mib * 1048576.0 / static_cast<double>(wire_bytes));
  std::printf("event-to-callback latency over %d single updates: p50 %.3f ms, p99 %.3f ms, max %.3f ms"
              "   (goal p99 < 5 ms: %s)\n",
              updates, p50, p99, Percentile(latencies_ms, 1.0), p99 < 5 ? "met" : "MISSED");
  return 0;
}

}  // namespace
}  // namespace weft::kubeprism

int main(int argc, char** argv) { return weft::kubeprism::Main(argc, argv); }
