#!/usr/bin/env bash
# Installs what a fresh machine of this kind lacks for building and testing
# the plugin: Debian packages (qemu, iptables, iproute2, a C toolchain with a
# static libc). Go, a JDK 21+ (Temurin under /usr/lib/jvm) and python3 come
# with the machine; Maven comes through ./mvnw. Idempotent and quiet when
# everything is present.
set -euo pipefail

packages=(qemu-system-x86 qemu-utils iptables iproute2 iputils-ping procps gcc libc6-dev util-linux curl)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for tool in go python3; do
  command -v "$tool" >/dev/null || { echo "setup-machine.sh: $tool is missing; this machine kind should provide it" >&2; exit 1; }
done
"$(dirname "$0")/find-jdk.sh" >/dev/null
