#include "kubeprism/logging.h"

#include <cstdio>
#include <string>
#include <utility>

#include "absl/base/const_init.h"
#include "absl/synchronization/mutex.h"

namespace weft::kubeprism {
namespace {

absl::Mutex sink_mu(absl::kConstInit);
LogSink* sink ABSL_GUARDED_BY(sink_mu) = nullptr;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "I";
    case LogLevel::kWarning:
      return "W";
    case LogLevel::kError:
      return "E";
  }
  return "?";
}

}  // namespace

void SetLogSink(LogSink new_sink) {
  absl::MutexLock lock(&sink_mu);
  delete sink;
  sink = new_sink ? new LogSink(std::move(new_sink)) : nullptr;
}

void Log(LogLevel level, absl::string_view message) {
  absl::MutexLock lock(&sink_mu);
  if (sink != nullptr) {
    (*sink)(level, message);
    return;
  }
  std::fprintf(stderr, "%s kubeprism: %.*s\n", LevelName(level), static_cast<int>(message.size()),
               message.data());
}

}  // namespace weft::kubeprism
