#!/usr/bin/env bash
# Assembles the plugin's release tree and tarball in the Maven target directory.
# Called by Maven in the package phase:
#   assemble-launcher.sh TARGET_DIR JAR_NAME VERSION
#
# TARGET_DIR/nomad-driver-mirage-VERSION/            the release tree (install layout)
#   nomad-driver-mirage                              launcher: execs the bundled JVM (so Nomad
#                                                    records the JVM's PID)
#   libexec/runtime/                                 Java runtime trimmed with jlink
#   libexec/JAR_NAME, libexec/lib/                   the application
#   libexec/mirage-supervisor                        the per-task supervisor (static C binary)
#   libexec/app.aot                                  ahead-of-time class cache
# TARGET_DIR/nomad-driver-mirage-VERSION-linux-amd64.tar.gz (+ .sha256)   that tree, packed
# TARGET_DIR/nomad-driver-mirage, TARGET_DIR/mirage-supervisor            symlinks into the tree
#
# Everything but the launcher sits in libexec/: Nomad's plugin loader skips
# directories in plugin_dir, so the whole tree may be copied into it as well.
# The launcher finds libexec/ next to its own resolved path, so the tree works
# wherever it is unpacked, and the AOT cache stays valid there because the JVM
# accepts a class path moved as a whole (same relative layout).
set -euo pipefail

target=$(cd "$1" && pwd)
jar=$2
version=$3
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
modules=java.base,java.logging,java.naming,java.management,jdk.unsupported

case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  *) echo "assemble-launcher.sh: only linux-amd64 is supported (netty's native epoll for x86_64 is bundled)" >&2; exit 1 ;;
esac
name="nomad-driver-mirage-$version"
tree="$target/$name"
libexec="$tree/libexec"
mkdir -p "$libexec"

# --- runtime (rebuilt only when the JDK or the module list changes) ----------
runtime="$libexec/runtime"
stamp="$runtime/.built-from"
wanted="$("$java_home/bin/java" -version 2>&1 | head -1) $modules"
if [[ ! -x "$runtime/bin/java" || "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
  rm -rf "$runtime"
  "$java_home/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files \
    --no-man-pages --compress=zip-6 --output "$runtime"
  # The default CDS archive of the JDK classes, regenerated for the trimmed module set.
  "$runtime/bin/java" -Xshare:dump >/dev/null 2>&1 || true
  printf '%s' "$wanted" > "$stamp"
fi

# --- application -------------------------------------------------------------
rm -rf "$libexec/lib" "$libexec"/*.jar
cp -a "$target/lib" "$libexec/lib"
cp -a "$target/$jar" "$libexec/$jar"

# AOTCompileEagerly (experimental in JDK 25) is asked for only if the bundled runtime has it: an unknown
# -XX option would keep the plugin from starting at all.
eager=
if "$runtime/bin/java" -XX:+UnlockExperimentalVMOptions -XX:+PrintFlagsFinal -version 2>/dev/null \
    | grep -q '[[:space:]]AOTCompileEagerly[[:space:]]'; then
  eager=" -XX:+UnlockExperimentalVMOptions -XX:+AOTCompileEagerly"
fi

launcher="$tree/nomad-driver-mirage"
cat > "$launcher" <<LAUNCHER
#!/bin/sh
# nomad-driver-mirage $version launcher. It may be symlinked into Nomad's
# plugin_dir: it resolves its real location and execs the Java runtime
# bundled in libexec/ beside it, so the node needs no JDK.
self=\$(readlink -f "\$0") || exit 1
home=\$(dirname "\$self")/libexec
if [ ! -x "\$home/runtime/bin/java" ]; then
  echo "nomad-driver-mirage: no runtime at \$home/runtime; keep this launcher next to its libexec directory" \\
       "(symlink it into plugin_dir, or copy the whole unpacked directory there)" >&2
  exit 1
fi
aot=
# The cache also says which methods the training run compiled: the JIT compiles them at their first call.
[ -f "\$home/app.aot" ] && aot="-XX:AOTCache=\$home/app.aot$eager"
# JVM diagnostics go to stderr: stdout carries only the go-plugin handshake line.
# C1 only, compiling after a tenth of the usual invocation counts: the start path runs once per task,
# so with the defaults much of it stayed interpreted for the first few hundred starts.
exec "\$home/runtime/bin/java" \$aot -Xlog:disable -Xlog:all=warning:stderr \\
  -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 -XX:CompileThresholdScaling=0.1 \\
  -Xss512k -Xms16m -Xmx160m -XX:MaxMetaspaceSize=96m -XX:ReservedCodeCacheSize=24m \\
  -XX:MaxDirectMemorySize=64m -XX:+ExitOnOutOfMemoryError --enable-native-access=ALL-UNNAMED \\
  --sun-misc-unsafe-memory-access=allow \\
  -Dio.netty.allocator.type=unpooled -Dio.netty.tryReflectionSetAccessible=true \\
  -Dmirage.home="\$home" \${MIRAGE_JAVA_OPTS:-} \\
  -jar "\$home/$jar" "\$@"
LAUNCHER
chmod 0755 "$launcher"

# --- mirage-supervisor ---------------------------------------------------------
# The small C program (src/main/c/*.c, main in mirage-supervisor.c) that supervises each
# tender outside the JVM, so tasks survive the plugin. Always linked
# statically: it runs as root and must depend on no library of the node.
supervisor_src="$repo/src/main/c/mirage-supervisor.c"
supervisor_sources=("$repo"/src/main/c/*.c)
supervisor_cc=${CC:-cc}
if ! command -v "$supervisor_cc" >/dev/null 2>&1; then
  echo "assemble-launcher.sh: no C compiler found ('$supervisor_cc'): one is needed to build" \
       "mirage-supervisor from $supervisor_src; install gcc (or clang) or set CC" >&2
  exit 1
fi
supervisor_out="$libexec/mirage-supervisor.tmp"
if ! "$supervisor_cc" -std=gnu11 -O2 -Wall -Wextra -s -static -o "$supervisor_out" "${supervisor_sources[@]}"; then
  rm -f "$supervisor_out"
  echo "assemble-launcher.sh: linking $supervisor_src statically with $supervisor_cc failed (see above);" \
       "a static C library is needed (Debian: libc6-dev)" >&2
  exit 1
fi
mv -f "$supervisor_out" "$libexec/mirage-supervisor"

# --- ahead-of-time cache (JDK 25+) ----------------------------------------------
# A training run of the real plugin records the classes it loaded and linked and
# which methods the JIT compiled; the launcher maps the cache and has the JIT
# compile those methods at their first call (AOTCompileEagerly). With the
# compiled test classes, the run is nomadmirage.release.AotTraining: tasks
# through the whole StartTask .. DestroyTask path (a fresh plugin's first starts
# then run compiled code); without them (-Dmaven.test.skip), only the start-up
# path (listen, handshake, shut down), which still halves the time to the
# handshake line. Whether the runtime can write a cache is asked of its flag
# table: nothing is ever written to a device path (as root, the JVM would
# replace /dev/null with a regular file when given it as the cache output).
rm -f "$libexec/app.aot" "$libexec/app.aot.tmp" "$libexec/app.aot.tmp.config"
if "$runtime/bin/java" -XX:+PrintFlagsFinal -version 2>/dev/null | grep -q '[[:space:]]AOTCacheOutput[[:space:]]'; then
  training=$(mktemp -d)
  chmod 0755 "$training"
  training_opts="-XX:AOTCacheOutput=$libexec/app.aot.tmp -Dio.netty.native.workdir=$training"
  trained=
  if [[ -f "$target/test-classes/nomadmirage/release/AotTraining.class" && $(id -u) == 0 ]]; then
    if MIRAGE_JAVA_OPTS="$training_opts" "$java_home/bin/java" \
        -cp "$target/test-classes:$target/classes:$target/lib/*" nomadmirage.release.AotTraining \
        "$launcher" "$training" 200; then
      trained=yes
    else
      echo "AOT training on task lifecycles failed (the plugin said below); training on the start-up path alone" >&2
      cat "$training/plugin.stderr" >&2 || true
      rm -f "$libexec/app.aot.tmp" "$libexec/app.aot.tmp.config"
    fi
  else
    echo "AOT training: start-up path only (the task cycles need the compiled test classes and root)" >&2
  fi
  if [[ -z "$trained" ]]; then
    NOMAD_PLUGIN_MAGIC_COOKIE=e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255 \
    PLUGIN_PROTOCOL_VERSIONS=2 TMPDIR="$training" MIRAGE_JAVA_OPTS="$training_opts" \
      "$launcher" > "$training/stdout" 2> "$training/plugin.stderr" < /dev/null &
    pid=$!
    for _ in $(seq 600); do
      [ -s "$training/stdout" ] && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
  fi
  rm -f "$libexec/app.aot.tmp.config"
  # Published in one rename: a plugin starting meanwhile never maps a half-written cache.
  if [ -f "$libexec/app.aot.tmp" ]; then
    mv -f "$libexec/app.aot.tmp" "$libexec/app.aot"
  else
    echo "AOT training run produced no cache; see below" >&2
    cat "$training/plugin.stderr" >&2 || true
  fi
  rm -rf "$training"
fi

# --- conveniences in target/ and the tarball ------------------------------------
ln -sfn "$name/nomad-driver-mirage" "$target/nomad-driver-mirage"
ln -sfn "$name/libexec/mirage-supervisor" "$target/mirage-supervisor"
rm -rf "$target/runtime" "$target/app.aot"   # layout of earlier builds

tarball="$target/$name-linux-$arch.tar.gz"
# Reproducible metadata: root-owned entries in name order with the commit's time.
mtime=$(git -C "$repo" log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
tar -C "$target" --sort=name --owner=0 --group=0 --numeric-owner --mtime="$mtime" \
  --exclude="$name/libexec/runtime/.built-from" -cf - "$name" | gzip -n -6 > "$tarball.tmp"
mv -f "$tarball.tmp" "$tarball"
(cd "$target" && sha256sum "$(basename "$tarball")" > "$(basename "$tarball").sha256")
echo "assembled $tarball ($(du -h "$tarball" | cut -f1))" >&2
