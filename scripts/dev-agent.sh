#!/usr/bin/env bash
# Run a throw-away Nomad agent with the mirage driver loaded, inside a private
# network namespace. Used by the README's main job (`run`) and by the Java
# integration tests (`start` / `exec` / `restart` / `stop`).
#
# Everything an agent needs or writes lives in its run directory DIR:
#   DIR/agent.hcl      generated agent config (plugin block from --config FILE)
#   DIR/agent.env      sourceable state: netns, PID, paths, NOMAD_ADDR
#   DIR/agent.log      the agent's stdout/stderr (all restarts appended)
#   DIR/data/          Nomad data_dir (alloc dirs, client state)
#   DIR/plugins/       plugin_dir: nomad-driver-mirage -> the plugin launcher
#   DIR/bin/nomad      symlink to the cached Nomad binary (first on PATH in exec)
#
# The agent runs as `nsenter --net=/run/netns/NS nomad agent ...` rather than
# `ip netns exec`: the latter also gives the process a private mount namespace
# with a fresh /sys, which hides /sys/fs/cgroup from Nomad. With nsenter only
# the network is private; mounts Nomad makes (secrets tmpfs, ...) are visible
# from the host, and `stop` unmounts them.
#
# Run `scripts/dev-agent.sh help` for the usage.
set -euo pipefail

if ((BASH_VERSINFO[0] < 5)); then
    echo "dev-agent: error: needs bash 5 or later" >&2
    exit 1
fi

readonly PLUGIN_NAME=nomad-driver-mirage # file name in plugin_dir, plugin block label
readonly DRIVER_NAME=mirage               # name the plugin reports to Nomad
readonly API_ADDR=http://127.0.0.1:4646
readonly MARKER=.mirage-dev-agent
readonly LAB_BRIDGE=lab0 # --lab: the node's interface in the agent's namespace

script_path=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)/$(basename -- "${BASH_SOURCE[0]}")
script_dir=$(dirname -- "$script_path")
repo_dir=$(dirname -- "$script_dir")

start_timeout=${MIRAGE_AGENT_TIMEOUT:-120}
stop_timeout=${MIRAGE_AGENT_STOP_TIMEOUT:-30}
nomad_log_level=${MIRAGE_NOMAD_LOG_LEVEL:-DEBUG}

usage() {
    cat <<EOF
Usage:
  $0 start DIR [--plugin PATH | --no-plugin] [--config FILE] [--dev | --persistent]
            [--cni-path PATH] [--lab CIDR]
      Start an agent in a new network namespace, with DIR as its run directory
      (created; must be empty or a stopped run directory), and wait until its
      node is ready. The agent keeps running after this returns.
        --plugin PATH   plugin launcher (default $repo_dir/target/$PLUGIN_NAME)
        --no-plugin     load no external plugin (Nomad's built-in drivers only)
        --config FILE   file holding the plugin "$PLUGIN_NAME" block; @RUN_DIR@
                        in it is replaced by DIR (default $repo_dir/plugin-config/dev.hcl)
        --dev           \`nomad agent -dev\` (default; in-memory server state)
        --persistent    server+client (bootstrap_expect = 1) keeping state in
                        DIR/data, so it survives \`restart\`
        --cni-path PATH client cni_path: where Nomad's group networking
                        (network { mode = "bridge" }) finds the CNI plugins,
                        e.g. /usr/lib/cni (Debian's containernetworking-plugins)
        --lab CIDR      a bridge "$LAB_BRIDGE" in the agent's namespace with address
                        CIDR (e.g. 198.51.100.1/24) as the client's
                        network_interface instead of lo, so that host ports
                        are bound to a routable node address; other
                        namespaces reach it through a veth attached to
                        "$LAB_BRIDGE" (deleting the namespace removes the bridge)
  $0 exec DIR -- CMD [ARG...]
      Run CMD inside the agent's network namespace with NOMAD_ADDR=$API_ADDR
      and DIR/bin (holding \`nomad\`) first on PATH.
  $0 restart DIR
      Stop the agent process only (SIGINT; namespace, data and running tasks
      stay), start it again with the same config and wait until it is ready.
  $0 stop DIR [--keep-namespace] [--keep-dir]
      Stop the agent (SIGINT, then SIGKILL to its process group after
      ${stop_timeout} s), kill what is left in its namespace, unmount what
      Nomad mounted under DIR, delete the namespace and remove DIR.
      Idempotent; safe after a failed start. --keep-namespace keeps the
      namespace (and DIR) for inspection; a later \`stop DIR\` deletes it.
  $0 run [--keep]
      Build Nomad, start an agent with target/$PLUGIN_NAME in a temporary
      directory, show the driver's status, run the example job, stop it all
      (--keep: leave the agent running and print how to stop it).

Environment:
  MIRAGE_NOMAD                Nomad binary to use (default: scripts/build-nomad.sh output)
  MIRAGE_CACHE_DIR            build cache of scripts/build-nomad.sh
  MIRAGE_AGENT_TIMEOUT        seconds to wait for the node to be ready (default 120)
  MIRAGE_AGENT_STOP_TIMEOUT   seconds to wait for a graceful stop (default 30)
  MIRAGE_NOMAD_LOG_LEVEL      agent log level (default DEBUG)
EOF
}

log() { printf 'dev-agent: %s\n' "$*" >&2; }
warn() { printf 'dev-agent: warning: %s\n' "$*" >&2; }
die() { printf 'dev-agent: error: %s\n' "$*" >&2; exit 1; }

# Time in microseconds (bash 5's EPOCHREALTIME), and seconds since such a time.
now() { printf '%s\n' "${EPOCHREALTIME//[!0-9]/}"; }
elapsed() {
    local ds=$((($(now) - $1) / 100000))
    printf '%d.%d' $((ds / 10)) $((ds % 10))
}

require_root() {
    [[ $EUID -eq 0 ]] || die "must run as root (network namespaces, Nomad client)"
    local tool
    for tool in ip nsenter setsid findmnt umount; do
        command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on PATH"
    done
}

# Only plain paths: they are written into HCL strings and agent.env unquoted.
check_path_chars() {
    [[ "$1" =~ ^[A-Za-z0-9._/@+=,:-]+$ ]] \
        || die "path '$1' has characters this script does not handle (use [A-Za-z0-9._/@+=,:-])"
}

abs_path() { # abs_path PATH: absolute path of an existing directory
    (cd -P -- "$1" && pwd -P)
}

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

# --- state file ---------------------------------------------------------------

# Variables kept in DIR/agent.env. MIRAGE_AGENT_PID is empty while no agent
# process runs (after a failed start or `stop --keep-namespace`).
env_vars=(MIRAGE_AGENT_DIR MIRAGE_AGENT_NETNS MIRAGE_AGENT_PID MIRAGE_AGENT_MODE
    MIRAGE_AGENT_NOMAD MIRAGE_AGENT_PLUGIN MIRAGE_AGENT_CONFIG MIRAGE_AGENT_LOG
    MIRAGE_AGENT_DATA_DIR NOMAD_ADDR)

write_env() {
    local file="$MIRAGE_AGENT_DIR/agent.env" v
    {
        printf '# Written by scripts/dev-agent.sh; sourceable (values are shell-quoted).\n'
        for v in "${env_vars[@]}"; do
            printf '%s=%q\n' "$v" "${!v}"
        done
    } >"$file.tmp"
    mv -f -- "$file.tmp" "$file"
}

# load_env DIR: reads DIR/agent.env into the MIRAGE_AGENT_* variables.
# Returns 1 if there is none.
load_env() {
    local file="$1/agent.env" v
    [[ -f "$file" ]] || return 1
    for v in "${env_vars[@]}"; do
        unset "$v"
    done
    # shellcheck source=/dev/null
    source "$file"
    for v in "${env_vars[@]}"; do
        [[ -v $v ]] || die "$file lacks $v; not a run directory of this script?"
    done
    [[ "$MIRAGE_AGENT_NETNS" =~ ^mirage-[0-9a-f]+$ ]] \
        || die "$file names namespace '$MIRAGE_AGENT_NETNS', which this script did not create"
}

netns_path() { printf '/run/netns/%s' "$MIRAGE_AGENT_NETNS"; }
netns_exists() { [[ -n "${MIRAGE_AGENT_NETNS:-}" && -e "$(netns_path)" ]]; }

# in_netns CMD...: runs CMD in the agent's network namespace (host mount
# namespace), with NOMAD_ADDR set, DIR/bin first on PATH and the CLI's
# "View ... in the Web UI" hints off (unless NOMAD_CLI_SHOW_HINTS is set).
in_netns() {
    nsenter --net="$(netns_path)" -- \
        env NOMAD_ADDR="$NOMAD_ADDR" PATH="$MIRAGE_AGENT_DIR/bin:$PATH" \
        NOMAD_CLI_SHOW_HINTS="${NOMAD_CLI_SHOW_HINTS:-false}" "$@"
}

# --- processes ----------------------------------------------------------------

pid_alive() { # true if PID exists and is not a zombie
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ "${stat%% *}" != Z ]]
}

# True if PID is the agent of this run directory (guards against PID reuse).
is_our_agent() {
    local pid=$1 cmdline
    [[ -n "$pid" ]] && pid_alive "$pid" || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ "$cmdline" == *" agent "*"-config $MIRAGE_AGENT_DIR/agent.hcl"* ]]
}

wait_exit() { # wait_exit PID SECONDS: true once PID is gone
    local pid=$1 deadline
    deadline=$(($(now) + $2 * 1000000))
    while pid_alive "$pid"; do
        (($(now) < deadline)) || return 1
        sleep 0.2
    done
}

# stop_agent_process GROUP: SIGINT to the agent, wait, then SIGKILL (to the
# whole process group if GROUP is 1, else to the agent only).
stop_agent_process() {
    local group=$1 pid=${MIRAGE_AGENT_PID:-}
    if ! is_our_agent "$pid"; then
        [[ -z "$pid" ]] || log "agent (PID $pid) is not running"
        return 0
    fi
    log "stopping agent (PID $pid, SIGINT; up to ${stop_timeout} s)"
    kill -INT "$pid" 2>/dev/null || true
    if wait_exit "$pid" "$stop_timeout"; then
        log "agent exited"
        return 0
    fi
    if [[ $group == 1 ]]; then
        warn "agent did not exit within ${stop_timeout} s; killing its process group"
        kill -KILL -- "-$pid" 2>/dev/null || true
    else
        warn "agent did not exit within ${stop_timeout} s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait_exit "$pid" 10 || die "agent (PID $pid) survives SIGKILL"
}

# Alloc IDs teardown saw before stopping the agent: a -dev agent destroys its
# allocations on shutdown and removes their directories, but may exit before
# it has deleted their network namespaces (bridge mode).
remembered_alloc_ids=()

# Alloc IDs this run's client created (names of DIR/data/alloc/*, and those
# remembered).
alloc_ids() {
    local d id
    {
        for d in "$MIRAGE_AGENT_DATA_DIR"/alloc/*/; do
            [[ -d "$d" ]] || continue
            id=$(basename -- "$d")
            [[ "$id" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] && printf '%s\n' "$id"
        done
        ((${#remembered_alloc_ids[@]} == 0)) || printf '%s\n' "${remembered_alloc_ids[@]}"
    } | sort -u
}

# Processes that certainly belong to this run: those in its network namespace
# and in the per-alloc namespaces its client created (bridge networking).
run_pids() {
    local id
    if netns_exists; then
        ip netns pids "$MIRAGE_AGENT_NETNS" 2>/dev/null || true
    fi
    while IFS= read -r id; do
        if [[ -e "/run/netns/$id" ]]; then
            ip netns pids "$id" 2>/dev/null || true
        fi
    done < <(alloc_ids)
}

kill_leftovers() {
    local -a pids
    local round
    for round in $(seq 1 50); do
        mapfile -t pids < <(run_pids | sort -un | grep -vx -e "$$" -e "$BASHPID" || true)
        ((${#pids[@]} > 0)) || return 0
        ((round > 1)) || log "killing ${#pids[@]} leftover process(es) of this run: ${pids[*]}"
        kill -KILL "${pids[@]}" 2>/dev/null || true
        sleep 0.2
    done
    warn "processes of this run still alive: ${pids[*]}"
}

# --- mounts, namespaces, cgroups ----------------------------------------------

# Mount points at or below DIR, deepest first (findmnt escapes blanks as \x20).
mounts_under() {
    local dir=$1 target
    findmnt -rn -o TARGET | while IFS= read -r target; do
        target=$(printf '%b' "$target")
        if [[ "$target" == "$dir" || "$target" == "$dir"/* ]]; then
            printf '%s\n' "$target"
        fi
    done | LC_ALL=C sort -ru
}

unmount_under() {
    local dir=$1 round target
    local -a targets
    for round in 1 2 3 4 5; do
        mapfile -t targets < <(mounts_under "$dir")
        ((${#targets[@]} > 0)) || return 0
        for target in "${targets[@]}"; do
            log "unmounting $target"
            umount -- "$target" 2>/dev/null || umount -l -- "$target" 2>/dev/null \
                || warn "cannot unmount $target"
        done
    done
    mapfile -t targets < <(mounts_under "$dir")
    ((${#targets[@]} == 0)) || warn "still mounted under $dir: ${targets[*]}"
}

delete_alloc_netns() {
    local id
    while IFS= read -r id; do
        if [[ -e "/run/netns/$id" ]]; then
            log "deleting alloc network namespace $id"
            ip netns delete "$id" 2>/dev/null || warn "cannot delete network namespace $id"
        fi
    done < <(alloc_ids)
}

# CNI's host-local IPAM keeps its leases on the host filesystem, which Nomad
# releases only when it tears an allocation's network down; an agent stopped
# with bridge-mode allocations still running leaves them. Removes the leases
# and cached CNI results of this run's allocations (never another's).
release_cni_state() {
    local cni=/var/lib/cni id lease
    [[ -d "$cni" ]] || return 0
    while IFS= read -r id; do
        for lease in "$cni"/networks/*/*; do
            [[ -f "$lease" ]] || continue
            # A lease holds the container (alloc) id, "\r\n", the interface name.
            if [[ "$(head -n 1 -- "$lease" 2>/dev/null | tr -d "\r")" == "$id" ]]; then
                log "releasing CNI lease $lease of alloc $id"
                rm -f -- "$lease"
            fi
        done
        rm -f -- "$cni"/results/*-"$id"-*
    done < <(alloc_ids)
}

# Nomad puts each task in cgroups named ALLOC_ID.TASK (v1, below
# /sys/fs/cgroup/CONTROLLER/nomad) or ALLOC_ID.TASK.scope (v2, below
# /sys/fs/cgroup/nomad.slice). The parents (nomad, nomad.slice and their
# share/reserve partitions) are shared by every agent on the host and left.
remove_alloc_cgroups() {
    local id base cg
    local -a bases=()
    for base in /sys/fs/cgroup/nomad.slice /sys/fs/cgroup/*/nomad /sys/fs/cgroup/*/nomad.slice; do
        [[ -d "$base" ]] && bases+=("$base")
    done
    ((${#bases[@]} > 0)) || return 0
    while IFS= read -r id; do
        while IFS= read -r cg; do
            if rmdir -- "$cg" 2>/dev/null; then
                log "removed cgroup $cg"
            else
                warn "cannot remove cgroup $cg"
            fi
        done < <(find "${bases[@]}" -depth -type d -name "$id.*" 2>/dev/null)
    done < <(alloc_ids)
}

# Paths of the unix sockets bound in the agent's network namespace: go-plugin
# sockets of Nomad's logmon/executor (/tmp/plugin*) and the driver plugin's.
# A killed process leaves its socket file behind.
netns_socket_paths() {
    netns_exists || return 0
    nsenter --net="$(netns_path)" cat /proc/self/net/unix 2>/dev/null \
        | awk 'NR > 1 && $8 ~ /^\// { print $8 }' || true
}

# remove_sockets PATH...: removes the given socket files left in the temp
# directory, and their parent directory if that is now empty (not /tmp).
remove_sockets() {
    local tmp=${TMPDIR:-/tmp} path parent
    tmp=${tmp%/}
    for path in "$@"; do
        [[ "$path" == /tmp/?* || "$path" == "$tmp"/?* ]] || continue
        [[ -S "$path" ]] || continue
        rm -f -- "$path"
        parent=$(dirname -- "$path")
        if [[ "$parent" != /tmp && "$parent" != "$tmp" ]]; then
            rmdir -- "$parent" 2>/dev/null || true
        fi
    done
}

# teardown KEEP_NS KEEP_DIR: everything `stop` does, for the loaded env.
teardown() {
    local keep_ns=$1 keep_dir=$2 dir=$MIRAGE_AGENT_DIR
    local -a sockets
    mapfile -t sockets < <(netns_socket_paths)
    mapfile -t remembered_alloc_ids < <(alloc_ids)
    stop_agent_process 1
    MIRAGE_AGENT_PID=
    write_env
    mapfile -t -O "${#sockets[@]}" sockets < <(netns_socket_paths)
    kill_leftovers
    ((${#sockets[@]} == 0)) || remove_sockets "${sockets[@]}"
    unmount_under "$dir"
    delete_alloc_netns
    release_cni_state
    remove_alloc_cgroups
    if [[ $keep_ns == 1 ]]; then
        if netns_exists; then
            log "kept network namespace $MIRAGE_AGENT_NETNS and $dir; \`$0 stop $dir\` deletes them"
        fi
        return 0
    fi
    if netns_exists; then
        log "deleting network namespace $MIRAGE_AGENT_NETNS"
        ip netns delete "$MIRAGE_AGENT_NETNS" || warn "cannot delete network namespace $MIRAGE_AGENT_NETNS"
    fi
    rm -f -- "$dir/agent.env"
    remove_dir "$dir" "$keep_dir"
}

remove_dir() { # remove_dir DIR KEEP_DIR: removes DIR if this script created it
    local dir=$1 keep=$2
    [[ $keep == 1 ]] && return 0
    if [[ ! -e "$dir/$MARKER" ]]; then
        warn "not removing $dir: it lacks the $MARKER marker"
        return 0
    fi
    # --one-file-system: never delete through a mount that survived unmounting.
    rm -rf --one-file-system -- "$dir" || warn "could not remove all of $dir"
    [[ -e "$dir" ]] || log "removed $dir"
}

# --- start ----------------------------------------------------------------------

resolve_nomad() {
    local nomad
    if [[ -n "${MIRAGE_NOMAD:-}" ]]; then
        nomad=$MIRAGE_NOMAD
    else
        nomad=$("$script_dir/build-nomad.sh") || die "building Nomad failed"
    fi
    [[ -x "$nomad" && ! -d "$nomad" ]] || die "Nomad binary '$nomad' is not executable"
    [[ "$nomad" == /* ]] || nomad="$(abs_path "$(dirname -- "$nomad")")/$(basename -- "$nomad")"
    printf '%s\n' "$nomad"
}

# write_agent_config DIR MODE PLUGIN_CONFIG CNI_PATH LAB_CIDR (the last three
# may be empty).
write_agent_config() {
    local dir=$1 mode=$2 plugin_config=$3 cni_path=$4 lab=$5 out="$1/agent.hcl"
    local interface=lo cni_line=""
    [[ -z "$lab" ]] || interface=$LAB_BRIDGE
    # --cni-path: the CNI plugins of group networking (bridge mode).
    [[ -z "$cni_path" ]] || cni_line=$'\n  cni_path          = "'"$cni_path"'"'
    {
        cat <<EOF
# Generated by scripts/dev-agent.sh ($mode mode); rewritten on every start.
name                 = "$MIRAGE_AGENT_NETNS"
data_dir             = "$dir/data"
plugin_dir           = "$dir/plugins"
bind_addr            = "127.0.0.1"
log_level            = "$nomad_log_level"
disable_update_check = true

# The agent has a network namespace of its own: the default ports are free.
ports {
  http = 4646
  rpc  = 4647
  serf = 4648
}

# Loopback is all there is in the namespace (non-dev mode refuses to default
# to it).
advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}

client {
  enabled           = true
  network_interface = "$interface"$cni_line
  options = {
    # No cloud metadata services here; skip their probes.
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
  }
}

telemetry {
  publish_allocation_metrics = true
  publish_node_metrics       = true
  collection_interval        = "1s"
}

consul {
  auto_advertise   = false
  server_auto_join = false
  client_auto_join = false
}
EOF
        if [[ $mode == persistent ]]; then
            cat <<'EOF'

server {
  enabled          = true
  bootstrap_expect = 1
}

# As in -dev mode, so that both modes offer the same built-in drivers.
plugin "raw_exec" {
  config {
    enabled = true
  }
}
EOF
        fi
        if [[ -n "$plugin_config" ]]; then
            printf '\n# ---- from %s (@RUN_DIR@ = %s) ----\n' "$plugin_config" "$dir"
            sed "/^[[:space:]]*#/!{s|@RUN_DIR@|$dir|g;s|@REPO@|$repo_dir|g}" -- "$plugin_config"
        fi
    } >"$out"
}

# Starts the agent process in the background and records its PID.
launch_agent() {
    local -a args=(agent)
    [[ $MIRAGE_AGENT_MODE == dev ]] && args+=(-dev)
    args+=(-config "$MIRAGE_AGENT_CONFIG")
    printf '\n==== %s dev-agent.sh: %s %s (netns %s)\n' "$(date -u +%FT%TZ)" \
        "$MIRAGE_AGENT_NOMAD" "${args[*]}" "$MIRAGE_AGENT_NETNS" >>"$MIRAGE_AGENT_LOG"
    # No job control here, so the background child is no process-group leader
    # and setsid(1) makes it one without forking: $! is the agent itself (the
    # subshell execs setsid, which execs nsenter, which execs Nomad), leading a
    # process group and session of its own. It works in DIR, not in the
    # caller's directory.
    (
        cd -- "$MIRAGE_AGENT_DIR"
        exec setsid nsenter --net="$(netns_path)" -- "$MIRAGE_AGENT_NOMAD" "${args[@]}" \
            </dev/null >>"$MIRAGE_AGENT_LOG" 2>&1
    ) &
    MIRAGE_AGENT_PID=$!
    disown "$MIRAGE_AGENT_PID" # no "Killed" job report from this shell
    write_env
}

# driver_row STATUS: "DETECTED HEALTHY" of the mirage driver from the Drivers
# table of `nomad node status -verbose` output; empty if it is not listed.
driver_row() {
    awk -v d="$DRIVER_NAME" '
        /^Drivers$/ { on = 1; next }
        on && /^$/ { exit }
        on && $1 == d { print $2, $3; exit }' <<<"$1"
}

# Polls `nomad node status -self` until the node is ready and, if a plugin is
# configured, the mirage driver has reported its first fingerprint (a node
# can turn ready before every driver has).
wait_ready() {
    local t0=$1 deadline out row="" ready=0
    local -a status_cmd=(nomad node status -self)
    [[ -z "$MIRAGE_AGENT_PLUGIN" ]] || status_cmd+=(-verbose)
    deadline=$(($(now) + start_timeout * 1000000))
    log "waiting up to ${start_timeout} s for the node to be ready"
    while :; do
        if ! pid_alive "$MIRAGE_AGENT_PID"; then
            log "agent process exited"
            return 1
        fi
        if out=$(in_netns "${status_cmd[@]}" 2>/dev/null) \
            && grep -Eq '^Status[[:space:]]+=[[:space:]]+ready' <<<"$out"; then
            if ((ready == 0)); then
                ready=1
                log "node $(awk -F' = ' '/^ID /{print $2; exit}' <<<"$out") ready $(elapsed "$t0") s after start"
            fi
            [[ -z "$MIRAGE_AGENT_PLUGIN" ]] && return 0
            row=$(driver_row "$out")
            if [[ -n "$row" ]]; then
                if [[ "$row" == "true true" ]]; then
                    log "driver '$DRIVER_NAME' detected and healthy $(elapsed "$t0") s after start"
                else
                    warn "driver '$DRIVER_NAME' is not healthy (detected/healthy: ${row/ //}); see $MIRAGE_AGENT_LOG"
                fi
                return 0
            fi
        fi
        if (($(now) >= deadline)); then
            if ((ready == 0)); then
                log "node not ready after ${start_timeout} s"
            else
                log "driver '$DRIVER_NAME' did not show up on the node within ${start_timeout} s"
            fi
            return 1
        fi
        sleep 0.5
    done
}

print_log_tail() {
    if [[ -f "${MIRAGE_AGENT_LOG:-}" ]]; then
        printf 'dev-agent: ---- last 60 lines of %s ----\n' "$MIRAGE_AGENT_LOG" >&2
        tail -n 60 -- "$MIRAGE_AGENT_LOG" >&2 || true
        printf 'dev-agent: ---- end of log ----\n' >&2
    fi
}

start_failed() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [[ -n "${start_interrupted:-}" ]]; then
        log "interrupted; tearing down"
    else
        log "start failed; tearing down"
        print_log_tail
    fi
    # The agent is broken anyway: do not wait long for a graceful exit.
    ((stop_timeout <= 5)) || stop_timeout=5
    if [[ -n "${MIRAGE_AGENT_DIR:-}" && -f "$MIRAGE_AGENT_DIR/agent.env" ]]; then
        teardown 0 1
        log "kept $MIRAGE_AGENT_DIR (agent.log, agent.hcl); \`$0 stop $MIRAGE_AGENT_DIR\` removes it"
    fi
    exit $((rc == 0 ? 1 : rc))
}

# prepare_run_dir DIR: creates DIR, or accepts it if empty or a stopped run
# directory of this script; prints its absolute path.
prepare_run_dir() {
    local dir=$1
    mkdir -p -- "$dir"
    dir=$(abs_path "$dir")
    check_path_chars "$dir"
    if [[ -f "$dir/agent.env" ]]; then
        die "$dir already has an agent (agent.env); \`$0 stop $dir\` first"
    fi
    if [[ ! -e "$dir/$MARKER" ]] && [[ -n "$(ls -A -- "$dir")" ]]; then
        die "$dir is neither empty nor a run directory of this script"
    fi
    printf '%s\n' "$dir"
}

cmd_start() {
    local dir="" plugin="$repo_dir/target/$PLUGIN_NAME" plugin_config="$repo_dir/plugin-config/dev.hcl"
    local mode=dev no_plugin=0 cni_path="" lab=""
    while (($# > 0)); do
        case $1 in
            --plugin) (($# >= 2)) || die "--plugin needs a path"; plugin=$2; shift 2 ;;
            --no-plugin) no_plugin=1; shift ;;
            --config) (($# >= 2)) || die "--config needs a file"; plugin_config=$2; shift 2 ;;
            --dev) mode=dev; shift ;;
            --persistent) mode=persistent; shift ;;
            --cni-path) (($# >= 2)) || die "--cni-path needs a directory"; cni_path=$2; shift 2 ;;
            --lab) (($# >= 2)) || die "--lab needs an address (CIDR)"; lab=$2; shift 2 ;;
            -h | --help) usage; exit 0 ;;
            -*) die "start: unknown option $1" ;;
            *) [[ -z "$dir" ]] || die "start: more than one DIR"; dir=$1; shift ;;
        esac
    done
    [[ -n "$dir" ]] || die "start: DIR missing (see \`$0 help\`)"
    is_uint "$start_timeout" || die "MIRAGE_AGENT_TIMEOUT must be a number of seconds"
    require_root

    if [[ $no_plugin == 1 ]]; then
        plugin="" plugin_config=""
    else
        [[ -f "$plugin" && -x "$plugin" ]] \
            || die "plugin launcher $plugin not found or not executable; build it first (./mvnw -q package -DskipTests) or pass --no-plugin"
        plugin="$(abs_path "$(dirname -- "$plugin")")/$(basename -- "$plugin")"
        [[ -f "$plugin_config" ]] || die "plugin config $plugin_config not found"
        grep -Eq "^[[:space:]]*plugin[[:space:]]+\"$PLUGIN_NAME\"" -- "$plugin_config" \
            || die "$plugin_config holds no plugin \"$PLUGIN_NAME\" block"
        plugin_config="$(abs_path "$(dirname -- "$plugin_config")")/$(basename -- "$plugin_config")"
    fi

    if [[ -n "$cni_path" ]]; then
        [[ -d "$cni_path" ]] \
            || die "CNI plugin directory $cni_path not found (Debian: apt-get install containernetworking-plugins)"
        cni_path=$(abs_path "$cni_path")
        check_path_chars "$cni_path"
    fi
    if [[ -n "$lab" ]]; then
        [[ "$lab" =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$ ]] \
            || die "--lab wants an IPv4 address with a prefix length, e.g. 198.51.100.1/24"
    fi

    local nomad
    nomad=$(resolve_nomad)
    dir=$(prepare_run_dir "$dir")

    local t0 ns
    t0=$(now)
    ns="mirage-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
    [[ ! -e "/run/netns/$ns" ]] || die "network namespace $ns exists already; try again"

    MIRAGE_AGENT_DIR=$dir
    MIRAGE_AGENT_NETNS=$ns
    MIRAGE_AGENT_PID=
    MIRAGE_AGENT_MODE=$mode
    MIRAGE_AGENT_NOMAD=$nomad
    MIRAGE_AGENT_PLUGIN=$plugin
    MIRAGE_AGENT_CONFIG=$dir/agent.hcl
    MIRAGE_AGENT_LOG=$dir/agent.log
    MIRAGE_AGENT_DATA_DIR=$dir/data
    NOMAD_ADDR=$API_ADDR

    touch -- "$dir/$MARKER"
    mkdir -p -- "$dir/data" "$dir/plugins" "$dir/bin"
    ln -sfn -- "$nomad" "$dir/bin/nomad"
    rm -f -- "$dir/plugins/$PLUGIN_NAME"
    [[ -z "$plugin" ]] || ln -s -- "$plugin" "$dir/plugins/$PLUGIN_NAME"
    write_agent_config "$dir" "$mode" "$plugin_config" "$cni_path" "$lab"

    # From here on a failure (or Ctrl-C) tears the run down again.
    trap start_failed EXIT
    trap 'start_interrupted=1; exit 130' INT
    trap 'start_interrupted=1; exit 143' TERM
    write_env
    log "creating network namespace $ns"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    if [[ -n "$lab" ]]; then
        log "adding bridge $LAB_BRIDGE ($lab) in $ns"
        ip -n "$ns" link add "$LAB_BRIDGE" type bridge
        ip -n "$ns" addr add "$lab" dev "$LAB_BRIDGE"
        ip -n "$ns" link set "$LAB_BRIDGE" up
    fi
    log "starting Nomad agent ($mode mode${plugin:+, plugin $plugin}); log: $MIRAGE_AGENT_LOG"
    launch_agent
    wait_ready "$t0"
    trap - EXIT INT TERM
    log "agent running: PID $MIRAGE_AGENT_PID, netns $ns, state in $dir/agent.env"
}

# --- exec / restart / stop --------------------------------------------------------

load_run_dir() { # load_run_dir DIR: dies unless DIR holds a run of this script
    local dir=$1
    [[ -d "$dir" ]] || die "no run directory $dir"
    dir=$(abs_path "$dir")
    load_env "$dir" || die "$dir holds no agent (no agent.env)"
}

cmd_exec() {
    (($# >= 1)) || die "exec: DIR missing"
    local dir=$1
    shift
    [[ "${1:-}" == -- ]] && shift
    (($# >= 1)) || die "exec: no command given (usage: $0 exec DIR -- CMD...)"
    require_root
    load_run_dir "$dir"
    netns_exists || die "network namespace $MIRAGE_AGENT_NETNS is gone"
    in_netns "$@"
}

cmd_restart() {
    (($# == 1)) || die "usage: $0 restart DIR"
    require_root
    load_run_dir "$1"
    netns_exists || die "network namespace $MIRAGE_AGENT_NETNS is gone; use start"
    [[ $MIRAGE_AGENT_MODE == persistent ]] \
        || warn "dev mode keeps no state: the restarted agent is a new, empty cluster"
    local t0
    stop_agent_process 0
    MIRAGE_AGENT_PID=
    write_env
    t0=$(now)
    log "starting Nomad agent again"
    launch_agent
    if ! wait_ready "$t0"; then
        print_log_tail
        die "restarted agent is not ready; \`$0 stop $MIRAGE_AGENT_DIR\` cleans up"
    fi
}

cmd_stop() {
    local dir="" keep_ns=0 keep_dir=0
    while (($# > 0)); do
        case $1 in
            --keep-namespace) keep_ns=1; keep_dir=1; shift ;;
            --keep-dir) keep_dir=1; shift ;;
            -*) die "stop: unknown option $1" ;;
            *) [[ -z "$dir" ]] || die "stop: more than one DIR"; dir=$1; shift ;;
        esac
    done
    [[ -n "$dir" ]] || die "stop: DIR missing"
    is_uint "$stop_timeout" || die "MIRAGE_AGENT_STOP_TIMEOUT must be a number of seconds"
    if [[ ! -d "$dir" ]]; then
        log "$dir does not exist; nothing to stop"
        return 0
    fi
    require_root
    dir=$(abs_path "$dir")
    if load_env "$dir"; then
        trap '' INT # finish the cleanup even on Ctrl-C
        teardown "$keep_ns" "$keep_dir"
        trap - INT
    else
        # No agent.env: already stopped (or a failed start that cleaned up).
        unmount_under "$dir"
        remove_dir "$dir" "$keep_dir"
    fi
}

# --- run (the README's main job) --------------------------------------------------

# Prints the driver part of `nomad node status -self -verbose`: the Drivers
# table and the driver.mirage* attributes.
show_driver_status() {
    local dir=$1 out
    out=$("$script_path" exec "$dir" -- nomad node status -self -verbose)
    printf '\n== Drivers ==\n'
    awk '/^Drivers$/ { on = 1; next } on && /^$/ { exit } on' <<<"$out"
    printf '\n== driver.mirage attributes ==\n'
    grep -E '^driver\.mirage([.[:space:]]|$)' <<<"$out" || printf '(none: the mirage driver was not detected)\n'
    printf '\n'
}

# ---------------------------------------------------------------------------
# run_example_job DIR
# The main job's workload: the virtio hello unikernel (examples/jobs/
# hello-virtio.nomad.hcl) under real qemu; shows its console (nomad alloc
# logs) and its exit (nomad alloc status).
# ---------------------------------------------------------------------------
run_example_job() {
    local dir=$1
    local image="$repo_dir/target/fixtures/images/virtio-hello.virtio"
    local job="$repo_dir/examples/jobs/hello-virtio.nomad.hcl"
    [[ -f "$image" ]] || die "the example unikernel is not built ($image missing); run scripts/build-test-fixtures.sh target/fixtures"
    printf '\n== nomad job run %s ==\n' "${job#"$repo_dir"/}"
    "$script_path" exec "$dir" -- nomad job run -var "image=$image" "$job"
    local alloc status=""
    alloc=$("$script_path" exec "$dir" -- nomad job allocs -json hello-virtio | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ID"])')
    for _ in $(seq 120); do
        status=$("$script_path" exec "$dir" -- nomad alloc status -json "$alloc" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ClientStatus"])')
        [[ $status == complete || $status == failed ]] && break
        sleep 1
    done
    printf '\n== nomad alloc logs %s hello (the unikernel console) ==\n' "${alloc:0:8}"
    "$script_path" exec "$dir" -- nomad alloc logs "$alloc" hello || true
    printf '\n== nomad alloc status %s ==\n' "${alloc:0:8}"
    if [[ $status == complete ]]; then
        "$script_path" exec "$dir" -- nomad alloc status "$alloc" | sed -n '/^Recent Events/,$p'
    else
        "$script_path" exec "$dir" -- nomad alloc status "$alloc"
    fi
    [[ $status == complete ]] || die "the example job ended as '$status', expected complete"
    printf '\nThe unikernel ran under Nomad and exited successfully.\n'
}

cmd_run() {
    local keep=0
    while (($# > 0)); do
        case $1 in
            --keep) keep=1; shift ;;
            *) die "run: unknown argument $1" ;;
        esac
    done
    require_root
    local nomad plugin="$repo_dir/target/$PLUGIN_NAME"
    nomad=$("$script_dir/build-nomad.sh") || die "building Nomad failed"
    [[ -x "$plugin" ]] || die "the plugin is not built ($plugin missing); run \`./mvnw -q package -DskipTests\` first"

    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/mirage-dev.XXXXXX")
    # Tenders run as unprivileged users (a uid of their own per task), which must reach the task directories below.
    chmod 0755 "$dir"
    # Tear down on any exit, including Ctrl-C, unless --keep succeeded.
    # shellcheck disable=SC2064 # expand $dir now
    trap "'$script_path' stop '$dir' || true" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    MIRAGE_NOMAD=$nomad "$script_path" start "$dir" --plugin "$plugin"
    show_driver_status "$dir"
    run_example_job "$dir"

    if [[ $keep == 1 ]]; then
        trap - EXIT INT TERM
        cat <<EOF
The agent keeps running (run directory $dir).
  use it:   $script_path exec $dir -- nomad node status -self -verbose
  log:      $dir/agent.log
  stop it:  $script_path stop $dir
EOF
    fi
}

main() {
    (($# >= 1)) || { usage >&2; exit 2; }
    local cmd=$1
    shift
    case $cmd in
        start) cmd_start "$@" ;;
        exec) cmd_exec "$@" ;;
        restart) cmd_restart "$@" ;;
        stop) cmd_stop "$@" ;;
        run) cmd_run "$@" ;;
        help | -h | --help) usage ;;
        *) usage >&2; die "unknown command '$cmd'" ;;
    esac
}

main "$@"
