#!/usr/bin/env python3
"""Per-task cgroup benchmark (prints figures, asserts nothing).

Drives the real plugin through the Go plugin-probe (real go-plugin client) on this node's v1 cgroup
hierarchies, with the driver's cgroup parent named for this run (removed afterwards):

- CPU shares: two CPU-bound stand-in hvt tasks (--standin-spin) with cpu = 500 and cpu = 1500, both
  with the same reserved core (cpuset_cpus = "1": their own cpuset cgroups), so they compete for one
  core; prints each one's CPU time over the measuring window (cpuacct.usage) and the ratio (ideal 3.0).
- Tender overhead: peak memory of the tender's cgroup (memory.max_usage_in_bytes) for an idle
  stand-in hvt task (--standin-run, 16 MB guest) and for real qemu with TCG running the virtio-hello
  kernel halted (--hang, 128 MB guest, which touches only the pages it loaded), and each tender's
  thread count next to its pids limit.

Usage: bench/cgroups.py [--seconds S] [--core N] [--probe PATH] [--launcher PATH] [--fixtures DIR]
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from benchlib import key_values, make_alloc, probe_env, uid_range

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MIB = 1024 * 1024


def mounts():
    """controller -> v1 mount point, from /proc/self/mountinfo."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fs = post.split()
            if fs and fs[0] == "cgroup":
                for opt in fs[2].split(","):
                    out.setdefault(opt, pre.split()[4])
    return out


def read(path):
    with open(path) as f:
        return f.read().strip()


def threads(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0




def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the CPU measuring window")
    parser.add_argument("--core", default="1", help="the core both CPU-bound tasks share")
    parser.add_argument("--probe", default=os.path.join(REPO, "target/testbed/plugin-probe"))
    parser.add_argument("--launcher", default=os.path.join(REPO, "target/nomad-driver-mirage"))
    parser.add_argument("--fixtures", default=os.path.join(REPO, "target/fixtures"))
    args = parser.parse_args()

    cg = mounts()
    if "memory" not in cg or "cpuacct" not in cg:
        print("this node has no v1 memory/cpuacct hierarchy; nothing measured")
        return
    parent = "mg-cg-bench-" + uuid.uuid4().hex[:8]
    uid_min, uid_max = uid_range()
    work = tempfile.mkdtemp(prefix="mirage-bench-cg-")
    os.chmod(work, 0o755)
    probe = None
    try:
        state = os.path.join(work, "state")
        ready = os.path.join(work, "ready")
        go = os.path.join(work, "go")
        tasks = {
            "cpu500": ("standin-hello.hvt", ["--solo5:quiet", "--standin-spin"], 16, 500, args.core),
            "cpu1500": ("standin-hello.hvt", ["--solo5:quiet", "--standin-spin"], 16, 1500, args.core),
            "idlehvt": ("standin-hello.hvt", ["--solo5:quiet", "--standin-run"], 16, 100, ""),
            "qemu": ("virtio-hello.virtio", ["--hang"], 128, 100, ""),
        }
        steps = [{"op": "launch"}, {"op": "await_file", "path": ready, "timeout": "120s"}]
        ids = {}
        for i, (name, (image, guest_args, memory, cpu, cores)) in enumerate(tasks.items()):
            alloc = make_alloc(work, f"alloc-{name}", os.path.join(args.fixtures, "images", image), image)
            ids[name] = f"bench-{name}/t/{i:08d}"
            steps.append({"op": "start", "label": f"start-{name}", "task": {
                "id": ids[name], "name": "t", "alloc_id": f"bench-{name}", "alloc_dir": alloc,
                "stdout_path": os.path.join(alloc, "alloc/logs/t.stdout"),
                "stderr_path": os.path.join(alloc, "alloc/logs/t.stderr"),
                "memory_mb": memory, "cpu_shares": cpu, "cpuset_cpus": cores,
                "config": {"unikernel": "local/" + image, "args": guest_args,
                           "qemu": [{"accelerator": "tcg"}] if image.endswith(".virtio") else []}}})
        steps.append({"op": "await_file", "path": go, "timeout": "300s"})
        for name in tasks:
            steps.append({"op": "destroy", "task_id": ids[name], "force": True})
        config = {"state_dir": state, "solo5_hvt": os.path.join(args.fixtures, "bin/solo5-hvt"),
                  "qemu": shutil.which("qemu-system-x86_64") or "qemu-system-x86_64",
                  "cgroup_parent": parent, "log_level": "warn",
                  # Per-task uids of their own: another plugin on this node giving out the same uid would end
                  # this run's tenders (a task's uid is cleared of processes when its task starts).
                  "dynamic_user_min": uid_min, "dynamic_user_max": uid_max}
        with open(os.path.join(work, "script.json"), "w") as f:
            json.dump({"config": config, "steps": steps}, f)

        probe = subprocess.Popen([args.probe, "-plugin", args.launcher, "-include-log=" + ("true" if os.environ.get("KEEP") else "false"), "-timeout", "600s",
                                  "-script", os.path.join(work, "script.json"), "tasks"],
                                 env=probe_env(work), stdout=subprocess.PIPE, stderr=open(os.path.join(work, "probe.err"), "w") if os.environ.get("KEEP") else subprocess.DEVNULL)
        open(ready, "w").close()
        deadline = time.time() + 120
        while time.time() < deadline and probe.poll() is None:
            if len(glob.glob(os.path.join(state, "tasks/*/tender"))) == len(tasks):
                break
            time.sleep(0.1)
        names = {name: os.path.basename(os.path.dirname(glob.glob(os.path.join(state, "tasks", "*" + ids[name].split("/")[0] + "*", "tender"))[0]))
                 for name in tasks}
        pids = {name: int(key_values(os.path.join(state, "tasks", d, "tender"))["pid"]) for name, d in names.items()}

        def cpu_ns(name):
            return int(read(os.path.join(cg["cpuacct"], parent, names[name], "cpuacct.usage")))

        time.sleep(1.0)  # both spinners settled on the shared core
        before = {n: cpu_ns(n) for n in ("cpu500", "cpu1500")}
        t0 = time.monotonic()
        time.sleep(args.seconds)
        after = {n: cpu_ns(n) for n in ("cpu500", "cpu1500")}
        wall = time.monotonic() - t0
        used = {n: (after[n] - before[n]) / 1e9 for n in before}
        print(f"cgroup v1, parent {parent}; two CPU-bound stand-in tasks sharing core {args.core} "
              f"(each in its own cpuset cgroup with cpuset.cpus = {args.core}) for {wall:.1f} s:")
        for n in ("cpu500", "cpu1500"):
            shares = read(os.path.join(cg["cpu"], parent, names[n], "cpu.shares"))
            print(f"  cpu.shares {shares:>5}: {used[n]:.2f} s CPU ({used[n] / wall * 100:.0f}% of the core)")
        ratio = used["cpu1500"] / used["cpu500"] if used["cpu500"] > 0 else float("inf")
        print(f"  usage ratio cpu1500 / cpu500 = {ratio:.2f} (shares ratio 3.00)")

        print("tender overhead (peak of the tender's memory cgroup; limit = guest memory + planned overhead):")
        for n, guest in (("idlehvt", 16), ("qemu", 128)):
            mem = os.path.join(cg["memory"], parent, names[n])
            peak = int(read(os.path.join(mem, "memory.max_usage_in_bytes")))
            limit = int(read(os.path.join(mem, "memory.limit_in_bytes")))
            stat = dict(line.split() for line in read(os.path.join(mem, "memory.stat")).splitlines())
            pids_max = read(os.path.join(cg["pids"], parent, names[n], "pids.max")) if "pids" in cg else "-"
            label = "stand-in solo5-hvt (Go, not Solo5)" if n == "idlehvt" else "qemu TCG, virtio-hello halted"
            print(f"  {label}, {guest} MiB guest: peak {peak / MIB:.1f} MiB (rss {int(stat['rss']) / MIB:.1f}, "
                  f"cache {int(stat['cache']) / MIB:.1f}), limit {limit / MIB:.0f} MiB; "
                  f"threads {threads(pids[n])}, pids.max {pids_max}")

        open(go, "w").close()
        out, _ = probe.communicate(timeout=300)
        result = json.loads(out)
        errors = [s for s in result["steps"] if s["error"]]
        left = []
        for controller in ("cpu", "cpuacct", "memory", "pids", "cpuset"):
            d = os.path.join(cg.get(controller, "/nonexistent"), parent)
            if os.path.isdir(d):
                left += [os.path.join(d, e) for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))]
        print(f"step errors: {len(errors)}{' ' + str(errors) if errors else ''}; "
              f"task cgroups left after destroy: {len(left)}")
    finally:
        if probe is not None and probe.returncode is None:
            open(os.path.join(work, "go"), "w").close()
            try:
                out, _ = probe.communicate(timeout=120)
                if os.environ.get("KEEP"):
                    print(out.decode())
            except subprocess.TimeoutExpired:
                probe.kill()
        for controller in ("cpu", "cpuacct", "memory", "pids", "cpuset"):
            d = os.path.join(cg.get(controller, "/nonexistent"), parent)
            if os.path.isdir(d):
                for e in os.listdir(d):
                    if os.path.isdir(os.path.join(d, e)):
                        try:
                            os.rmdir(os.path.join(d, e))
                        except OSError:
                            pass
                os.rmdir(d)
        if not os.environ.get("KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept", work)


if __name__ == "__main__":
    main()
