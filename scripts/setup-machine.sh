#!/usr/bin/env bash
# Installs what a fresh machine of this kind lacks for building and testing
# the plugin: Debian packages (qemu, iptables, nftables, iproute2, a C toolchain with a
# static libc, and containernetworking-plugins: the CNI plugins in /usr/lib/cni
# that Nomad's group `network { mode = "bridge" }` runs, for the
# group-networking tests). Go, a JDK 21+ (Temurin under /usr/lib/jvm) and
# python3 come with the machine; Maven comes through ./mvnw. Idempotent and quiet when
# everything is present.
#
# On a freshly booted machine another apt (unattended-upgrades, cloud-init)
# often holds the package locks for a while: this waits for them, up to
# MIRAGE_APT_LOCK_TIMEOUT seconds (default 600), and says so.
set -euo pipefail

packages=(qemu-system-x86 qemu-utils iptables nftables iproute2 iputils-ping procps gcc libc6-dev util-linux curl
  containernetworking-plugins)
lock_timeout=${MIRAGE_APT_LOCK_TIMEOUT:-600}
[[ "$lock_timeout" =~ ^[0-9]+$ ]] || { echo "setup-machine.sh: MIRAGE_APT_LOCK_TIMEOUT must be a number of seconds" >&2; exit 2; }

# The lock files apt and dpkg take, where apt's configuration puts them.
lock_files() {
  local LISTS="" ARCHIVES="" STATUS=""
  eval "$(apt-config shell LISTS Dir::State::Lists/d ARCHIVES Dir::Cache::Archives/d STATUS Dir::State::status/f)"
  [[ -z "$STATUS" ]] || printf '%s\n' "$(dirname -- "$STATUS")/lock-frontend" "$(dirname -- "$STATUS")/lock"
  [[ -z "$LISTS" ]] || printf '%s\n' "${LISTS%/}/lock"
  [[ -z "$ARCHIVES" ]] || printf '%s\n' "${ARCHIVES%/}/lock"
}

# "PID (COMMAND)" of the processes holding one of those locks, comma-separated;
# empty when they are free. lslocks only reads /proc/locks, it takes no lock.
lock_holders() {
  command -v lslocks >/dev/null 2>&1 || return 0
  local files
  files=$(lock_files)
  lslocks --noheadings --raw --output PID,COMMAND,PATH 2>/dev/null \
    | awk -v files="$files" 'BEGIN { n = split(files, f, "\n"); for (i = 1; i <= n; i++) want[f[i]] = 1 }
        ($3 in want) && !seen[$1]++ { printf "%s%s (%s)", sep, $1, $2; sep = ", " }'
}

announce_wait() { # announce_wait WHAT: says so when another process holds a package lock
  local holders
  holders=$(lock_holders)
  [[ -z "$holders" ]] || echo "setup-machine.sh: $1: waiting up to ${lock_timeout} s for the package lock held by $holders" >&2
}

# apt-get update does not wait on the package lists lock (DPkg::Lock::Timeout
# covers dpkg's locks only, apt 2.6): retry while it reports a held lock.
apt_update() {
  local deadline=$((SECONDS + lock_timeout)) said=0 err holders
  while :; do
    if err=$(apt-get -o "DPkg::Lock::Timeout=$lock_timeout" update -qq 2>&1); then
      [[ -z "$err" ]] || printf '%s\n' "$err" >&2
      return 0
    fi
    if [[ "$err" != *"Could not get lock"* ]] || ((SECONDS >= deadline)); then
      printf '%s\n' "$err" >&2
      return 1
    fi
    if ((said == 0)); then
      holders=$(lock_holders)
      echo "setup-machine.sh: apt-get update: waiting up to ${lock_timeout} s for the package lock held by" \
        "${holders:-another process}" >&2
      said=1
    fi
    sleep 2
  done
}

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt_update
  announce_wait "apt-get install"
  apt-get -o "DPkg::Lock::Timeout=$lock_timeout" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for tool in go python3; do
  command -v "$tool" >/dev/null || { echo "setup-machine.sh: $tool is missing; this machine kind should provide it" >&2; exit 1; }
done
"$(dirname "$0")/find-jdk.sh" >/dev/null

# NetworkIT checks the loopback guard with bridged traffic passing iptables,
# which needs br_netfilter (usually loaded already, e.g. by Docker). Best effort:
# a machine that cannot load it fails that test under CI with a clear message.
if [[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then
  modprobe br_netfilter 2>/dev/null || echo "setup-machine.sh: could not load br_netfilter (NetworkIT needs it)" >&2
fi
