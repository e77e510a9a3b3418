#!/usr/bin/env bash
# The extension image is reproducible: two more builds from the same inputs give the digest
# Bazel's build recorded, although the inputs are copies with other timestamps and
# permission bits, the binaries are listed in another order and the umask differs.
#   reproducible_test.sh BUILD_IMAGE MANIFEST SERVICE DIGEST_FILE /DEST=FILE...
set -euo pipefail
builder=$1 manifest=$2 service=$3
want=$(cat "$4")
shift 4
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/weft-repro.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

build() {  # build N UMASK MTIME MODE ORDER(forward|reverse)
  local n=$1 mask=$2 mtime=$3 mode=$4 order=$5 dir=$tmp/$1
  mkdir -p "$dir/in"
  local bins=() spec dest src copy
  for spec in "${specs[@]}"; do
    dest=${spec%%=*} src=${spec#*=}
    copy=$dir/in/$(basename "$dest")
    cp "$src" "$copy"
    chmod "$mode" "$copy"
    touch -d "$mtime" "$copy"
    bins+=(--bin "$dest=$copy")
  done
  if [[ $order == reverse ]]; then
    local reversed=() i
    for ((i = ${#bins[@]} - 2; i >= 0; i -= 2)); do reversed+=("${bins[i]}" "${bins[i + 1]}"); done
    bins=("${reversed[@]}")
  fi
  cp "$manifest" "$dir/in/manifest.yaml" && touch -d "$mtime" "$dir/in/manifest.yaml"
  cp "$service" "$dir/in/weft.yaml" && touch -d "$mtime" "$dir/in/weft.yaml"
  (umask "$mask" && /usr/bin/python3 "$builder" --manifest "$dir/in/manifest.yaml" \
    --service "$dir/in/weft.yaml" "${bins[@]}" --config-dir /etc/weft \
    --layout "$dir/layout" --archive "$dir/image.tar" --rootfs-tar "$dir/rootfs.tar" \
    --digest "$dir/digest")
}

specs=("$@")
build one 0022 "2001-02-03 04:05:06" 0755 forward
build two 0077 "2031-12-24 23:59:59" 0700 reverse

failures=0
for n in one two; do
  got=$(cat "$tmp/$n/digest")
  echo "build $n: $got"
  [[ $got == "$want" ]] || { echo "FAIL: build $n gave $got, Bazel's build $want"; failures=$((failures + 1)); }
done
# Every output, byte for byte (the layout folder too, not only the digest).
for f in image.tar rootfs.tar; do
  cmp "$tmp/one/$f" "$tmp/two/$f" || { echo "FAIL: $f differs"; failures=$((failures + 1)); }
done
if ! diff -r "$tmp/one/layout" "$tmp/two/layout" >/dev/null; then
  echo "FAIL: the layout folders differ"; failures=$((failures + 1))
fi
[[ $failures -eq 0 ]] && echo "reproducible: $want"
exit $((failures > 0))
