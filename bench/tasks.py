#!/usr/bin/env python3
"""Task benchmark: StartTask latency (p50/p99) over N tasks, StopTask and
DestroyTask latency (and the two together), per-task RSS overhead besides the
tender, plugin RSS with N live tasks.

Prints figures only; asserts nothing. Drives the real plugin through the Go
plugin-probe ("tasks" scenario, real go-plugin client) with the stand-in
solo5-hvt tender from the test fixtures (scripts/build-test-fixtures.sh).

Usage: bench/tasks.py [--tasks N] [--warmup N] [--probe PATH] [--launcher PATH] [--fixtures DIR] [--config KEY=JSON]...
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from benchlib import (key_values, make_alloc, ms, percentile, plugin_jvm, probe_env, release_state_dir,
                      remove_cgroup_parent, rss_kib, runtime_state_dir, uid_range)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=0,
                        help="start/stop/destroy cycles before the timed starts (reported apart)")
    parser.add_argument("--probe", default=os.path.join(REPO, "target/testbed/plugin-probe"))
    parser.add_argument("--launcher", default=os.path.join(REPO, "target/nomad-driver-mirage"))
    parser.add_argument("--fixtures", default=os.path.join(REPO, "target/fixtures"))
    parser.add_argument("--config", action="append", default=[], metavar="KEY=JSON",
                        help="extra plugin config, e.g. default_user='\"nobody\"' to share one user")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="mirage-bench-")
    cgroup_parent = f"mirage-bench-{os.getpid()}"
    os.chmod(work, 0o755)
    try:
        state = runtime_state_dir(work)
        go = os.path.join(work, "go")
        ready = os.path.join(work, "ready")
        image = os.path.join(args.fixtures, "images/standin-hello.hvt")
        warmed = os.path.join(work, "warmed")
        steps = [{"op": "launch"}, {"op": "await_file", "path": ready, "timeout": "300s"}]
        # Warm-up: start/stop/destroy cycles before the timed starts, as a plugin that has run a while has done.
        for i in range(args.warmup):
            steps.append(start_step(work, image, "warm", i))
            if i < args.warmup - 1:  # the last stays until the end: its tender file says the warm-up is over
                steps.append({"op": "stop", "task_id": f"warm{i}/t/{i:08d}", "timeout": "5s"})
                steps.append({"op": "destroy", "task_id": f"warm{i}/t/{i:08d}", "force": True})
        steps.append({"op": "await_file", "path": warmed, "timeout": "300s"})
        for i in range(args.tasks):
            steps.append(start_step(work, image, "bench", i, label=f"start{i}", alloc_name=f"alloc{i}"))
        steps.append({"op": "await_file", "path": go, "timeout": "300s"})
        if args.warmup:
            last = f"warm{args.warmup - 1}/t/{args.warmup - 1:08d}"
            steps.append({"op": "stop", "task_id": last, "timeout": "5s"})
            steps.append({"op": "destroy", "task_id": last, "force": True})
        for i in range(args.tasks):
            steps.append({"op": "stop", "label": f"stop{i}", "task_id": f"bench{i}/t/{i:08d}", "timeout": "5s"})
            steps.append({"op": "destroy", "label": f"destroy{i}", "task_id": f"bench{i}/t/{i:08d}", "force": True})
        config = {"state_dir": state, "solo5_hvt": os.path.join(args.fixtures, "bin/solo5-hvt"), "log_level": "warn"}
        config["cgroup_parent"] = cgroup_parent
        # Uids of its own: plugins whose dynamic_user ranges overlap end each other's tenders.
        config["dynamic_user_min"], config["dynamic_user_max"] = uid_range()
        for item in args.config:
            key, _, value = item.partition("=")
            config[key] = json.loads(value)
        script = {"config": config, "steps": steps}
        with open(os.path.join(work, "script.json"), "w") as f:
            json.dump(script, f)

        probe = subprocess.Popen([args.probe, "-plugin", args.launcher, "-include-log=false", "-timeout", "600s",
                                  "-script", os.path.join(work, "script.json"), "tasks"],
                                 env=probe_env(work), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        plugin_pid = None
        deadline = time.time() + 120
        while plugin_pid is None and time.time() < deadline:
            plugin_pid = plugin_jvm(probe.pid)
            time.sleep(0.1)
        time.sleep(2)  # let start-up settle before the idle reading
        idle_rss = rss_kib(plugin_pid) if plugin_pid else 0
        open(ready, "w").close()
        if args.warmup:
            await_warm_up(state, args.warmup)
        cpu_before = cpu_ticks(plugin_pid) if plugin_pid else 0
        open(warmed, "w").close()
        deadline = time.time() + 300
        tender_files = []
        while time.time() < deadline:
            tender_files = glob.glob(os.path.join(state, "tasks/bench*/tender"))
            if len(tender_files) >= args.tasks or probe.poll() is not None:
                break
            time.sleep(0.2)
        supervisors = [rss_kib(int(key_values(os.path.join(os.path.dirname(t), "supervisor"))["pid"]))
                       for t in tender_files]
        tenders = [rss_kib(int(key_values(t)["pid"])) for t in tender_files]
        plugin_rss = rss_kib(plugin_pid) if plugin_pid else 0
        cpu_starts = cpu_ticks(plugin_pid) - cpu_before if plugin_pid else 0
        open(go, "w").close()
        out, _ = probe.communicate(timeout=600)
        result = json.loads(out)

        starts = [ms(s) for s in result["steps"] if (s.get("label") or "").startswith("start") and not s["error"]]
        stops = [ms(s) for s in result["steps"] if (s.get("label") or "").startswith("stop") and not s["error"]]
        destroys = [ms(s) for s in result["steps"] if (s.get("label") or "").startswith("destroy") and not s["error"]]
        by_label = {s.get("label"): s for s in result["steps"] if s.get("label")}
        stop_destroy = [ms(by_label[f"stop{i}"]) + ms(by_label[f"destroy{i}"]) for i in range(args.tasks)
                        if f"stop{i}" in by_label and f"destroy{i}" in by_label]
        errors = [s for s in result["steps"] if s["error"]]
        print(f"tasks: {args.tasks} (stand-in solo5-hvt, --standin-run), errors: {len(errors)}"
              + (f"; timed after {args.warmup} warm-up start/stop/destroy cycles" if args.warmup else ""))
        warm = [ms(s) for s in result["steps"] if (s.get("label") or "").startswith("warm") and not s["error"]]
        if warm:
            print(f"StartTask latency of the warm-up starts (a fresh plugin): p50 {percentile(warm, 50):.1f} ms, "
                  f"first 100 p50 {percentile(warm[:100], 50):.1f} ms")
        if starts:
            print(f"StartTask latency: p50 {percentile(starts, 50):.1f} ms, p99 {percentile(starts, 99):.1f} ms, "
                  f"max {max(starts):.1f} ms")
            later = starts[len(starts) // 2:]
            print(f"StartTask latency of the later half (JIT warmer): p50 {percentile(later, 50):.1f} ms")
            print(f"plugin CPU (user+system) per StartTask: "
                  f"{cpu_starts * 1000 / os.sysconf('SC_CLK_TCK') / len(starts):.1f} ms")
        if stops:
            print(f"StopTask latency (SIGTERM, hvt exits at once): p50 {percentile(stops, 50):.1f} ms, "
                  f"p99 {percentile(stops, 99):.1f} ms")
        if destroys:
            print(f"DestroyTask latency (after the stop): p50 {percentile(destroys, 50):.1f} ms, "
                  f"p99 {percentile(destroys, 99):.1f} ms")
        if stop_destroy:
            print(f"Stop+Destroy per task: p50 {percentile(stop_destroy, 50):.1f} ms, "
                  f"p99 {percentile(stop_destroy, 99):.1f} ms")
        if supervisors:
            print(f"per-task overhead besides the tender (mirage-supervisor RSS): median "
                  f"{statistics.median(supervisors) / 1024:.2f} MiB, max {max(supervisors) / 1024:.2f} MiB")
            print(f"tender RSS (stand-in, for scale): median {statistics.median(tenders) / 1024:.1f} MiB")
        print(f"plugin RSS: idle {idle_rss / 1024:.1f} MiB, with {len(tender_files)} live tasks "
              f"{plugin_rss / 1024:.1f} MiB (+{(plugin_rss - idle_rss) / 1024 / max(1, len(tender_files)):.2f} MiB per task)")
    finally:
        remove_cgroup_parent(cgroup_parent)
        release_state_dir(os.path.join(work, "state"))
        shutil.rmtree(work, ignore_errors=True)


def start_step(work, image, prefix, i, label=None, alloc_name=None):
    """The probe's StartTask step for task PREFIX<i>/t/<i> (a stand-in hvt, 16 MB) in an allocation of its own."""
    alloc = make_alloc(work, alloc_name or f"{prefix}{i}", image)
    return {"op": "start", "label": label or f"{prefix}{i}", "task": {
        "id": f"{prefix}{i}/t/{i:08d}", "name": "t", "alloc_id": f"{prefix}{i}", "alloc_dir": alloc,
        "stdout_path": os.path.join(alloc, "alloc/logs/t.stdout"),
        "stderr_path": os.path.join(alloc, "alloc/logs/t.stderr"), "memory_mb": 16,
        "config": {"unikernel": "local/app.hvt", "args": ["--solo5:quiet", "--standin-run"]}}}


def await_warm_up(state, n):
    """Returns once the last warm-up task (which stays live until the end) has its tender recorded."""
    last = os.path.join(state, "tasks", f"warm{n - 1}.t.{n - 1:08d}", "tender")
    deadline = time.time() + 300
    while time.time() < deadline and not os.path.exists(last):
        time.sleep(0.05)


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


if __name__ == "__main__":
    main()
