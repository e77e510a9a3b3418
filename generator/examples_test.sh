#!/usr/bin/env bash
# Applying each generated patch to the matching `talosctl gen config` output (with talosgen's
# own strategic merge, via `talosgen validate BASE PATCH`) leaves no Flannel and no
# kube-proxy; the unpatched control-plane configs (and the legacy worker, whose cluster.*
# still says flannel and kube-proxy) are reported.
set -uo pipefail
source "$(dirname "$(readlink -f "$0")")/shared_dir.sh"
shared=$(weft_shared_dir "$0") || exit 1
talosgen=$(realpath "$1")
examples=$shared/reference/talos/examples
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

for version in 1.13 1.14; do
  talos=v$version.0
  for role in controlplane worker; do
    base=$examples/v$version-base-$role.yaml
    [[ -f $base ]] || { fail "missing $base"; continue; }
    for cni in weft cilium; do
      for spec in "" masquerade full; do
        spec_args=()
        [[ -n $spec ]] && spec_args=(--spec "$TEST_SRCDIR/$TEST_WORKSPACE/testdata/generator/specs/$spec.yaml")
        name="$version $role $cni ${spec:-default}"
        if ! "$talosgen" patch --role "$role" --talos-version "$talos" --cni "$cni" \
          "${spec_args[@]}" >"$tmp/patch.yaml"; then
          fail "$name: talosgen patch failed"; continue
        fi
        out=$("$talosgen" validate "${spec_args[@]}" "$base" "$tmp/patch.yaml")
        rc=$?
        [[ $rc == 0 ]] || fail "$name: patched config has problems (exit $rc): $out"
        # --base must reproduce the same patch layout from the example itself.
        "$talosgen" patch --base "$base" --cni "$cni" "${spec_args[@]}" >"$tmp/from-base.yaml" ||
          fail "$name: patch --base failed"
        out=$("$talosgen" validate "${spec_args[@]}" "$base" "$tmp/from-base.yaml")
        [[ $? == 0 ]] || fail "$name: patch --base gives a config with problems: $out"
      done
    done
    out=$("$talosgen" validate "$base")
    rc=$?
    if [[ $role == controlplane || $version == 1.13 ]]; then
      [[ $rc == 1 ]] || fail "unpatched $base: exit $rc, want 1"
      grep -q "Flannel is still enabled" <<<"$out" || fail "unpatched $base: Flannel not reported"
      grep -q "kube-proxy is still enabled" <<<"$out" || fail "unpatched $base: kube-proxy not reported"
    else
      # A 1.14 worker carries no Flannel or kube-proxy settings at all: those live in the
      # control-plane-only documents, so the unpatched worker is clean.
      [[ $rc == 0 ]] || fail "unpatched $base: exit $rc, want 0: $out"
    fi
  done
done

# A legacy patch on a 1.14 config mixes layouts; a control-plane patch on a worker carries
# control-plane-only documents. Both must be reported.
"$talosgen" patch --talos-version v1.13.9 >"$tmp/legacy.yaml"
out=$("$talosgen" validate "$examples/v1.14-base-controlplane.yaml" "$tmp/legacy.yaml")
grep -q "legacy field mixed with the KubeNetworkConfig document" <<<"$out" ||
  fail "mixed layout not reported"
"$talosgen" patch --talos-version v1.14.0 >"$tmp/cp14.yaml"
out=$("$talosgen" validate "$examples/v1.14-base-worker.yaml" "$tmp/cp14.yaml")
grep -q "KubeProxyConfig: (document): only allowed on control-plane machines" <<<"$out" ||
  fail "control-plane document on a worker not reported"

if [[ $failures -gt 0 ]]; then echo "$failures failures"; exit 1; fi
echo "all example configs behave"
