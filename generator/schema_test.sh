#!/usr/bin/env bash
# Every generated Talos document and Cilium values file validates against the reference
# JSON schemas in ../shared (see schema_test.py).
set -euo pipefail
source "$(dirname "$(readlink -f "$0")")/shared_dir.sh"
shared=$(weft_shared_dir "$0")
exec /usr/bin/python3 "$1" --talosgen "$(realpath "$2")" --merge-tool "$(realpath "$3")" \
  --shared "$shared" --testdata "$(dirname "$(dirname "$(readlink -f "$0")")")/testdata/generator"
