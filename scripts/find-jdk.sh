#!/usr/bin/env bash
# Prints the JAVA_HOME of the newest JDK (21 or later, with jlink) on this machine.
set -euo pipefail
best=
best_version=0
for home in /usr/lib/jvm/*/ "${JAVA_HOME:-}"; do
  home=${home%/}
  [[ -n "$home" && -x "$home/bin/jlink" && -x "$home/bin/java" ]] || continue
  version=$("$home/bin/java" -version 2>&1 | sed -nE '1s/.*version "([0-9]+).*/\1/p')
  if [[ -n "$version" && "$version" -ge 21 && "$version" -gt "$best_version" ]]; then
    best=$home
    best_version=$version
  fi
done
if [[ -z "$best" ]]; then
  echo "no JDK 21 or newer with jlink found under /usr/lib/jvm; install one (e.g. Temurin 25)" >&2
  exit 1
fi
echo "$best"
