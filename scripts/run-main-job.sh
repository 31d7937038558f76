#!/usr/bin/env bash
# The README's main job: on a fresh machine, install what is missing, build
# the plugin, then start a real Nomad agent (in its own network namespace)
# with the plugin, show the driver's health and attributes, run the example
# virtio unikernel job under qemu and show its console output and exit.
# Everything is torn down afterwards (pass --keep to leave the agent running).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

scripts/setup-machine.sh
JAVA_HOME=$(scripts/find-jdk.sh)
export JAVA_HOME
echo "== building the plugin" >&2
./mvnw -q -B -ntp package -DskipTests
echo "== building the example unikernels" >&2
scripts/build-test-fixtures.sh target/fixtures
exec scripts/dev-agent.sh run "$@"
