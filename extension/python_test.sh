#!/usr/bin/env bash
# Runs a Python test with Debian's python3 (python3-yaml), whatever python3 is on PATH.
set -euo pipefail
exec /usr/bin/python3 "$@"
