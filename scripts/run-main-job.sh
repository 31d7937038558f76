#!/usr/bin/env bash
# The README's main job: on a fresh machine, install what is missing, build
# the plugin, then start a real Nomad agent (in its own network namespace)
# with the plugin, show the driver's health and attributes, run the example
# virtio unikernel job under qemu and show its console output and exit.
# Everything is torn down afterwards (pass --keep to leave the agent running).
# `scripts/run-main-job.sh --help` tells more.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/run-main-job.sh [--keep]

The README's main job, from a fresh machine to a unikernel run by Nomad:
  1. install the Debian packages the machine lacks (scripts/setup-machine.sh)
  2. build the plugin (./mvnw package) and the example unikernels
     (scripts/build-test-fixtures.sh target/fixtures)
  3. build the Nomad agent, or reuse the cached build (scripts/build-nomad.sh)
  4. start an agent with the plugin in a network namespace of its own and a
     temporary run directory, show the mirage driver's health and
     attributes, run examples/jobs/hello-virtio.nomad.hcl under qemu and show
     the unikernel's console output and exit (scripts/dev-agent.sh run)
  5. stop the agent, delete its namespace and remove the run directory
Needs root (packages, network namespaces, the Nomad client).

Options:
  --keep      leave the agent running at the end and print how to use it and
              how to stop it (scripts/dev-agent.sh stop DIR)
  -h, --help  print this help and exit

Environment:
  JAVA_HOME                  a JDK 21+ with jlink to consider for the build; the
                             newest one there or under /usr/lib/jvm is used
                             (scripts/find-jdk.sh)
  TMPDIR                     where the agent's run directory is made (default /tmp)
  MIRAGE_CACHE_DIR           Nomad build cache (default /var/cache/nomad-driver-mirage)
  MIRAGE_APT_LOCK_TIMEOUT    seconds to wait for another apt's package lock (default 600)
  MIRAGE_AGENT_TIMEOUT       seconds to wait for the agent's node to be ready (default 120)
  MIRAGE_AGENT_STOP_TIMEOUT  seconds to wait for the agent to stop (default 30)
  MIRAGE_NOMAD_LOG_LEVEL     the agent's log level (default DEBUG)

Exit status: 0 when the example job completed, 2 for a bad argument, other
non-zero values when a step failed.
EOF
}

# Arguments first: a wrong one must not cost a build.
run_args=()
while (($# > 0)); do
  case $1 in
    --keep) run_args=(--keep); shift ;;
    -h | --help) usage; exit 0 ;;
    *)
      echo "run-main-job.sh: unknown argument '$1'" >&2
      echo "usage: scripts/run-main-job.sh [--keep] (--help for more)" >&2
      exit 2
      ;;
  esac
done
if ((EUID != 0)); then
  echo "run-main-job.sh: needs root (packages, network namespaces, the Nomad client); run it with sudo" >&2
  exit 1
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

scripts/setup-machine.sh
JAVA_HOME=$(scripts/find-jdk.sh)
export JAVA_HOME
echo "== building the plugin" >&2
./mvnw -q -B -ntp package -DskipTests
echo "== building the example unikernels" >&2
scripts/build-test-fixtures.sh target/fixtures
exec scripts/dev-agent.sh run "${run_args[@]}"
