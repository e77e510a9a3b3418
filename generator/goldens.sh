#!/usr/bin/env bash
# Golden files for talosgen, driven by golden_cases.txt.
#   goldens.sh check  TALOSGEN CASES   (//generator:golden_test) fails on any difference
#   goldens.sh update TALOSGEN CASES   (bazel run //generator:update_goldens) rewrites them
#                                       in the source tree ($BUILD_WORKSPACE_DIRECTORY)
set -uo pipefail
shopt -s nullglob
mode=$1
talosgen=$(realpath "$2")
cases=$(realpath "$3")

if [[ $mode == update ]]; then
  cd "${BUILD_WORKSPACE_DIRECTORY:?run me with bazel run //generator:update_goldens}"
else
  cd "${TEST_SRCDIR:?}/${TEST_WORKSPACE:?}"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
count=0
while IFS='|' read -r want_rc stream file args; do
  [[ -z $want_rc || $want_rc == \#* ]] && continue
  count=$((count + 1))
  # shellcheck disable=SC2086  # args are space-separated on purpose
  "$talosgen" $args >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [[ $stream == stdout ]]; then got=$tmp/out; other=$tmp/err; else got=$tmp/err; other=$tmp/out; fi
  if [[ $rc != "$want_rc" ]]; then
    echo "FAIL $file: talosgen $args exited $rc, want $want_rc"; cat "$tmp/err"
    failures=$((failures + 1)); continue
  fi
  if [[ -s $other ]]; then
    echo "FAIL $file: talosgen $args wrote to the other stream:"; cat "$other"
    failures=$((failures + 1)); continue
  fi
  if [[ $mode == update ]]; then
    mkdir -p "$(dirname "$file")"
    cp "$got" "$file"
  elif [[ ! -f $file ]]; then
    echo "FAIL $file: missing; run: bazel run //generator:update_goldens"
    failures=$((failures + 1))
  elif ! diff -u "$file" "$got" >"$tmp/diff"; then
    echo "FAIL $file differs from \`talosgen $args\` (run: bazel run //generator:update_goldens):"
    head -40 "$tmp/diff"
    failures=$((failures + 1))
  fi
done <"$cases"

# Every ready-made file in patches/ must be a generated case (no stale leftovers).
if [[ $mode == check ]]; then
  for f in patches/*.yaml; do
    if ! grep -q "|$f|" "$cases"; then
      echo "FAIL $f is not produced by any case in golden_cases.txt"
      failures=$((failures + 1))
    fi
  done
fi

if [[ $count -eq 0 ]]; then echo "FAIL: no cases in $cases"; exit 1; fi
if [[ $mode == update ]]; then echo "updated $count golden files"; exit $((failures > 0)); fi
echo "$count cases, $failures failures"
exit $((failures > 0))
