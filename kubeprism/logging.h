// A tiny pluggable log sink for the Kubernetes client (the agent wires its own).
// Messages never carry key material or tokens: callers pass only names and causes.
#ifndef WEFT_KUBEPRISM_LOGGING_H_
#define WEFT_KUBEPRISM_LOGGING_H_

#include <functional>

#include "absl/strings/string_view.h"

namespace weft::kubeprism {

enum class LogLevel { kInfo, kWarning, kError };

using LogSink = std::function<void(LogLevel, absl::string_view)>;

// Replaces the process-wide sink; nullptr restores the default (stderr).
void SetLogSink(LogSink sink);
void Log(LogLevel level, absl::string_view message);

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_LOGGING_H_
