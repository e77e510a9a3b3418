#!/usr/bin/env bash
# Writes the test secrets bundles in this folder: the shape `talosctl gen secrets` writes
# (each certificate and key the base64 of a PEM block), with throw-away CAs made by the
# openssl command line. TEST KEYS ONLY: they protect nothing.
#
#   ecdsa.yaml, rsa.yaml, ed25519.yaml   a valid Kubernetes CA (100 years) with an
#                                        ECDSA P-256 (EC PRIVATE KEY), RSA 2048 (RSA
#                                        PRIVATE KEY) or Ed25519 (ED25519 PRIVATE KEY,
#                                        Talos's label for PKCS#8) key
#   no-k8s-ca.yaml                       certs without k8s
#   key-mismatch.yaml                    certs.k8s.key of another CA
#   expired-ca.yaml                      a CA valid 2020-01-01 to 2021-01-01
#   not-a-ca.yaml                        a client certificate where the CA belongs
#
# Run by hand (bash testdata/generator/secrets/make_secrets.sh); the files are committed.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
b64() { base64 -w0 "$1"; }

ec_key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }
rsa_key() { openssl genrsa -traditional -out "$1" 2048 2>/dev/null; }
ed_key() { openssl genpkey -algorithm ed25519 | sed 's/ PRIVATE KEY-----/ ED25519 PRIVATE KEY-----/' >"$1"; }
ca_cert() {  # ca_cert KEY OUT SUBJECT (Talos's CAs have an O and no CN)
  openssl req -x509 -new -key "$1" -out "$2" -days 36500 -subj "$3" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyCertSign" 2>/dev/null
}
# Ed25519 keys under Talos's label: give openssl the standard PKCS#8 label back.
std_key() { sed 's/ ED25519 PRIVATE KEY-----/ PRIVATE KEY-----/' "$1" >"$1.std"; echo "$1.std"; }

bundle() {  # bundle OUT K8S_CRT K8S_KEY (empty: no certs.k8s)
  ec_key "$tmp/etcd.key"; ca_cert "$tmp/etcd.key" "$tmp/etcd.crt" /O=etcd
  ec_key "$tmp/agg.key"; ca_cert "$tmp/agg.key" "$tmp/agg.crt" /CN=front-proxy
  ec_key "$tmp/sa.key"
  ed_key "$tmp/os.key"; ca_cert "$(std_key "$tmp/os.key")" "$tmp/os.crt" /O=talos
  {
    echo "# TEST KEYS ONLY (testdata/generator/secrets/make_secrets.sh): they protect nothing."
    echo "cluster:"
    echo "    id: $(head -c 32 /dev/urandom | base64 -w0)"
    echo "    secret: $(head -c 32 /dev/urandom | base64 -w0)"
    echo "secrets:"
    echo "    bootstraptoken: $(openssl rand -hex 3).$(openssl rand -hex 8)"
    echo "    secretboxencryptionsecret: $(head -c 32 /dev/urandom | base64 -w0)"
    echo "trustdinfo:"
    echo "    token: $(openssl rand -hex 3).$(openssl rand -hex 8)"
    echo "certs:"
    echo "    etcd:"
    echo "        crt: $(b64 "$tmp/etcd.crt")"
    echo "        key: $(b64 "$tmp/etcd.key")"
    if [[ -n $2 ]]; then
      echo "    k8s:"
      echo "        crt: $(b64 "$2")"
      echo "        key: $(b64 "$3")"
    fi
    echo "    k8saggregator:"
    echo "        crt: $(b64 "$tmp/agg.crt")"
    echo "        key: $(b64 "$tmp/agg.key")"
    echo "    k8sserviceaccount:"
    echo "        key: $(b64 "$tmp/sa.key")"
    echo "    os:"
    echo "        crt: $(b64 "$tmp/os.crt")"
    echo "        key: $(b64 "$tmp/os.key")"
  } >"$1"
}

ec_key "$tmp/ec.key"; ca_cert "$tmp/ec.key" "$tmp/ec.crt" /O=kubernetes
bundle ecdsa.yaml "$tmp/ec.crt" "$tmp/ec.key"
rsa_key "$tmp/rsa.key"; ca_cert "$tmp/rsa.key" "$tmp/rsa.crt" /O=kubernetes
bundle rsa.yaml "$tmp/rsa.crt" "$tmp/rsa.key"
ed_key "$tmp/ed.key"; ca_cert "$(std_key "$tmp/ed.key")" "$tmp/ed.crt" /O=kubernetes
bundle ed25519.yaml "$tmp/ed.crt" "$tmp/ed.key"
bundle no-k8s-ca.yaml "" ""
ec_key "$tmp/other.key"
bundle key-mismatch.yaml "$tmp/ec.crt" "$tmp/other.key"

# Expired: `openssl ca` is the command-line tool that takes explicit validity dates.
mkdir -p "$tmp/ca/new"
touch "$tmp/ca/index.txt"
cat >"$tmp/ca/openssl.cnf" <<CNF
[ca]
default_ca = old
[old]
dir = $tmp/ca
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = any
x509_extensions = v3_ca
[any]
organizationName = supplied
commonName = optional
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,keyCertSign
subjectKeyIdentifier = hash
CNF
echo 01 >"$tmp/ca/serial"
ec_key "$tmp/old.key"
openssl req -new -key "$tmp/old.key" -subj "/O=kubernetes" -out "$tmp/old.csr"
openssl ca -batch -config "$tmp/ca/openssl.cnf" -selfsign -keyfile "$tmp/old.key" \
  -startdate 20200101000000Z -enddate 20210101000000Z -in "$tmp/old.csr" \
  -out "$tmp/old.crt" 2>/dev/null
openssl x509 -in "$tmp/old.crt" -out "$tmp/old.pem"  # PEM only, without the text dump
bundle expired-ca.yaml "$tmp/old.pem" "$tmp/old.key"

# Not a CA: a client certificate signed by the valid ECDSA CA.
ec_key "$tmp/leaf.key"
openssl req -new -key "$tmp/leaf.key" -subj "/O=system:masters/CN=admin" -out "$tmp/leaf.csr"
printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n' >"$tmp/leaf.ext"
openssl x509 -req -in "$tmp/leaf.csr" -CA "$tmp/ec.crt" -CAkey "$tmp/ec.key" -CAcreateserial \
  -days 36500 -extfile "$tmp/leaf.ext" -out "$tmp/leaf.crt" 2>/dev/null
bundle not-a-ca.yaml "$tmp/leaf.crt" "$tmp/leaf.key"
echo "wrote $(ls ./*.yaml | wc -l) bundles"
