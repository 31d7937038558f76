#!/usr/bin/env python3
"""Runs every benchmark, one after another, against the same launcher, probe and fixtures, prints
each one's output under a header, then a summary of the key figures next to the issue's goals.

  startup   bench/startup.py   exec -> handshake, idle RSS
  tasks     bench/tasks.py     StartTask/StopTask/DestroyTask without networking
  network   bench/network.py   StartTask with 1 NET + 2 ports at 1/100/500 live, teardown
  cgroups   bench/cgroups.py   CPU shares 500:1500 on one core, tender overhead
  scale     bench/scale.py     500 live networked tasks: RSS, kill -> recover all, nothing left
  agent     bench/agent.py     a real Nomad agent: mirage against Nomad's qemu driver, a burst

Prints figures only; asserts nothing (exit status 0 unless a benchmark could not be started).
Needs root, the probe and the fixtures (scripts/build-test-fixtures.sh, the probe's go build) and,
for agent, the Nomad binary (scripts/build-nomad.sh).

Usage: bench/all.py [--only a,b] [--skip a,b] [--launcher PATH] [--probe PATH] [--fixtures DIR]
                    [--nomad PATH] [--tasks N] [--warmup N] [--scale-tasks N] [--rounds N] [--burst N]
"""
import argparse
import os
import re
import subprocess
import sys
import time

from benchlib import await_idle

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ORDER = ["startup", "tasks", "network", "cgroups", "scale", "agent"]


def command(name, a):
    py = [sys.executable, os.path.join(HERE, name + ".py")]
    common = ["--launcher", a.launcher, "--fixtures", a.fixtures]
    if name == "startup":
        return py + [a.launcher]
    if name == "tasks":
        return py + ["--tasks", str(a.tasks), "--warmup", str(a.warmup), "--probe", a.probe] + common
    if name == "network":
        return py + ["--probe", a.probe] + common
    if name == "cgroups":
        return py + ["--probe", a.probe] + common
    if name == "scale":
        return py + ["--tasks", str(a.scale_tasks), "--probe", a.probe] + common
    if name == "agent":
        return py + ["--rounds", str(a.rounds), "--burst", str(a.burst)] + common + \
            (["--nomad", a.nomad] if a.nomad else [])
    raise ValueError(name)


def grab(text, pattern, group=1, conv=float):
    m = re.search(pattern, text or "", re.M)
    return conv(m.group(group)) if m else None


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    return f"{v:.1f}{unit}" if unit != "x" else f"{v:.2f}x"


def settle(limit=90.0, quiet=0.95):
    """Waits until the machine is quiet (>= 95% idle over a second) before a benchmark: the previous one's
    tenders, cgroups and namespaces are torn down by the kernel for a while after it returns, and a
    benchmark started into that measures the teardown."""
    return await_idle(limit, quiet)


def verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def summary(out, a):
    rows = []  # (figure, value, goal, verdict)
    t, n, s, g, c = (out.get(k) for k in ("tasks", "network", "scale", "agent", "cgroups"))
    v = grab(out.get("startup"), r"^handshake latency: median ([\d.]+) ms")
    if v is not None:
        rows.append(("plugin exec -> handshake line, median (startup.py)", fmt(v, " ms"), "-", "-"))

    v = grab(t, r"^StartTask latency of the warm-up starts .*first 100 p50 ([\d.]+) ms")
    if v is not None:
        rows.append(("StartTask p50, no networking, first 100 starts of a fresh plugin (tasks.py)", fmt(v, " ms"),
                     "<= 5 ms", verdict(v <= 5)))
    v = grab(t, r"^StartTask latency: p50 ([\d.]+) ms")
    rows.append((f"StartTask p50, no networking, {a.tasks} starts after {a.warmup} earlier ones (tasks.py)",
                 fmt(v, " ms"), "<= 5 ms", verdict(None if v is None else v <= 5)))
    v = grab(t, r"^plugin CPU \(user\+system\) per StartTask: ([\d.]+) ms")
    if v is not None:
        rows.append(("  plugin CPU per StartTask (tasks.py)", fmt(v, " ms"), "-", "-"))
    single = grab(n, r"^StartTask with no other live task .*?: p50 ([\d.]+) ms")
    levels = {int(m.group(1)): float(m.group(2))
              for m in re.finditer(r"^StartTask at ~(\d+) live tasks: p50 ([\d.]+) ms", n or "", re.M)}
    if single is not None:
        rows.append(("StartTask p50, 1 NET + 2 ports, no other task (network.py cycles)", fmt(single, " ms"),
                     "<= 10 ms", verdict(single <= 10)))
    for level in sorted(levels):
        rows.append((f"StartTask p50, 1 NET + 2 ports, ~{level} live (network.py)", fmt(levels[level], " ms"),
                     "<= 10 ms", verdict(levels[level] <= 10)))
    if len(levels) >= 2:
        lo, hi = min(levels.values()), max(levels.values())
        rows.append(("  flat over the levels (max/min of their p50)", f"{hi / lo:.2f}x" if lo else "n/a",
                     "flat (<= 1.5x)", verdict(lo > 0 and hi / lo <= 1.5)))
    back_to_back = {int(m.group(1)): float(m.group(2)) for m in re.finditer(
        r"^StartTask at ~(\d+) live tasks, back to back: p50 ([\d.]+) ms", n or "", re.M)}
    for level in sorted(back_to_back):
        rows.append((f"  the same back to back at ~{level} live (beside the previous tender's start-up)",
                     fmt(back_to_back[level], " ms"), "<= 10 ms", verdict(back_to_back[level] <= 10)))
    v = grab(s, r"^StartTask \(1 NET \+ 2 ports\), \d+ sequential starts up to (\d+) live: p50 ([\d.]+) ms", 2)
    if v is not None:
        rows.append((f"StartTask p50, 1 NET + 2 ports, 0..{a.scale_tasks} live back to back (scale.py)", fmt(v, " ms"),
                     "<= 10 ms", verdict(v <= 10)))
    v = grab(t, r"^Stop\+Destroy per task: p50 ([\d.]+) ms")
    rows.append(("Stop+Destroy p50, no networking (tasks.py)", fmt(v, " ms"), "<= 20 ms",
                 verdict(None if v is None else v <= 20)))
    v = grab(n, r"^Stop\+Destroy of a lone networked task \(the same cycles\): p50 ([\d.]+) ms")
    rows.append(("Stop+Destroy p50, 1 NET + 2 ports, no other task (network.py cycles)", fmt(v, " ms"), "<= 20 ms",
                 verdict(None if v is None else v <= 20)))
    v = grab(n, r"^teardown \(StopTask \+ DestroyTask\) per task, all (?:\d+) back to back: p50 ([\d.]+) ms")
    rows.append(("Stop+Destroy p50, 1 NET + 2 ports, all back to back (network.py)", fmt(v, " ms"), "<= 20 ms",
                 verdict(None if v is None else v <= 20)))
    v = grab(s, r"^Stop\+Destroy per task: p50 ([\d.]+) ms")
    if v is not None:
        rows.append((f"Stop+Destroy p50, 1 NET + 2 ports, {a.scale_tasks} live (scale.py)", fmt(v, " ms"),
                     "<= 20 ms", verdict(v <= 20)))
    v = grab(s, r"^plugin RSS \(JVM pid \d+\) with \d+ live networked tasks: ([\d.]+) MiB")
    rows.append((f"plugin RSS, {a.scale_tasks} live networked tasks (scale.py)", fmt(v, " MiB"), "<= 150 MiB",
                 verdict(None if v is None else v <= 150)))
    m = re.search(r"^plugin RSS peaks \(0.2 s samples\): .*?recover ([\d.]+) MiB, stop\+destroy ([\d.]+) MiB", s or "",
                  re.M)
    if m:
        rows.append(("  plugin RSS peak: after the recovery / during stop+destroy (scale.py)",
                     f"{float(m.group(1)):.1f} / {float(m.group(2)):.1f} MiB", "<= 150 MiB",
                     verdict(float(m.group(1)) <= 150 and float(m.group(2)) <= 150)))
    v = grab(s, r"^time from the kill to the last recover done: ([\d.]+) s")
    ok = grab(s, r"concurrent RecoverTask [\d.]+ ms \((\d+) ok", conv=int)
    rows.append((f"SIGKILL -> relaunch -> recover all {a.scale_tasks} (scale.py)",
                 fmt(v, " s") + (f" ({ok} ok)" if ok is not None else ""), "<= 2 s",
                 verdict(None if v is None else v <= 2 and ok == a.scale_tasks)))
    m = re.search(r"unique \(and one per task\): (yes|NO); every forward and pin present: (yes|NO)", s or "")
    v = None if m is None else ("yes" if m.group(1) == m.group(2) == "yes" else "NO")
    rows.append((f"all {a.scale_tasks} taps/IPs/MACs unique, every forward and pin present (scale.py)", v or "n/a",
                 "yes", verdict(None if v is None else v == "yes")))
    v = grab(s, r"^nothing left: (yes|NO)", conv=str)
    rows.append(("nothing left after stop+destroy of all (scale.py)", v or "n/a", "nothing left",
                 verdict(None if v is None else v == "yes")))
    for kind in ("hvt", "virtio"):
        for label, key in (("Task Setup -> Started", "Task Setup -> Started"),
                           ("driver part", "log collector ready -> Started")):
            v = grab(g, r"^ratio qemu driver / mirage " + kind + r" \(" + re.escape(key) + r", p50\): ([\d.]+)x")
            rows.append((f"Nomad-observed start, qemu driver / mirage {kind} ({label})", fmt(v, "x"), ">= 1.5x",
                         verdict(None if v is None else v >= 1.5)))
    for kind in ("mirage hvt", "Nomad qemu driver"):
        m = re.search(r"^burst, " + kind + r"[^:]*: one job with count = (\d+): (\d+)/\d+ Started, registration -> "
                      r"last Started ([\d.]+) s", g or "", re.M)
        if m:
            rows.append((f"burst of {m.group(1)}, registration -> all Started, {kind} (agent.py)",
                         f"{float(m.group(3)):.2f} s ({m.group(2)} started)", "-", "-"))
    v = grab(c, r"usage ratio cpu1500 / cpu500 = ([\d.]+)")
    rows.append(("cgroup CPU usage ratio cpu 1500 : 500 (cgroups.py)", fmt(v, "x"), "~3 (2.7..3.3)",
                 verdict(None if v is None else 2.7 <= v <= 3.3)))
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'figure':<{width}}  {'value':<{vwidth}}  {'goal':<14}  verdict")
    print("-" * (width + vwidth + 30))
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:<{vwidth}}  {r[2]:<14}  {r[3]}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--only", default="", help="comma-separated subset of " + ",".join(ORDER))
    p.add_argument("--skip", default="", help="comma-separated benchmarks to leave out")
    p.add_argument("--launcher", default=os.path.join(REPO, "target/nomad-driver-mirage"))
    p.add_argument("--probe", default=os.path.join(REPO, "target/testbed/plugin-probe"))
    p.add_argument("--fixtures", default=os.path.join(REPO, "target/fixtures"))
    p.add_argument("--nomad", default=os.environ.get("MIRAGE_NOMAD"), help="Nomad binary for agent.py")
    p.add_argument("--tasks", type=int, default=100, help="tasks.py --tasks")
    p.add_argument("--warmup", type=int, default=100, help="tasks.py --warmup")
    p.add_argument("--scale-tasks", type=int, default=500, help="scale.py --tasks")
    p.add_argument("--rounds", type=int, default=30, help="agent.py --rounds")
    p.add_argument("--burst", type=int, default=60, help="agent.py --burst")
    a = p.parse_args()
    a.launcher, a.probe, a.fixtures = (os.path.abspath(x) for x in (a.launcher, a.probe, a.fixtures))
    chosen = [x for x in a.only.split(",") if x] or ORDER
    skip = {x for x in a.skip.split(",") if x}
    unknown = [x for x in chosen + list(skip) if x not in ORDER]
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; known: {','.join(ORDER)}")
    chosen = [x for x in ORDER if x in chosen and x not in skip]

    out, took, load = {}, {}, {}
    t_all = time.monotonic()
    for name in chosen:
        cmd = command(name, a)
        waited, idle = settle()
        load[name] = os.getloadavg()[0]
        print(f"\n==== {name}: {' '.join(cmd[1:])} (after {waited:.0f} s waiting for a quiet machine: {idle:.0%} idle; "
              f"load average {load[name]:.1f} on {os.cpu_count()} cpus)", flush=True)
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=HERE, stdin=subprocess.DEVNULL)
        took[name] = time.monotonic() - t0
        out[name] = r.stdout
        print(r.stdout, end="" if r.stdout.endswith("\n") else "\n")
        if r.returncode != 0 or not r.stdout.strip():
            print(f"[{name} exited with {r.returncode}; its stderr, last lines:]")
            print("\n".join(r.stderr.splitlines()[-25:]))
        print(f"[{name}: {took[name]:.0f} s]", flush=True)

    print(f"\n==== summary ({', '.join(f'{k} {v:.0f} s' for k, v in took.items())}; "
          f"total {time.monotonic() - t_all:.0f} s)")
    print("1-minute load average when each began: " + ", ".join(f"{k} {v:.1f}" for k, v in load.items())
          + f" ({os.cpu_count()} cpus; other work on the machine slows every figure)")
    summary(out, a)


if __name__ == "__main__":
    main()
