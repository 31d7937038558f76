#!/usr/bin/env python3
"""Networking benchmark: StartTask latency of a task with one NET device and
two ports at 1, 100 and 500 live tasks (it should stay flat), and teardown
(StopTask + DestroyTask) time per task.

Prints figures only; asserts nothing. The plugin runs inside a network
namespace this script creates (and deletes), through the Go plugin-probe and
the stand-in solo5-hvt tender from the test fixtures.

Usage: bench/network.py [--levels 1,100,500] [--sample 10]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import uuid
from benchlib import percentile, remove_cgroup_parent

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)






def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="1,100,500")
    parser.add_argument("--sample", type=int, default=10, help="starts timed at each level")
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
        wrapper = os.path.join(work, "plugin")
        with open(wrapper, "w") as f:
            f.write(f"#!/bin/sh\nexec nsenter --net=/run/netns/{ns} {args.launcher} \"$@\"\n")
        os.chmod(wrapper, 0o755)
        image = os.path.join(args.fixtures, "images/standin-hello-net.hvt")
        steps = [{"op": "launch"}]
        timed = {}
        count = 0
        for level in levels:
            first_timed = max(count, level - args.sample)
            while count < level:
                alloc = os.path.join(work, f"a{count}")
                os.makedirs(os.path.join(alloc, "t/local"))
                shutil.copy(image, os.path.join(alloc, "t/local/app.hvt"))
                for root, _, _ in os.walk(alloc):
                    os.chmod(root, 0o755)
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
        for item in args.config:
            key, _, value = item.partition("=")
            config[key] = json.loads(value)
        script = {"config": config, "steps": steps}
        with open(os.path.join(work, "script.json"), "w") as f:
            json.dump(script, f)
        out = subprocess.run([args.probe, "-plugin", wrapper, "-include-log=false", "-timeout", "1800s",
                              "-script", os.path.join(work, "script.json"), "tasks"],
                             capture_output=True, check=False).stdout
        result = json.loads(out)
        by_label = {s.get("label"): s for s in result["steps"] if s.get("label")}
        errors = [s for s in result["steps"] if s["error"]]
        print(f"tasks: {count} (stand-in solo5-hvt, 1 NET device, 2 ports each), errors: {len(errors)}")
        if errors:
            print("first error:", errors[0]["error"])
        for level in levels:
            ms = [by_label[l]["elapsed_ms"] for l in timed[level] if l in by_label and not by_label[l]["error"]]
            if ms:
                print(f"StartTask at ~{level} live tasks: p50 {statistics.median(ms):.1f} ms, "
                      f"max {max(ms):.1f} ms over {len(ms)} starts")
        teardown = [by_label[f"stop-{i}"]["elapsed_ms"] + by_label[f"destroy-{i}"]["elapsed_ms"]
                    for i in range(count) if f"stop-{i}" in by_label and f"destroy-{i}" in by_label]
        if teardown:
            print(f"teardown (StopTask + DestroyTask) per task: p50 {percentile(teardown, 50):.1f} ms, "
                  f"p99 {percentile(teardown, 99):.1f} ms")
    finally:
        remove_cgroup_parent(cgroup_parent)
        subprocess.run(["ip", "netns", "delete", ns], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
