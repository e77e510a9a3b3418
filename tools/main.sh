#!/usr/bin/env bash
# The main job: build talosgen and print a control-plane patch with the embedded
# defaults (the first step of installing Weft or Cilium on a Talos cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build --noshow_progress --ui_event_filters=-info,-stdout,-stderr -c opt //generator:talosgen
exec bazel-bin/generator/talosgen patch "$@"
