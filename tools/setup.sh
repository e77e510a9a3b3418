#!/usr/bin/env bash
# Installs everything Weft needs to build and test on Debian 12 (bookworm), as root.
# Idempotent: packages already installed are not fetched again, and apt is only
# touched when something is missing. Safe to run before every build.
set -euo pipefail

PACKAGES=(
  # build: offline Bazel 4.2.3 and its Debian rule sets
  bazel-bootstrap bazel-rules-java bazel-platforms
  g++ clang llvm pkg-config
  # C++ libraries (see third_party/system/BUILD)
  libbpf-dev bpftool libelf-dev zlib1g-dev
  libyaml-cpp-dev libabsl-dev libcxxopts-dev nlohmann-json3-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libssl-dev openssl
  libgtest-dev libgmock-dev googletest
  # tests: schema validation, network namespaces, traffic, WireGuard, images
  python3 python3-jsonschema python3-yaml
  iproute2 iputils-ping netcat-openbsd iperf3 tcpdump iptables procps
  wireguard-tools wireguard-go
  skopeo umoci runc
)

if [[ $(id -u) -ne 0 ]]; then
  echo "setup.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "setup.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Bazel disk cache (see .bazelrc) lives outside the clone so CI reruns are fast.
mkdir -p /var/cache/weft-bazel
