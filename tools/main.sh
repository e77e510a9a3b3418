#!/usr/bin/env bash
# The main job: build Weft and bring up the multi-node lab on this machine
# (`weft lab up`: node namespaces on a bridge, a real weft-agent per node, an
# embedded API server, a sample workload through the CNI plugin), then print
# `weft lab status`: nodes, pods and the connectivity matrix.
# Take it down with: bazel-bin/agent/cli/weft lab down
# Extra arguments go to `weft lab up` (e.g. --nodes 3 --routing tunnel).
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build --noshow_progress --ui_event_filters=-info,-stdout,-stderr \
  //agent/cli:weft //agent/daemon:weft-agent //agent/cni:weft-cni //generator:talosgen
weft=bazel-bin/agent/cli/weft
if "$weft" lab status >/dev/null 2>&1; then
  echo "a lab is already up (weft lab down removes it); its status:" >&2
else
  "$weft" lab up "$@" >/dev/null
fi
exec "$weft" lab status
