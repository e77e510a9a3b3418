#!/usr/bin/env bash
# `talosgen credentials` checked with the openssl command line, independently of our PKI
# code: for each CA key type, the minted certificate verifies against the bundle's CA as a
# TLS client, has subject CN=weft:agent, O=weft:agents, extended key usage clientAuth only,
# and the asked lifetime; the --out file is mode 0600. Bad bundles: exit 1, one line,
# nothing written.
set -euo pipefail
talosgen=$(realpath "$1")
secrets=${TEST_SRCDIR:?}/${TEST_WORKSPACE:?}/testdata/generator/secrets
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/weft-cred.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# Pulls a base64 field out of the kubeconfig inside the ExtensionServiceConfig.
field() {  # field FILE KEY
  /usr/bin/python3 - "$1" "$2" <<'PY'
import base64, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
kube = next(f["content"] for f in doc["configFiles"] if f["mountPath"] == "/etc/weft/kubeconfig")
kube = yaml.safe_load(kube)
if sys.argv[2] == "ca":
    print(base64.b64decode(kube["clusters"][0]["cluster"]["certificate-authority-data"]).decode(), end="")
else:
    print(base64.b64decode(kube["users"][0]["user"][sys.argv[2]]).decode(), end="")
PY
}

for bundle in ecdsa rsa ed25519; do
  before=$failures
  out=$tmp/$bundle.yaml
  (umask 0 && "$talosgen" credentials --secrets "$secrets/$bundle.yaml" --node-name worker-1 \
    --lifetime 720h --out "$out") 2>"$tmp/err" || { fail "$bundle: $(cat "$tmp/err")"; continue; }
  mode=$(stat -c %a "$out")
  [[ $mode == 600 ]] || fail "$bundle: --out file mode $mode, want 600"
  field "$out" ca >"$tmp/ca.pem"
  field "$out" client-certificate-data >"$tmp/cert.pem"
  field "$out" client-key-data >"$tmp/key.pem"
  # The CA in the kubeconfig is the bundle's certs.k8s.crt.
  /usr/bin/python3 -c 'import base64,sys,yaml; print(base64.b64decode(yaml.safe_load(open(sys.argv[1]))["certs"]["k8s"]["crt"]).decode(), end="")' \
    "$secrets/$bundle.yaml" >"$tmp/bundle-ca.pem"
  cmp -s <(openssl x509 -in "$tmp/ca.pem" -outform DER) <(openssl x509 -in "$tmp/bundle-ca.pem" -outform DER) ||
    fail "$bundle: kubeconfig CA is not the bundle's Kubernetes CA"
  openssl verify -CAfile "$tmp/ca.pem" -purpose sslclient "$tmp/cert.pem" >"$tmp/verify" 2>&1 ||
    fail "$bundle: openssl verify: $(cat "$tmp/verify")"
  if openssl verify -CAfile "$tmp/ca.pem" -purpose sslserver "$tmp/cert.pem" >/dev/null 2>&1; then
    fail "$bundle: the certificate is also good for servers"
  fi
  subject=$(openssl x509 -in "$tmp/cert.pem" -noout -subject -nameopt RFC2253)
  [[ $subject == "subject=CN=weft:agent,O=weft:agents" ]] || fail "$bundle: $subject"
  eku=$(openssl x509 -in "$tmp/cert.pem" -noout -ext extendedKeyUsage | tail -1 | xargs)
  [[ $eku == "TLS Web Client Authentication" ]] || fail "$bundle: extended key usage '$eku'"
  openssl x509 -in "$tmp/cert.pem" -noout -ext basicConstraints | grep -q "CA:FALSE" ||
    fail "$bundle: not marked CA:FALSE"
  # Lifetime: valid now and in 719h, expired in 721h.
  openssl x509 -in "$tmp/cert.pem" -noout -checkend $((719 * 3600)) >/dev/null ||
    fail "$bundle: expires before 719h"
  if openssl x509 -in "$tmp/cert.pem" -noout -checkend $((721 * 3600)) >/dev/null; then
    fail "$bundle: still valid after 721h"
  fi
  # The key is the certificate's.
  [[ $(openssl pkey -in "$tmp/key.pem" -pubout) == $(openssl x509 -in "$tmp/cert.pem" -noout -pubkey) ]] ||
    fail "$bundle: the key does not match the certificate"
  [[ $failures -eq $before ]] && echo "ok: $bundle: $subject, $(openssl x509 -in "$tmp/cert.pem" -noout -enddate), mode $mode"
done

for bad in no-k8s-ca key-mismatch expired-ca not-a-ca; do
  before=$failures
  out=$tmp/bad-$bad.yaml
  rc=0
  "$talosgen" credentials --secrets "$secrets/$bad.yaml" --node-name w1 --out "$out" \
    >"$tmp/out" 2>"$tmp/err" || rc=$?
  [[ $rc == 1 ]] || fail "$bad: exit $rc, want 1"
  [[ ! -e $out ]] || fail "$bad: wrote $out"
  [[ ! -s $tmp/out ]] || fail "$bad: wrote to stdout"
  [[ $(wc -l <"$tmp/err") == 1 ]] || fail "$bad: not one line: $(cat "$tmp/err")"
  [[ -z $(ls "$tmp" | grep "bad-$bad.yaml.tmp" || true) ]] || fail "$bad: left a temporary file"
  [[ $failures -eq $before ]] && echo "ok: $bad: $(cat "$tmp/err")"
done
exit $((failures > 0))
