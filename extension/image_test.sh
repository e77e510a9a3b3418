#!/usr/bin/env bash
# The built extension image, checked with Debian's skopeo and umoci and with our validator.
#   image_test.sh LAYOUT_DIR ARCHIVE DIGEST_FILE VALIDATOR
set -euo pipefail
layout=$(realpath "$1")
archive=$(realpath "$2")
want_digest=$(cat "$3")
validator=$4
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# The ref name (tag) in the layout is the extension version.
ref=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' "$layout/index.json")

# skopeo reads both forms and reports the same digest, the one the build recorded.
for src in "oci-archive:$archive" "oci:$layout:$ref"; do
  if ! skopeo inspect "$src" >"$tmp/inspect.json" 2>"$tmp/err"; then
    fail "skopeo inspect $src: $(cat "$tmp/err")"; continue
  fi
  echo "skopeo inspect $src:"
  sed -n '1,12p' "$tmp/inspect.json"
  got=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["Digest"], d["Architecture"], d["Os"], len(d["Layers"]))' "$tmp/inspect.json")
  read -r digest arch os layers <<<"$got"
  [[ $digest == "$want_digest" ]] || fail "$src: digest $digest, the build recorded $want_digest"
  [[ $os == linux ]] || fail "$src: os $os"
  [[ $layers == 1 ]] || fail "$src: $layers layers, want 1"
  [[ -n $arch ]] || fail "$src: no architecture"
done
# The raw manifest names the layer as gzip'd OCI tar.
skopeo inspect --raw "oci-archive:$archive" | grep -q '"application/vnd.oci.image.layer.v1.tar+gzip"' ||
  fail "raw manifest: layer media type is not application/vnd.oci.image.layer.v1.tar+gzip"

# umoci unpacks it into a runtime bundle whose root is the extension layout imager reads.
rootless=()
[[ $(id -u) -eq 0 ]] || rootless=(--rootless)
cp -r "$layout" "$tmp/layout"  # umoci wants a writable layout (it may take a lock)
chmod -R u+w "$tmp/layout"
rm -rf "$tmp/bundle"
if ! umoci unpack "${rootless[@]}" --image "$tmp/layout:$ref" "$tmp/bundle" >"$tmp/err" 2>&1; then
  fail "umoci unpack: $(cat "$tmp/err")"
else
  root=$tmp/bundle/rootfs
  for want in manifest.yaml rootfs/usr/local/etc/containers/weft.yaml \
    rootfs/usr/local/lib/containers/weft/usr/local/bin/weft-agent \
    rootfs/usr/local/lib/containers/weft/usr/local/bin/weft-cni \
    rootfs/usr/local/lib/containers/weft/usr/local/bin/weft; do
    [[ -f $root/$want ]] || fail "umoci unpack: /$want missing"
  done
  top=$(cd "$root" && ls -A | tr '\n' ' ')
  [[ $top == "manifest.yaml rootfs " ]] || fail "umoci unpack: top level is '$top', want 'manifest.yaml rootfs'"
  echo "umoci unpack: $(cd "$root" && find . -type f | wc -l) files; top level: $top"
  # The validator agrees on the unpacked tree.
  /usr/bin/python3 "$validator" --dir "$root" || fail "validator on the umoci bundle"
  # weft-agent and weft-cni are static (no program interpreter, no needed library): the
  # only dynamically linked program is the CLI, and nothing carries libcurl's tree.
  # -B: importing the validator must not write __pycache__ next to it (the source tree).
  if ! /usr/bin/python3 -B - "$PWD/$validator" "$root/rootfs/usr/local/lib/containers/weft" \
    >"$tmp/err" 2>&1 <<'PY'; then
import os
import sys

sys.path.insert(0, os.path.dirname(sys.argv[1]))
import validate_extension  # noqa: E402

root = sys.argv[2]
STATIC = {"/usr/local/bin/weft-agent", "/usr/local/bin/weft-cni"}
DYNAMIC_ALLOWED = {"/usr/local/bin/weft"}
problems, seen = [], set()
for folder, _, files in os.walk(root):
    for name in files:
        path = os.path.join(folder, name)
        rel = "/" + os.path.relpath(path, root)
        if "libcurl" in name:
            problems.append(f"{rel}: libcurl in the image")
        with open(path, "rb") as f:
            info = validate_extension.parse_elf(f.read())
        if info is None or not rel.startswith("/usr/local/bin/"):
            continue
        seen.add(rel)
        dynamic = info.interpreter is not None or bool(info.needed)
        if rel in STATIC and dynamic:
            problems.append(f"{rel}: not static (interpreter {info.interpreter}, "
                            f"needs {', '.join(info.needed)})")
        elif dynamic and rel not in DYNAMIC_ALLOWED:
            problems.append(f"{rel}: dynamically linked")
problems += [f"{p}: missing" for p in sorted(STATIC - seen)]
print("\n".join(problems) if problems else "static: " + ", ".join(sorted(STATIC)))
sys.exit(1 if problems else 0)
PY
    fail "static binaries: $(cat "$tmp/err")"
  else
    cat "$tmp/err"
  fi
fi

# The validator on both image forms.
/usr/bin/python3 "$validator" --image "$archive" || fail "validator on the oci-archive"
/usr/bin/python3 "$validator" --image "$layout" || fail "validator on the layout"

if [[ $failures -gt 0 ]]; then echo "$failures failure(s)"; exit 1; fi
echo "image_test: OK ($want_digest)"
