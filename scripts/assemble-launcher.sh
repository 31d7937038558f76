#!/usr/bin/env bash
# Assembles the runnable plugin in the Maven target directory:
#   target/nomad-driver-mirage   launcher that execs the JVM (so Nomad records the JVM's PID)
#   target/runtime/              Java runtime trimmed with jlink from the JDK running the build
#   target/<jar> + target/lib/   the application
# Called by Maven in the package phase: assemble-launcher.sh TARGET_DIR JAR_NAME
set -euo pipefail

target=$1
jar=$2
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
modules=java.base,java.logging,java.naming,java.management,jdk.unsupported

runtime="$target/runtime"
stamp="$runtime/.built-from"
wanted="$("$java_home/bin/java" -version 2>&1 | head -1) $modules"
if [[ ! -x "$runtime/bin/java" || "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
  rm -rf "$runtime"
  "$java_home/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files \
    --no-man-pages --compress=zip-6 --output "$runtime"
  # The default CDS archive of the JDK classes, regenerated for the trimmed module set.
  "$runtime/bin/java" -Xshare:dump -XX:SharedArchiveFile="$runtime/lib/server/classes.jsa" >/dev/null 2>&1 || true
  printf '%s' "$wanted" > "$stamp"
fi

launcher="$target/nomad-driver-mirage"
cat > "$launcher" <<LAUNCHER
#!/bin/sh
# nomad-driver-mirage launcher: resolves its real location (it may be copied
# or symlinked into Nomad's plugin_dir) and execs the bundled Java runtime.
self=\$(readlink -f "\$0")
home=\${MIRAGE_HOME:-\$(dirname "\$self")}
# A plain copy of this file has no runtime beside it: fall back to where it was built.
[ -x "\$home/runtime/bin/java" ] || home="$(cd "$target" && pwd)"
aot=
[ -f "\$home/app.aot" ] && aot="-XX:AOTCache=\$home/app.aot"
# JVM diagnostics go to stderr: stdout carries only the go-plugin handshake line.
exec "\$home/runtime/bin/java" \$aot -Xlog:disable -Xlog:all=warning:stderr \\
  -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 \\
  -Xss512k -Xms16m -Xmx160m -XX:MaxMetaspaceSize=96m -XX:ReservedCodeCacheSize=24m \\
  -XX:MaxDirectMemorySize=64m -XX:+ExitOnOutOfMemoryError --enable-native-access=ALL-UNNAMED \\
  --sun-misc-unsafe-memory-access=allow \\
  -Dio.netty.allocator.type=unpooled -Dio.netty.tryReflectionSetAccessible=true \\
  -Dmirage.home="\$home" \${MIRAGE_JAVA_OPTS:-} \\
  -jar "\$home/$jar" "\$@"
LAUNCHER
chmod 0755 "$launcher"

# Ahead-of-time cache (JDK 25+): one training run of the real start-up path
# (listen, handshake, shut down) records the loaded and linked classes, which
# roughly halves the time to the handshake line.
rm -f "$target/app.aot" "$target/app.aot.tmp"
if "$runtime/bin/java" -XX:AOTCacheOutput=/dev/null -version >/dev/null 2>&1; then
  training=$(mktemp -d)
  NOMAD_PLUGIN_MAGIC_COOKIE=e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255 \
  PLUGIN_PROTOCOL_VERSIONS=2 TMPDIR="$training" \
  MIRAGE_JAVA_OPTS="-XX:AOTCacheOutput=$target/app.aot.tmp" \
    "$launcher" > "$training/stdout" 2> "$training/stderr" < /dev/null &
  pid=$!
  for _ in $(seq 600); do
    [ -s "$training/stdout" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || true
  # Published in one rename: a plugin starting meanwhile never maps a half-written cache.
  if [ -f "$target/app.aot.tmp" ]; then
    mv -f "$target/app.aot.tmp" "$target/app.aot"
  else
    echo "AOT training run produced no cache; see below" >&2
    cat "$training/stderr" >&2
  fi
  rm -rf "$training"
fi

# --- mirage-supervisor -------------------------------------------------------
# target/mirage-supervisor: the small C program (src/main/c/mirage-supervisor.c)
# that supervises each tender outside the JVM, so tasks survive the plugin.
# Linked statically when the C library allows it: about 0.7 MB resident per
# task instead of 1.5 MB for the dynamically linked build.
supervisor_src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/src/main/c/mirage-supervisor.c"
supervisor_cc=${CC:-cc}
if ! command -v "$supervisor_cc" >/dev/null 2>&1; then
  echo "assemble-launcher.sh: no C compiler found ('$supervisor_cc'): one is needed to build" \
       "$target/mirage-supervisor from $supervisor_src; install gcc (or clang) or set CC" >&2
  exit 1
fi
supervisor_flags=(-std=gnu11 -O2 -Wall -Wextra -s)
supervisor_out="$target/mirage-supervisor.tmp"
supervisor_log=$(mktemp)
if "$supervisor_cc" "${supervisor_flags[@]}" -static -o "$supervisor_out" "$supervisor_src" 2>"$supervisor_log"; then
  cat "$supervisor_log" >&2
elif ! "$supervisor_cc" "${supervisor_flags[@]}" -o "$supervisor_out" "$supervisor_src"; then
  rm -f "$supervisor_log" "$supervisor_out"
  echo "assemble-launcher.sh: compiling $supervisor_src with $supervisor_cc failed (see above)" >&2
  exit 1
fi
rm -f "$supervisor_log"
mv -f "$supervisor_out" "$target/mirage-supervisor"
