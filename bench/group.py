#!/usr/bin/env python3
"""Group networking benchmark: StartTask of a networked stand-in hvt task (one NET device, one port) in host
mode and in Nomad's group "bridge" mode, side by side under one real Nomad agent with Debian's CNI plugins
(scripts/dev-agent.sh --cni-path /usr/lib/cni --lab 198.51.100.1/24, its own network namespace).

Runs --rounds service jobs per mode, interleaved, one at a time; for each it reads the plugin's
"task start phases" debug line from the agent log (the driver's own part of StartTask: total and the
network phase) and the task events ("Task Setup" -> "Started", which in bridge mode includes Nomad's CNI
set-up of the allocation's namespace). Prints p50/min/max per mode. Prints figures only; asserts nothing.

Usage: bench/group.py [--rounds N] [--launcher PATH] [--fixtures DIR] [--nomad PATH]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import agent as agentbench
from benchlib import mirage_plugin_hcl, percentile, remove_cgroup_parent

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PHASES = re.compile(r"task start phases.*")


def job(name, mode, fixtures):
    network = 'mode = "bridge"\n' if mode == "group" else ""
    return f"""
job "{name}" {{
  type        = "service"
  datacenters = ["*"]
  group "g" {{
    restart {{
      attempts = 0
      mode     = "fail"
    }}
    network {{
      {network}port "echo" {{
        to = 7
      }}
    }}
    task "hello" {{
      driver = "mirage"
      config {{
        unikernel = "{fixtures}/images/standin-hello-net.hvt"
        args      = ["--solo5:quiet", "--standin-run"]
      }}
      resources {{
        cpu    = 10
        memory = 16
      }}
    }}
  }}
}}
"""


def inside(params_path):
    with open(params_path) as f:
        p = json.load(f)
    out = []
    for r in range(p["rounds"]):
        for mode in (("host", "group") if r % 2 == 0 else ("group", "host")):
            job_id, _ = agentbench.register(job(f"bench-{mode}-{r}", mode, p["fixtures"]))
            for a in agentbench.wait_job(job_id, 1, 120):
                out.append({"mode": mode, "alloc": a["ID"], "status": a["ClientStatus"],
                            "events": agentbench.events_of(a)})
            agentbench.purge(job_id)
            # The next start should not share the CPU with this one's teardown (CNI DEL, namespace removal).
            deadline = time.time() + 30
            while time.time() < deadline and any(
                    a["ClientStatus"] == "running" for a in agentbench.api("GET", f"/v1/job/{job_id}/allocations")
                    or []):
                time.sleep(0.1)
    json.dump(out, sys.stdout)


def phases_by_alloc(log_path):
    """alloc id -> {phase_us: value} of the plugin's "task start phases" debug line."""
    out = {}
    with open(log_path, errors="replace") as f:
        for line in f:
            m = PHASES.search(line)
            if not m:
                continue
            task = re.search(r"task_id=([0-9a-f-]{36})/", line)
            if task:
                out[task.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+_us)=(\d+)", line)}
    return out


def stats(values):
    if not values:
        return "no data"
    return f"p50 {percentile(values, 50):6.1f} ms, min {min(values):6.1f} ms, max {max(values):6.1f} ms (n={len(values)})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--launcher", default=os.path.join(REPO, "target/nomad-driver-mirage"))
    parser.add_argument("--fixtures", default=os.path.join(REPO, "target/fixtures"))
    parser.add_argument("--nomad", default=os.environ.get("MIRAGE_NOMAD"))
    parser.add_argument("--inside", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args.inside)
        return
    if not os.access("/usr/lib/cni/bridge", os.X_OK):
        print("no CNI plugins in /usr/lib/cni (scripts/setup-machine.sh installs containernetworking-plugins)")
        return
    fixtures = os.path.abspath(args.fixtures)
    work = tempfile.mkdtemp(prefix="mirage-groupbench-")
    os.chmod(work, 0o755)
    run = os.path.join(work, "run")
    cgroup_parent = f"mirage-bench-{os.getpid()}"
    conf = os.path.join(work, "plugin.hcl")
    with open(conf, "w") as f:
        f.write(mirage_plugin_hcl(fixtures, "@RUN_DIR@/mirage-state", cgroup_parent, "debug"))
    env = dict(os.environ)
    if args.nomad:
        env["MIRAGE_NOMAD"] = args.nomad
    env["MIRAGE_NOMAD_LOG_LEVEL"] = "DEBUG"
    dev_agent = os.path.join(REPO, "scripts/dev-agent.sh")
    started = False
    try:
        r = subprocess.run([dev_agent, "start", run, "--plugin", os.path.abspath(args.launcher), "--config", conf,
                            "--cni-path", "/usr/lib/cni", "--lab", "198.51.100.1/24"],
                           env=env, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            print("dev-agent.sh start failed:\n" + r.stderr[-3000:])
            return
        started = True
        params = os.path.join(work, "params.json")
        with open(params, "w") as f:
            json.dump({"rounds": args.rounds, "fixtures": fixtures}, f)
        r = subprocess.run([dev_agent, "exec", run, "--", sys.executable, os.path.abspath(__file__),
                            "--inside", params], env=env, capture_output=True, text=True, check=False,
                           cwd=HERE)
        if r.returncode != 0:
            print("the job runner failed:\n" + r.stderr[-3000:])
            return
        result = json.loads(r.stdout)
        phases = phases_by_alloc(os.path.join(run, "agent.log"))
        for mode in ("host", "group"):
            runs = [a for a in result if a["mode"] == mode]
            total = [phases[a["alloc"]]["total_us"] / 1000 for a in runs if a["alloc"] in phases]
            network = [phases[a["alloc"]].get("network_us", 0) / 1000 for a in runs if a["alloc"] in phases]
            observed = []
            for a in runs:
                s, st = agentbench.first(a["events"], "Task Setup"), agentbench.first(a["events"], "Started")
                if s and st:
                    observed.append((st - s) * 1000)
            label = "host mode (bridge mirage0)" if mode == "host" else "group mode (allocation's namespace)"
            print(f"{label}: {len(runs)} jobs, statuses {sorted({a['status'] for a in runs})}")
            print(f"  StartTask, the driver's part (plugin's phase log): {stats(total)}")
            print(f"    of it the network phase:                         {stats(network)}")
            print(f"  Nomad-observed \"Task Setup\" -> \"Started\":          {stats(observed)}")
    finally:
        if started:
            subprocess.run([dev_agent, "stop", run], env=env, capture_output=True, text=True, check=False)
        remove_cgroup_parent(cgroup_parent)
        subprocess.run(["rm", "-rf", work], check=False)


if __name__ == "__main__":
    main()
