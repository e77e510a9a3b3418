#include "kubeprism/backoff.h"

#include <algorithm>

namespace weft::kubeprism {

Backoff::Backoff(BackoffOptions options, uint64_t seed) : options_(options), rng_(seed) {}

absl::Duration Backoff::Ceiling() const {
  absl::Duration ceiling = options_.base;
  for (int i = 0; i < attempt_ && ceiling < options_.cap; ++i) ceiling *= 2;
  return std::min(ceiling, options_.cap);
}

absl::Duration Backoff::Next() {
  const int64_t ceiling_us = absl::ToInt64Microseconds(Ceiling());
  std::uniform_int_distribution<int64_t> jitter(0, std::max<int64_t>(ceiling_us, 0));
  const absl::Duration delay = absl::Microseconds(jitter(rng_));
  if (Ceiling() < options_.cap) ++attempt_;
  return delay;
}

}  // namespace weft::kubeprism
