#!/usr/bin/env bash
# Build the test fixtures of nomad-driver-mirage:
#
#   scripts/build-test-fixtures.sh OUTDIR
#
#   OUTDIR/bin/solo5-standin      TEST STAND-IN for the Solo5 tenders (Go,
#                                 testbed/cmd/solo5-standin), not Solo5
#   OUTDIR/bin/solo5-hvt          } hard links to solo5-standin; the role is
#   OUTDIR/bin/solo5-spt          } chosen from argv[0]
#   OUTDIR/bin/solo5-hvt-debug    } (hvt plus --dumpcore/--gdb)
#   OUTDIR/images/virtio-hello.virtio       real multiboot kernels for QEMU
#   OUTDIR/images/virtio-hello-net.virtio   (manifest: NET_BASIC "service")
#   OUTDIR/images/standin-hello{,-net,-block}.{hvt,spt}
#                                 Solo5-noted placeholders for the stand-in
#                                 (no devices / NET_BASIC "service" /
#                                 BLOCK_BASIC "storage")
#
# Incremental: outputs newer than their inputs are left alone. Progress goes
# to stderr, nothing to stdout; exits non-zero on failure.
# Needs gcc + GNU ld (binutils) and go.
set -euo pipefail

die() { echo "build-test-fixtures: error: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
mkdir -p "$1/bin" "$1/images" || die "cannot create $1"
OUT=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIXTURES=$ROOT/testbed/fixtures/virtio-hello
STANDIN_PKG=./cmd/solo5-standin

for tool in "${CC:-gcc}" "${LD:-ld}" go; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done

echo "build-test-fixtures: kernels -> $OUT/images" >&2
bash "$FIXTURES/build.sh" "$OUT/images" >&2 || die "building kernels failed"

# The stand-in: rebuild when any of its inputs is newer than the binary.
BIN=$OUT/bin/solo5-standin
stale=
if [ ! -x "$BIN" ]; then
    stale=1
else
    for f in "$ROOT/testbed/cmd/solo5-standin"/*.go "$ROOT/testbed/go.mod" "$0"; do
        if [ "$f" -nt "$BIN" ]; then stale=1; fi
    done
fi
if [ -n "$stale" ]; then
    echo "  GO     $BIN" >&2
    (cd "$ROOT/testbed" &&
        CGO_ENABLED=0 GOTOOLCHAIN=${GOTOOLCHAIN:-local} \
        go build -trimpath -o "$BIN.tmp" "$STANDIN_PKG" >&2) \
        || { rm -f "$BIN.tmp"; die "go build of the stand-in failed"; }
    mv -f "$BIN.tmp" "$BIN"
fi

# Hard links rather than symlinks, so that the name survives path
# canonicalisation by the caller.
for name in solo5-hvt solo5-spt solo5-hvt-debug; do
    link=$OUT/bin/$name
    if [ ! "$link" -ef "$BIN" ]; then
        echo "  LINK   $link" >&2
        rm -f "$link"
        ln "$BIN" "$link" 2>/dev/null || cp -p "$BIN" "$link" || die "cannot create $link"
    fi
done
echo "build-test-fixtures: done" >&2
