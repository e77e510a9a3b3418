#!/usr/bin/env bash
# The whole test suite: every Bazel test (unit, golden, schema, kernel and lab tests).
# Kernel-facing tests need root; they create their own namespaces, links and pins
# under a unique per-run prefix and remove them on every exit path.
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT

args=()
# CI reruns every test instead of trusting results cached by an earlier run.
[[ "${CI:-}" == "true" ]] && args+=(--nocache_test_results)

# The datapath mounts bpffs on /sys/fs/bpf when it is not mounted (as a node
# would); the suite leaves the machine as it found it.
bpffs_before=no
mountpoint -q /sys/fs/bpf && bpffs_before=yes

bazel test //... "${args[@]}" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

if [[ $bpffs_before == no ]] && mountpoint -q /sys/fs/bpf; then
  # Only the kernel's own files (maps.debug, progs.debug) may be left.
  left=$(find /sys/fs/bpf -mindepth 1 -maxdepth 1 ! -name maps.debug ! -name progs.debug | head -5)
  if [[ -z $left ]]; then
    umount /sys/fs/bpf
  else
    echo "left in /sys/fs/bpf by the tests:" $left
    rc=1
  fi
fi

# One plain closing line for CI: "N passed, N failed".
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD)' "$log")
if [[ $rc -ne 0 && $failed -eq 0 ]]; then failed=1; fi
echo "tests: ${passed} passed, ${failed} failed"
exit "$rc"
