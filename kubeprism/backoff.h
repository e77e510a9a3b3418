// Exponential backoff with full jitter: the n-th delay is uniform in
// [0, min(cap, base * 2^n)]. Seeded, so tests see a fixed schedule.
#ifndef WEFT_KUBEPRISM_BACKOFF_H_
#define WEFT_KUBEPRISM_BACKOFF_H_

#include <cstdint>
#include <random>

#include "absl/time/time.h"

namespace weft::kubeprism {

struct BackoffOptions {
  absl::Duration base = absl::Milliseconds(100);
  absl::Duration cap = absl::Seconds(30);
};

class Backoff {
 public:
  Backoff(BackoffOptions options, uint64_t seed);

  // The next delay; grows the ceiling for the one after.
  absl::Duration Next();
  // After a success: the next delay starts from `base` again.
  void Reset() { attempt_ = 0; }
  // The upper bound of the next delay.
  absl::Duration Ceiling() const;
  int attempt() const { return attempt_; }

 private:
  BackoffOptions options_;
  std::mt19937_64 rng_;
  int attempt_ = 0;
};

}  // namespace weft::kubeprism

#endif  // WEFT_KUBEPRISM_BACKOFF_H_
