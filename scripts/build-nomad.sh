#!/usr/bin/env bash
# Build the Nomad agent of the testbed (testbed/cmd/nomad) and cache it
# outside the repository.
#
# Usage: scripts/build-nomad.sh
#
# Prints the absolute path of the cached binary on stdout (that one line
# only; progress goes to stderr). The binary is named after a short hash of
# testbed/go.mod, testbed/go.sum, testbed/cmd/nomad/*.go and the build tags, so a change to
# any of them builds a new binary and an unchanged tree reuses the cached one
# without invoking Go at all.
#
# Environment:
#   MIRAGE_CACHE_DIR   cache directory (default /var/cache/nomad-driver-mirage)
#   GOFLAGS etc.       passed through to `go build`
set -euo pipefail

log() { printf 'build-nomad: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo_dir=$(dirname -- "$script_dir")
testbed_dir="$repo_dir/testbed"
cache_dir="${MIRAGE_CACHE_DIR:-/var/cache/nomad-driver-mirage}"

[[ -f "$testbed_dir/go.mod" ]] || die "no Go module at $testbed_dir"

# Hash the inputs: each file's path relative to testbed/ and its content hash,
# in a stable (C locale) order.
tree_hash() {
    local -a files=(go.mod go.sum)
    local f
    for f in cmd/nomad/*.go; do
        [[ -e "$f" ]] && files+=("$f")
    done
    for f in "${files[@]}"; do
        [[ -f "$f" ]] || die "missing $testbed_dir/$f"
    done
    printf '%s\n' "${files[@]}" | LC_ALL=C sort | while IFS= read -r f; do
        printf '%s  %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$f"
    done | sha256sum | cut -c1-12
}

# Nomad's release build tags: generated code only, no mock driver compiled in.
build_tags="codegen_generated release"
hash=$( { (cd "$testbed_dir" && tree_hash); printf 'tags=%s\n' "$build_tags"; } | sha256sum | cut -c1-12)
binary="$cache_dir/nomad-$hash"

if [[ -x "$binary" ]]; then
    log "using cached $binary"
    printf '%s\n' "$binary"
    exit 0
fi

mkdir -p -- "$cache_dir" 2>/dev/null \
    || die "cannot create cache directory $cache_dir (set MIRAGE_CACHE_DIR to a writable directory)"
[[ -w "$cache_dir" ]] \
    || die "cache directory $cache_dir is not writable (set MIRAGE_CACHE_DIR to a writable directory)"
command -v go >/dev/null 2>&1 || die "'go' not found on PATH; it is needed to build the Nomad agent"

# Serialise concurrent builds (parallel test runs): the second one waits and
# then finds the binary the first one built.
exec 9>"$cache_dir/.build.lock"
if ! flock -n 9; then
    log "another build is running; waiting for it"
    flock 9
fi
if [[ -x "$binary" ]]; then
    log "using $binary (built concurrently)"
    printf '%s\n' "$binary"
    exit 0
fi

tmp="$cache_dir/.nomad-$hash.tmp.$$"
trap 'rm -f -- "$tmp"' EXIT

log "building Nomad agent from $testbed_dir (tree hash $hash); this takes several minutes on a cold Go build cache"
start=$SECONDS
# -buildvcs=false: the testbed lives inside the project's git checkout, whose
# state has nothing to do with the Nomad version being built.
(cd "$testbed_dir" && go build -trimpath -buildvcs=false -tags "$build_tags" -o "$tmp" ./cmd/nomad) >&2 \
    || die "go build failed"
mv -f -- "$tmp" "$binary"
trap - EXIT

# Keep the newest three binaries (older testbed trees' ones are dead weight;
# keeping a few spares an agent still running from a recent tree).
find "$cache_dir" -maxdepth 1 -type f -name 'nomad-????????????' -printf '%T@ %p\n' \
    | sort -rn | tail -n +4 | cut -d' ' -f2- | while IFS= read -r old; do
    [[ "$old" == "$binary" ]] && continue
    log "removing old cached binary $old"
    rm -f -- "$old"
done

log "built $binary in $((SECONDS - start)) s ($("$binary" version 2>/dev/null | head -n1))"
printf '%s\n' "$binary"
