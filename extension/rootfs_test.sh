#!/usr/bin/env bash
# The extension's container root filesystem carries everything its binaries need: run
# each one chrooted into it, with an empty environment, so no host library can help.
#   rootfs_test.sh ROOTFS_TAR
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: chroot needs root (run the tests as root)"
  exit 0
fi
tar_file=$(realpath "$1")
root=$(mktemp -d "${TEST_TMPDIR:-/tmp}/weft-rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
tar -xf "$tar_file" -C "$root"
failures=0
check() {  # check NAME WANT_EXIT WANT_SUBSTRING COMMAND...
  local name=$1 want_rc=$2 want=$3
  shift 3
  local out rc=0
  out=$(env -i "$@" 2>&1) || rc=$?
  if [[ $rc -ne $want_rc || $out != *"$want"* ]]; then
    echo "FAIL: $name: exit $rc, output: $out"
    failures=$((failures + 1))
  else
    echo "ok: $name: $(head -1 <<<"$out")"
  fi
}
check "weft-agent --version" 0 "weft-agent " /usr/sbin/chroot "$root" /usr/local/bin/weft-agent --version
check "weft --help" 0 "usage: weft" /usr/sbin/chroot "$root" /usr/local/bin/weft --help
check "weft-cni VERSION" 0 '"cniVersion"' CNI_COMMAND=VERSION /usr/sbin/chroot "$root" /usr/local/bin/weft-cni
# Past flag parsing: the agent looks for the config the ExtensionServiceConfig mounts
# (exit 2, naming the file).
check "weft-agent without its config" 2 "/etc/weft/agent.yaml" /usr/sbin/chroot "$root" /usr/local/bin/weft-agent --config /etc/weft/agent.yaml
if [[ $failures -gt 0 ]]; then exit 1; fi
