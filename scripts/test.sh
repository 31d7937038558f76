#!/usr/bin/env bash
# The README test command: builds the real parts the tests run (Nomad agent,
# Go plugin-probe, test fixtures), then the plugin, then runs every test
# (unit tests with surefire, *IT integration tests with failsafe).
# Needs root (network namespaces, taps, iptables) and the packages installed
# by scripts/setup-machine.sh.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

if [[ -z "${JAVA_HOME:-}" || ! -x "$JAVA_HOME/bin/jlink" ]] || ! "$JAVA_HOME/bin/java" -version 2>&1 | grep -Eq 'version "(2[1-9]|[3-9][0-9])'; then
  JAVA_HOME=$(scripts/find-jdk.sh)
fi
export JAVA_HOME

echo "== building Nomad (cached outside the repo)" >&2
MIRAGE_NOMAD=$(scripts/build-nomad.sh)
export MIRAGE_NOMAD

echo "== building the Go plugin-probe" >&2
mkdir -p target/testbed
(cd testbed && go build -o ../target/testbed/plugin-probe ./cmd/plugin-probe)
export MIRAGE_PROBE="$repo/target/testbed/plugin-probe"

if [[ -x scripts/build-test-fixtures.sh ]]; then
  echo "== building test fixtures" >&2
  scripts/build-test-fixtures.sh target/fixtures
  export MIRAGE_FIXTURES="$repo/target/fixtures"
  echo "== testing the Solo5 tender stand-in" >&2
  (cd testbed && go test ./cmd/solo5-standin/)
fi

echo "== building and testing the plugin" >&2
exec ./mvnw -B -ntp verify "$@"
