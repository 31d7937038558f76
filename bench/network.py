#!/usr/bin/env python3
"""Networking benchmark: StartTask latency of a task with one NET device and
two ports with no other task live (start/stop/destroy cycles after the cold
first start) and at 1, 100 and 500 live tasks (it should stay flat), and
teardown (StopTask + DestroyTask) time per task.

Prints figures only; asserts nothing. The plugin runs inside a network
namespace this script creates (and deletes), through the Go plugin-probe and
the stand-in solo5-hvt tender from the test fixtures.

Usage: bench/network.py [--levels 1,100,500] [--sample 10] [--cycles 11] [--probe PATH] [--launcher PATH]
                        [--fixtures DIR] [--config KEY=JSON]...
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import uuid
from benchlib import make_alloc, ms, percentile, plugin_in_netns, probe_env, remove_cgroup_parent, uid_range

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)






def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="1,100,500")
    parser.add_argument("--sample", type=int, default=10, help="starts timed at each level")
    parser.add_argument("--cycles", type=int, default=11,
                        help="start/stop/destroy cycles of a single task before the levels (the first is cold)")
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
        # Cycles of one task (start, stop, destroy) with no other task live: the first start of a fresh
        # plugin is a cold one (class loading, JIT, the bridge and chains made); the later ones give the
        # start latency at one live task.
        for j in range(args.cycles):
            alloc = make_alloc(work, f"w{j}", image, logs=False)
            tid = f"w{j}/t/{j:08d}"
            steps.append({"op": "start", "label": f"cycle-{j}", "task": {
                "id": tid, "name": "t", "alloc_id": f"w{j}", "alloc_dir": alloc, "memory_mb": 16,
                # Host ports of their own: a start given the ports of a task destroyed a moment ago replaces its
                # forwards in its own batch (an nf_tables deletion, ~25 ms), which is not what this times.
                "ports": [{"label": "http", "value": 19000 + 2 * j, "to": 80},
                          {"label": "dns", "value": 19001 + 2 * j, "to": 53}],
                "config": {"unikernel": "local/app.hvt", "args": ["--solo5:quiet", "--standin-run"]}}})
            steps.append({"op": "stop", "label": f"cycle-stop-{j}", "task_id": tid, "timeout": "5s"})
            steps.append({"op": "destroy", "label": f"cycle-destroy-{j}", "task_id": tid, "force": True})
        timed = {}
        count = 0
        for level in levels:
            first_timed = max(count, level - args.sample)
            while count < level:
                alloc = make_alloc(work, f"a{count}", image, logs=False)
                label = f"start-{level}-{count}" if count >= first_timed else f"fill-{count}"
                steps.append({"op": "start", "label": label, "task": {
                    "id": f"a{count}/t/{count:08d}", "name": "t", "alloc_id": f"a{count}", "alloc_dir": alloc,
                    "memory_mb": 16,
                    "ports": [{"label": "http", "value": 20000 + count, "to": 80},
                              {"label": "dns", "value": 40000 + count, "to": 53}],
                    "config": {"unikernel": "local/app.hvt", "args": ["--solo5:quiet", "--standin-run"]}}})
                count += 1
            timed[level] = [s["label"] for s in steps if s.get("label", "").startswith(f"start-{level}-")]
        for i in range(count):
            steps.append({"op": "stop", "label": f"stop-{i}", "task_id": f"a{i}/t/{i:08d}", "timeout": "5s"})
            steps.append({"op": "destroy", "label": f"destroy-{i}", "task_id": f"a{i}/t/{i:08d}", "force": True})
        config = {"state_dir": os.path.join(work, "state"), "log_level": "warn",
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
        out = subprocess.run([args.probe, "-plugin", wrapper, "-include-log=false", "-timeout", "1800s",
                              "-script", os.path.join(work, "script.json"), "tasks"],
                             env=probe_env(work), capture_output=True, check=False).stdout
        result = json.loads(out)
        by_label = {s.get("label"): s for s in result["steps"] if s.get("label")}
        errors = [s for s in result["steps"] if s["error"]]
        print(f"tasks: {count} (stand-in solo5-hvt, 1 NET device, 2 ports each), errors: {len(errors)}")
        if errors:
            print("first error:", errors[0]["error"])
        if args.cycles:
            cold = by_label.get("cycle-0")
            warm = [ms(by_label[f"cycle-{j}"]) for j in range(1, args.cycles)
                    if f"cycle-{j}" in by_label and not by_label[f"cycle-{j}"]["error"]]
            if cold and not cold["error"]:
                print(f"StartTask, first of a fresh plugin (cold): {ms(cold):.1f} ms")
            if warm:
                print(f"StartTask with no other live task (start/stop/destroy cycles): p50 "
                      f"{statistics.median(warm):.1f} ms, max {max(warm):.1f} ms over {len(warm)} starts")
            lone = [ms(by_label[f"cycle-stop-{j}"]) + ms(by_label[f"cycle-destroy-{j}"]) for j in range(1, args.cycles)
                    if f"cycle-stop-{j}" in by_label and f"cycle-destroy-{j}" in by_label]
            if lone:
                print(f"Stop+Destroy of a lone networked task (the same cycles): p50 {statistics.median(lone):.1f} ms, "
                      f"max {max(lone):.1f} ms")
        for level in levels:
            took = [ms(by_label[l]) for l in timed[level] if l in by_label and not by_label[l]["error"]]
            if took:
                print(f"StartTask at ~{level} live tasks: p50 {statistics.median(took):.1f} ms, "
                      f"max {max(took):.1f} ms over {len(took)} starts")
        teardown = [ms(by_label[f"stop-{i}"]) + ms(by_label[f"destroy-{i}"])
                    for i in range(count) if f"stop-{i}" in by_label and f"destroy-{i}" in by_label]
        if teardown:
            print(f"teardown (StopTask + DestroyTask) per task, all {count} back to back: p50 "
                  f"{percentile(teardown, 50):.1f} ms, p99 {percentile(teardown, 99):.1f} ms")
    finally:
        remove_cgroup_parent(cgroup_parent)
        subprocess.run(["ip", "netns", "delete", ns], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
