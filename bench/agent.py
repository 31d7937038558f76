#!/usr/bin/env python3
"""Side-by-side under a real Nomad agent: the mirage driver against Nomad's built-in qemu driver.

Starts a Nomad agent (scripts/dev-agent.sh: -dev mode, its own network namespace) with the plugin
given by --launcher, the stand-in solo5-hvt from the fixtures and real qemu (TCG), and runs batch
jobs one at a time (each registered once the previous one's task has ended), interleaved for --rounds rounds:

  hvt      mirage driver, stand-in solo5-hvt, fixtures images/standin-hello.hvt (16 MB)
  virtio   mirage driver, real qemu TCG, fixtures images/virtio-hello.virtio (128 MB)
  qemu     Nomad's qemu driver (accelerator tcg, 128 MB) booting the same virtio-hello kernel with
           the arguments the mirage driver gives qemu for it (-kernel, -no-reboot, isa-debug-exit);
           the driver also attaches its image_path as an IDE drive, opened writable, so each job
           gets a copy of the image of its own

For every allocation it reads the task events (/v1/allocation/ID, TaskStates.<task>.Events) and
takes the Nomad-observed start, "Task Setup" -> "Started" (includes the task directory, logmon and
the other prestart hooks), and, from the agent's DEBUG log, the driver's own part: the last line of
the task's log collector (logmon hook) before "Started" -> "Started" (the StartTask call and the
few prestart hooks after logmon; log lines have millisecond resolution). Prints per kind p50/min/max and the
ratios qemu driver / mirage for hvt and virtio next to the goal (>= 1.5x).

Then a burst: one job with count = --burst (default 60) for mirage hvt and for the qemu driver,
registered at once; prints the time from registration to the last "Started" event.

Everything is cleaned up: jobs purged, agent stopped (dev-agent.sh stop: namespace and run dir
removed), the plugin's cgroup parent removed. Prints figures only; asserts nothing.

Usage: bench/agent.py [--rounds N] [--burst N] [--launcher PATH] [--fixtures DIR] [--nomad PATH]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from benchlib import mirage_plugin_hcl, percentile, release_state_dir, remove_cgroup_parent, runtime_state_dir

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GOAL_RATIO = 1.5
API = "http://127.0.0.1:4646"
ENDED = ("complete", "failed", "lost")
DEBUG_EXIT = "isa-debug-exit,iobase=0xf4,iosize=0x4"  # port the virtio-hello kernel writes its exit to


# ---- inside the agent's network namespace ---------------------------------------------------------

def api(method, path, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(API + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{method} {path}: HTTP {e.code}: {e.read().decode(errors='replace')[:500]}") from None
    return json.loads(raw) if raw else None


def hcl_job(name, kind, p, count=1):
    common = """
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    ephemeral_disk {
      size = 20 # MB: the default 300 MB each would not fit a burst on this node's disk
    }"""
    if kind == "hvt":
        task = f"""
      driver = "mirage"
      config {{
        unikernel = "{p['fixtures']}/images/standin-hello.hvt"
        args      = ["--solo5:quiet"]
      }}
      resources {{
        cpu    = 10
        memory = 16
      }}"""
    elif kind == "virtio":
        task = f"""
      driver = "mirage"
      config {{
        unikernel = "{p['fixtures']}/images/virtio-hello.virtio"
        qemu {{
          accelerator = "tcg"
        }}
      }}
      resources {{
        cpu    = 10
        memory = 128
      }}"""
    else:
        image = os.path.join(p["images"], name + ".img")
        shutil.copy(os.path.join(p["fixtures"], "images/virtio-hello.virtio"), image)
        task = f"""
      driver = "qemu"
      config {{
        image_path  = "{image}"
        accelerator = "tcg"
        args        = ["-kernel", "{p['fixtures']}/images/virtio-hello.virtio", "-no-reboot",
                       "-device", "{DEBUG_EXIT}"]
      }}
      resources {{
        cpu    = 10
        memory = 128
      }}"""
    return f"""
job "{name}" {{
  type        = "batch"
  datacenters = ["*"]
  group "g" {{
    count = {count}{common}
    task "hello" {{{task}
      logs {{
        max_files     = 2
        max_file_size = 5
      }}
    }}
  }}
}}
"""


def register(hcl):
    job = api("POST", "/v1/jobs/parse", {"JobHCL": hcl, "Canonicalize": True})
    t0 = time.time()
    api("POST", "/v1/jobs", {"Job": job})
    return job["ID"], t0


def events_of(alloc):
    st = (alloc.get("TaskStates") or {}).get("hello") or {}
    return [(e["Type"], e["Time"], e.get("DisplayMessage") or "") for e in st.get("Events") or []]


def wait_job(job_id, count, limit):
    """Polls until `count` allocations of the job have a Started event (or ended); returns the full
    allocations (with events)."""
    def started(stubs):
        done = [a for a in stubs if a["ClientStatus"] in ENDED or any(t == "Started" for t, _, _ in events_of(a))]
        return len(stubs) >= count and len(done) >= count
    return poll_allocations(job_id, limit, started)


def wait_terminal(job_id, limit):
    """Polls until every allocation of the job has ended (or limit seconds passed); returns them with events."""
    return poll_allocations(job_id, limit, lambda stubs: stubs and all(a["ClientStatus"] in ENDED for a in stubs))


def poll_allocations(job_id, limit, ready):
    """Polls the job's allocation stubs until ready(stubs) holds (or limit seconds passed); returns the full
    allocations (with events)."""
    deadline = time.time() + limit
    while time.time() < deadline:
        stubs = api("GET", f"/v1/job/{job_id}/allocations")
        if ready(stubs):
            break
        time.sleep(0.05)
    else:
        stubs = api("GET", f"/v1/job/{job_id}/allocations")
    return [api("GET", f"/v1/allocation/{a['ID']}") for a in stubs]


def purge(job_id):
    try:
        api("DELETE", f"/v1/job/{job_id}?purge=true")
    except Exception as e:  # noqa: BLE001 - report and go on
        print(f"purge {job_id}: {e}", file=sys.stderr)


def inside(params_path):
    with open(params_path) as f:
        p = json.load(f)
    out = {"single": [], "burst": {}}
    kinds = ("hvt", "virtio", "qemu")
    for r in range(p["rounds"]):
        for kind in (kinds if r % 2 == 0 else tuple(reversed(kinds))):
            name = f"bench-{kind}-{r}"
            job_id, t0 = register(hcl_job(name, kind, p))
            # The next job is registered once this one's task has ended (each runs to its exit within a second):
            # a task still booting, or being stopped by the purge, would share the CPUs with the next start.
            allocs = wait_terminal(job_id, 180)
            for a in allocs:
                out["single"].append({"kind": kind, "job": job_id, "alloc": a["ID"], "status": a["ClientStatus"],
                                      "registered": t0, "events": events_of(a)})
            purge(job_id)
    for kind in p["burst_kinds"]:
        name = f"bench-burst-{kind}"
        # The qemu driver's images are copied before the registration is timed.
        hcl = hcl_job(name, kind, p, count=p["burst"])
        if kind == "qemu":
            # One image per allocation: a count = N group shares one image_path, so the task
            # interpolates its allocation index into the path.
            for i in range(p["burst"]):
                shutil.copy(os.path.join(p["fixtures"], "images/virtio-hello.virtio"),
                            os.path.join(p["images"], f"{name}-{i}.img"))
            hcl = hcl.replace(f'"{os.path.join(p["images"], name + ".img")}"',
                              f'"{p["images"]}/{name}-${{NOMAD_ALLOC_INDEX}}.img"')
        job_id, t0 = register(hcl)
        allocs = wait_job(job_id, p["burst"], 900)
        t_end = time.time()
        out["burst"][kind] = {"registered": t0, "polled_until": t_end,
                              "allocs": [{"alloc": a["ID"], "status": a["ClientStatus"], "events": events_of(a)}
                                         for a in allocs]}
        purge(job_id)
    json.dump(out, sys.stdout)


# ---- outside ------------------------------------------------------------------------------------

LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")


def logmon_times(log_path):
    """alloc id -> sorted epoch seconds of the agent log's lines of the task's log collector (logmon hook:
    "plugin started", "using plugin", "opening fifo", ...)."""
    out = {}
    try:
        with open(log_path, errors="replace") as f:
            for line in f:
                if "task_hook.logmon" not in line or "task=hello" not in line:
                    continue
                m = LOG_TIME.match(line.strip())
                a = re.search(r"alloc_id=([0-9a-f-]{36})", line)
                if m and a:
                    t = datetime.fromisoformat(m.group(1)).replace(tzinfo=timezone.utc).timestamp()
                    out.setdefault(a.group(1), []).append(t)
    except OSError:
        pass
    return {k: sorted(v) for k, v in out.items()}


def first(events, kind):
    for t, ns, _ in events:
        if t == kind:
            return ns / 1e9
    return None


def stats(values):
    if not values:
        return "no data"
    return (f"p50 {percentile(values, 50):7.1f} ms, min {min(values):7.1f} ms, max {max(values):7.1f} ms "
            f"(n={len(values)})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--burst", type=int, default=60, help="tasks started at once (0: no burst)")
    parser.add_argument("--launcher", default=os.path.join(REPO, "target/nomad-driver-mirage"))
    parser.add_argument("--fixtures", default=os.path.join(REPO, "target/fixtures"))
    parser.add_argument("--nomad", default=os.environ.get("MIRAGE_NOMAD"), help="Nomad binary (default: dev-agent.sh's)")
    parser.add_argument("--inside", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args.inside)
        return
    t_begin = time.monotonic()
    fixtures = os.path.abspath(args.fixtures)
    qemu = shutil.which("qemu-system-x86_64")
    work = tempfile.mkdtemp(prefix="mirage-agentbench-")
    os.chmod(work, 0o755)
    run = os.path.join(work, "run")
    images = os.path.join(work, "qemu-images")
    os.makedirs(images)
    cgroup_parent = f"mirage-bench-{os.getpid()}"
    state = runtime_state_dir(work, "mirage-state")
    conf = os.path.join(work, "plugin.hcl")
    with open(conf, "w") as f:
        f.write(mirage_plugin_hcl(fixtures, state, cgroup_parent, "warn") + f"""
# Nomad's built-in qemu driver: the per-job image copies live outside the alloc dirs.
plugin "qemu" {{
  config {{
    image_paths = ["{images}"]
  }}
}}
""")
    env = dict(os.environ)
    if args.nomad:
        env["MIRAGE_NOMAD"] = args.nomad
    env.setdefault("MIRAGE_NOMAD_LOG_LEVEL", "DEBUG")
    dev_agent = os.path.join(REPO, "scripts/dev-agent.sh")
    started = False
    try:
        t0 = time.monotonic()
        r = subprocess.run([dev_agent, "start", run, "--plugin", os.path.abspath(args.launcher), "--config", conf],
                           env=env, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            print("dev-agent.sh start failed:\n" + r.stderr[-3000:])
            return
        started = True
        print(f"agent up in {time.monotonic() - t0:.1f} s (dev mode, own network namespace); qemu: {qemu}")
        params = os.path.join(work, "params.json")
        with open(params, "w") as f:
            json.dump({"rounds": args.rounds, "burst": args.burst, "fixtures": fixtures, "images": images,
                       "burst_kinds": ["hvt", "qemu"] if args.burst > 0 else []}, f)
        r = subprocess.run([dev_agent, "exec", run, "--", sys.executable, os.path.abspath(__file__),
                            "--inside", params], env=env, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            print("the job runner failed:\n" + r.stderr[-3000:])
            return
        result = json.loads(r.stdout)
        logged = logmon_times(os.path.join(run, "agent.log"))

        setup = {"hvt": [], "virtio": [], "qemu": []}
        driver = {"hvt": [], "virtio": [], "qemu": []}
        statuses, exits = {}, {}
        for a in result["single"]:
            k = a["kind"]
            statuses.setdefault(k, {}).setdefault(a["status"], 0)
            statuses[k][a["status"]] += 1
            s, st = first(a["events"], "Task Setup"), first(a["events"], "Started")
            if s and st:
                setup[k].append((st - s) * 1000)
            ready = [t for t in logged.get(a["alloc"], []) if st and t <= st + 0.0005]
            if ready and st:
                driver[k].append(max(0.0, (st - ready[-1]) * 1000))
            ended = [m for t, _, m in a["events"] if t == "Terminated"]
            exits.setdefault(k, {}).setdefault(ended[-1] if ended else "-", 0)
            exits[k][ended[-1] if ended else "-"] += 1
        names = {"hvt": "mirage hvt (stand-in solo5-hvt)", "virtio": "mirage virtio (qemu TCG)",
                 "qemu": "Nomad qemu driver (TCG, same kernel)"}
        print(f"{args.rounds} rounds of one batch job per kind, interleaved; allocation status when read: "
              + "; ".join(f"{k} {v}" for k, v in statuses.items()))
        print("Nomad-observed start, task event \"Task Setup\" -> \"Started\":")
        for k in setup:
            print(f"  {names[k]:<38} {stats(setup[k])}")
        print("  (exits: " + "; ".join(f"{k} {v}" for k, v in exits.items())
              + "; the qemu driver's 83 is the kernel's isa-debug-exit write of 41, i.e. it booted and finished)")
        print("driver's part, last log-collector (logmon hook) line of the agent's DEBUG log -> \"Started\" "
              "(StartTask, the later prestart hooks; log times have ms resolution):")
        for k in driver:
            print(f"  {names[k]:<38} {stats(driver[k])}")
        for label, data in (("Task Setup -> Started", setup), ("log collector ready -> Started", driver)):
            for k in ("hvt", "virtio"):
                if data[k] and data["qemu"]:
                    ratio = percentile(data["qemu"], 50) / percentile(data[k], 50)
                    print(f"ratio qemu driver / mirage {k} ({label}, p50): {ratio:.2f}x "
                          f"(goal >= {GOAL_RATIO}x: {'met' if ratio >= GOAL_RATIO else 'MISSED'})")
        for k, b in result["burst"].items():
            starts = [first(a["events"], "Started") for a in b["allocs"]]
            ok = [s for s in starts if s]
            outcome = {}
            for a in b["allocs"]:
                outcome[a["status"]] = outcome.get(a["status"], 0) + 1
            if ok:
                print(f"burst, {names[k]}: one job with count = {args.burst}: {len(ok)}/{args.burst} Started, "
                      f"registration -> last Started {(max(ok) - b['registered']):.2f} s, -> first "
                      f"{(min(ok) - b['registered']):.2f} s (status when read {outcome})")
            else:
                print(f"burst, {names[k]}: no task started (outcomes {outcome})")
    finally:
        if os.environ.get("KEEP") and os.path.exists(os.path.join(run, "agent.log")):
            shutil.copy(os.path.join(run, "agent.log"), work)
        if started or os.path.exists(os.path.join(run, "agent.env")):
            r = subprocess.run([dev_agent, "stop", run], env=env, capture_output=True, text=True, check=False)
            if r.returncode != 0:
                print("dev-agent.sh stop failed:\n" + r.stderr[-2000:])
            else:
                worries = [l for l in r.stderr.splitlines() if re.search(r"warning|cannot|leftover|still", l)]
                print("agent stopped, namespace and run dir removed"
                      + (": " + "; ".join(worries) if worries else " (dev-agent.sh stop reported no leftovers)"))
        remove_cgroup_parent(cgroup_parent, children=True)
        release_state_dir(state)
        if os.environ.get("KEEP"):
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
        print(f"(agent.py took {time.monotonic() - t_begin:.0f} s)")


if __name__ == "__main__":
    main()
