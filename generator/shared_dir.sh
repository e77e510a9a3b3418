# Sourced by the tests that need ../shared (reference schemas and example configs).
# Prints the shared folder: $WEFT_SHARED_DIR if set, else ../shared beside the real
# workspace, found by resolving this test's runfile symlink back to the source tree.
# Fails (does not skip) when it is missing: CI always clones the repository beside it.
weft_shared_dir() {
  local dir
  if [[ -n ${WEFT_SHARED_DIR:-} ]]; then
    dir=$WEFT_SHARED_DIR
  else
    local src
    src=$(readlink -f "$1")  # <workspace>/generator/<test>.sh
    dir=$(dirname "$(dirname "$src")")/../shared
  fi
  if [[ ! -d $dir/reference/talos || ! -d $dir/reference/cilium ]]; then
    echo "FAIL: reference material not found at $dir (expected ../shared beside the" \
      "repository, or set WEFT_SHARED_DIR)" >&2
    return 1
  fi
  (cd "$dir" && pwd -P)
}
