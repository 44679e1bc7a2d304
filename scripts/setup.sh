#!/usr/bin/env bash
# Installs every Debian package Portcullis needs to build, test and run its demo.
# Idempotent and quiet: safe to run on every CI run. Needs root (or sudo).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # libraries
  libboost1.81-dev libssl-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libnftnl-dev libmnl-dev libnetfilter-conntrack-dev
  libyaml-cpp-dev libspdlog-dev libfmt-dev libc-ares-dev libhiredis-dev
  # tests and benchmarks
  catch2 libbenchmark-dev
  # network lab: namespaces, firewall, SIP peers; the NAT lab's phones and packet capture are
  # python3 (deploy/lab/labphone.py, labsniff.py), its certificates come from the openssl CLI
  iproute2 nftables conntrack sip-tester python3 openssl
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
