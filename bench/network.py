#!/usr/bin/env python3
"""Networking benchmark: StartTask latency of a task with one NET device and
two ports: the cold first start of a fresh plugin; then, after warm-up cycles, at 100 and 500 live
tasks (it should stay flat), each timed start (and each start of the fill) once the tender before it is up
(its guest printed "up"; the first once the CPUs are idle again after the back-to-back sample), and the starts just
before those back to back (each then shares the CPUs with the previous tender's own start-up); then, with the plugin as warm as after those starts, with no other task
live and beside one (start/stop/destroy cycles); and teardown (StopTask + DestroyTask) time per task.

Prints figures only; asserts nothing. The plugin runs inside a network
namespace this script creates (and deletes), through the Go plugin-probe and
the stand-in solo5-hvt tender from the test fixtures.

Usage: bench/network.py [--levels 1,100,500] [--sample 20] [--cycles 20] [--warmup 100] [--probe PATH] [--launcher PATH]
                        [--fixtures DIR] [--config KEY=JSON]...
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from benchlib import (await_idle, make_alloc, ms, percentile, plugin_in_netns, probe_env, release_state_dir, remove_cgroup_parent,
                      runtime_state_dir, uid_range)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)






def taps(ns):
    links = subprocess.run(["ip", "-n", ns, "-o", "link", "show"], capture_output=True, text=True).stdout
    return sum(1 for line in links.splitlines() if line.split(": ")[1].startswith("mg"))


def signal_warm_quiet(ns, done, flag):
    """Creates flag once the warm-up cycles are done (done exists), the reaper has removed their taps and the CPU
    is idle again: the levels then time starts, not the warm-up's teardown."""
    while not os.path.exists(done):
        time.sleep(0.1)
    flag_when_quiet(ns, flag)


def signal_quiet(ns, state, count, flag):
    """Creates flag once the tasks have all been destroyed, the reaper has removed their taps and the CPU is idle
    again. Until the last DestroyTask it only counts run directories (on the state tmpfs): listing the links of
    the namespace dumps every tap, which would load the machine while the levels are timed."""
    tasks = os.path.join(state, "tasks")

    def run_dirs():
        try:
            return len(os.listdir(tasks))
        except OSError:
            return 0
    # The warm-up cycles hold one run directory at a time; more than one means the levels are filling (all of
    # them live at once only for the instant between the last start and the first destroy, too short to catch).
    while count > 1 and run_dirs() < 2:
        time.sleep(0.2)
    while run_dirs() > 0:
        time.sleep(0.2)
    flag_when_quiet(ns, flag)


def signal_idle(done, flag):
    """Creates flag once done exists and the CPU is idle again (at most half a minute of waiting for the idle)."""
    while not os.path.exists(done):
        time.sleep(0.05)
    await_idle(30)
    open(flag, "w").close()


def flag_when_quiet(ns, flag):
    """Creates flag once the reaper has removed every tap of the namespace and the CPU is idle again (at most a
    minute of waiting for the idle)."""
    while taps(ns) > 0:
        time.sleep(0.2)
    await_idle(60)
    open(flag, "w").close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="1,100,500")
    parser.add_argument("--sample", type=int, default=20, help="starts timed at each level")
    parser.add_argument("--warmup", type=int, default=100,
                        help="start/stop/destroy cycles after the cold start, before the levels (not timed)")
    parser.add_argument("--cycles", type=int, default=20,
                        help="start/stop/destroy cycles timed with no other task live, and beside one (level 1)")
    parser.add_argument("--probe", default=os.path.join(REPO, "target/testbed/plugin-probe"))
    parser.add_argument("--launcher", default=os.path.join(REPO, "target/nomad-driver-mirage"))
    parser.add_argument("--fixtures", default=os.path.join(REPO, "target/fixtures"))
    parser.add_argument("--config", action="append", default=[], metavar="KEY=JSON",
                        help="extra plugin config, e.g. default_user='\"nobody\"' to share one user")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    ns = "mgbench-" + uuid.uuid4().hex[:8]
    work = tempfile.mkdtemp(prefix="mirage-netbench-")
    cgroup_parent = f"mirage-bench-{os.getpid()}"
    os.chmod(work, 0o755)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        wrapper = plugin_in_netns(work, ns, args.launcher)
        image = os.path.join(args.fixtures, "images/standin-hello-net.hvt")
        steps = [{"op": "launch"}]

        def start(label, name, ports):
            alloc = make_alloc(work, name, image)
            steps.append({"op": "start", "label": label, "task": {
                "id": f"{name}/t/0", "name": "t", "alloc_id": name, "alloc_dir": alloc, "memory_mb": 16,
                "stdout_path": os.path.join(alloc, "alloc/logs/t.stdout"),
                "stderr_path": os.path.join(alloc, "alloc/logs/t.stderr"),
                "ports": [{"label": "http", "value": ports[0], "to": 80}, {"label": "dns", "value": ports[1], "to": 53}],
                # "up" is printed once the tender has attached its tap and the guest runs.
                "config": {"unikernel": "local/app.hvt", "args": ["--solo5:quiet", "--standin-print=up", "--standin-run"]}}})

        def await_up(name):
            """Waits until task NAME's guest runs: its tender has looked its tap up and attached it."""
            steps.append({"op": "await_file", "path": os.path.join(work, name, "alloc/logs/t.stdout"),
                          "contains": "up", "timeout": "60s"})

        def stop_destroy(label, name):
            steps.append({"op": "stop", "label": f"{label}-stop", "task_id": f"{name}/t/0", "timeout": "5s"})
            steps.append({"op": "destroy", "label": f"{label}-destroy", "task_id": f"{name}/t/0", "force": True})

        def cycles(prefix, n, base_port):
            # Host ports of their own: a start given the ports of a task destroyed a moment ago replaces its
            # forwards in its own batch (an nf_tables deletion, ~25 ms), which is not what this times.
            for j in range(n):
                start(f"{prefix}-{j}", f"{prefix}{j}", (base_port + 2 * j, base_port + 2 * j + 1))
                await_up(f"{prefix}{j}")
                stop_destroy(f"{prefix}-{j}", f"{prefix}{j}")

        # The first start of a fresh plugin is a cold one (class loading, JIT, the bridge and chains made).
        cycles("cold", 1, 17000)
        # Warm-up cycles, so that every level is timed with the JIT as warm as a plugin that has run a while
        # (the fill of the first level would otherwise time a fresh plugin's first starts).
        cycles("warm", args.warmup, 15000)
        warm_done, warm_quiet = os.path.join(work, "warm-done"), os.path.join(work, "warm-quiet")
        steps.append({"op": "touch", "path": warm_done})
        steps.append({"op": "await_file", "path": warm_quiet, "timeout": "300s"})
        # The levels: tasks added one by one, each once the tender before it is up. The last `sample` starts
        # before each level are timed so: a start at N live tasks. The `sample` before those are timed back to
        # back: each start then also shares the CPUs with the previous tenders' own start-up (Solo5's tap
        # lookup walks every link of the namespace).
        timed, back_to_back = {}, {}
        idle_points = []
        count = 0
        fill_levels = [level for level in levels if level > 1]
        for level in fill_levels:
            first_timed = max(count, level - args.sample)
            first_b2b = max(count, first_timed - args.sample)
            while count < level:
                if count == first_timed and count > 0:
                    await_up(f"a{count - 1}")
                    # The back-to-back sample leaves tenders finishing their start-up (tap lookups, their
                    # runtime's collection of it) for a while: the spaced starts begin once the CPUs are idle.
                    done, idle = os.path.join(work, f"b2b-done-{level}"), os.path.join(work, f"idle-{level}")
                    steps.append({"op": "touch", "path": done})
                    steps.append({"op": "await_file", "path": idle, "timeout": "120s"})
                    idle_points.append((done, idle))
                label = (f"start-{level}-{count}" if count >= first_timed
                         else f"b2b-{level}-{count}" if count >= first_b2b else f"fill-{count}")
                start(label, f"a{count}", (20000 + count, 40000 + count))
                if count >= first_timed or count < first_b2b:
                    await_up(f"a{count}")  # the fill too: tenders that start faster than they come up pile up
                count += 1
            timed[level] = [s["label"] for s in steps if s.get("label", "").startswith(f"start-{level}-")]
            back_to_back[level] = [s["label"] for s in steps if s.get("label", "").startswith(f"b2b-{level}-")]
        for i in range(count):
            stop_destroy(f"all-{i}", f"a{i}")
        # The cycles begin once the reaper has removed the last of those taps and the machine is quiet again:
        # they time a start, not the teardown of 500 tasks behind it.
        quiet = os.path.join(work, "quiet")
        steps.append({"op": "await_file", "path": quiet, "timeout": "300s"})
        # With no other task and next to a single one: start/stop/destroy cycles, timed once the plugin has
        # done the starts above, as a plugin that has run for a while has (the cold start is reported apart).
        cycles("lone", args.cycles, 19000)
        if 1 in levels:
            start("anchor", "anchor", (18000, 18001))
            await_up("anchor")
            cycles("beside", args.cycles, 19500)
            stop_destroy("anchor", "anchor")
        state = runtime_state_dir(work)
        config = {"state_dir": state, "log_level": "warn",
                  "solo5_hvt": os.path.join(args.fixtures, "bin/solo5-hvt")}
        config["cgroup_parent"] = cgroup_parent
        # Uids of its own: plugins whose dynamic_user ranges overlap end each other's tenders.
        config["dynamic_user_min"], config["dynamic_user_max"] = uid_range()
        for item in args.config:
            key, _, value = item.partition("=")
            config[key] = json.loads(value)
        script = {"config": config, "steps": steps}
        with open(os.path.join(work, "script.json"), "w") as f:
            json.dump(script, f)
        watcher = threading.Thread(target=signal_quiet, args=(ns, state, count, quiet), daemon=True)
        watcher.start()
        threading.Thread(target=signal_warm_quiet, args=(ns, warm_done, warm_quiet), daemon=True).start()
        for done, idle in idle_points:
            threading.Thread(target=signal_idle, args=(done, idle), daemon=True).start()
        out = subprocess.run([args.probe, "-plugin", wrapper, "-include-log=false", "-timeout", "1800s",
                              "-script", os.path.join(work, "script.json"), "tasks"],
                             env=probe_env(work), capture_output=True, check=False).stdout
        result = json.loads(out)
        by_label = {s.get("label"): s for s in result["steps"] if s.get("label")}
        errors = [s for s in result["steps"] if s["error"]]
        print(f"tasks: {count} (stand-in solo5-hvt, 1 NET device, 2 ports each), errors: {len(errors)}")
        if errors:
            print("first error:", errors[0]["error"])
        cold = by_label.get("cold-0")
        if cold and not cold["error"]:
            print(f"StartTask, first of a fresh plugin (cold): {ms(cold):.1f} ms")

        def timed_cycles(prefix):
            return [ms(by_label[f"{prefix}-{j}"]) for j in range(args.cycles)
                    if f"{prefix}-{j}" in by_label and not by_label[f"{prefix}-{j}"]["error"]]
        lone = timed_cycles("lone")
        if lone:
            print(f"StartTask with no other live task (start/stop/destroy cycles, after the levels): p50 "
                  f"{statistics.median(lone):.1f} ms, max {max(lone):.1f} ms over {len(lone)} starts")
            lone_teardown = [ms(by_label[f"lone-{j}-stop"]) + ms(by_label[f"lone-{j}-destroy"])
                             for j in range(args.cycles) if f"lone-{j}-stop" in by_label and f"lone-{j}-destroy" in by_label]
            if lone_teardown:
                print(f"Stop+Destroy of a lone networked task (the same cycles): p50 "
                      f"{statistics.median(lone_teardown):.1f} ms, max {max(lone_teardown):.1f} ms")
        beside = timed_cycles("beside")
        if beside:
            print(f"StartTask at ~1 live tasks: p50 {statistics.median(beside):.1f} ms, max {max(beside):.1f} ms "
                  f"over {len(beside)} starts (cycles beside one live task)")
        for level in fill_levels:
            took = [ms(by_label[l]) for l in timed[level] if l in by_label and not by_label[l]["error"]]
            if took:
                print(f"StartTask at ~{level} live tasks: p50 {statistics.median(took):.1f} ms, "
                      f"max {max(took):.1f} ms over {len(took)} starts (each once the tender before it is up)")
        for level in fill_levels:
            took = [ms(by_label[l]) for l in back_to_back[level] if l in by_label and not by_label[l]["error"]]
            if took:
                print(f"StartTask at ~{level - args.sample} live tasks, back to back: p50 {statistics.median(took):.1f} ms, "
                      f"max {max(took):.1f} ms over {len(took)} starts (each beside the previous tender's start-up)")
        teardown = [ms(by_label[f"all-{i}-stop"]) + ms(by_label[f"all-{i}-destroy"])
                    for i in range(count) if f"all-{i}-stop" in by_label and f"all-{i}-destroy" in by_label]
        if teardown:
            print(f"teardown (StopTask + DestroyTask) per task, all {count} back to back: p50 "
                  f"{percentile(teardown, 50):.1f} ms, p99 {percentile(teardown, 99):.1f} ms")
    finally:
        remove_cgroup_parent(cgroup_parent)
        release_state_dir(os.path.join(work, "state"))
        subprocess.run(["ip", "netns", "delete", ns], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
