#!/usr/bin/env bash
set -euo pipefail
exec /usr/bin/python3 "$1" "$2" "$3"
