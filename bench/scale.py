#!/usr/bin/env python3
"""Scale benchmark: N (default 500) live networked hvt tasks on one plugin.

With the plugin inside a network namespace this script creates (and deletes), through the Go
plugin-probe (real go-plugin client) and the stand-in solo5-hvt tender from the test fixtures
(images/standin-hello-net.hvt, --standin-run, 16 MB, one NET device, two ports each):

1. N StartTask calls one after another: p50/p99 latency.
2. With N live tasks: are all taps, addresses and MACs unique, and is every forward and pin there
   (`ip -o link`, `iptables-save -t nat`, `nft -j list` of the forward maps and the pin sets inside the
   namespace, the lease file under the plugin's state dir network/); the plugin JVM's RSS (and its
   peak per phase, sampled every 0.2 s, and after the destroy of all).
3. kill_plugin (SIGKILL) -> launch -> RecoverTask of all N at once (as the agent's task runners do,
   with the handles as the agent keeps them in memory, or with --stripped as its state DB gives
   them back after an agent restart): time from the kill to the last recover
   done, and the launch alone; are the same tenders still alive.
4. StopTask + DestroyTask of all: is anything left (taps, forwards, task rules, pins, leases, tender
   processes, task cgroups under this run's own cgroup parent mirage-bench-<pid>, which is removed
   afterwards).

Prints figures next to the goals; asserts nothing, exits 0 even when goals are missed.

Usage: bench/scale.py [--tasks N] [--stripped] [--probe PATH] [--launcher PATH] [--fixtures DIR]
                      [--config KEY=JSON]...
"""
import argparse
import fcntl
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from benchlib import (key_values, make_alloc, ms, percentile, plugin_in_netns, plugin_jvm, probe_env,
                      release_state_dir, remove_cgroup_parent, rss_kib, runtime_state_dir, uid_range)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TAP = re.compile(r"^mg[a-z2-7]{13}$")
GOAL_RSS_MIB = 150
GOAL_RECOVER_S = 2.0


def in_ns(ns, *cmd):
    r = subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, check=False)
    return r.stdout


def taps(ns):
    """Our taps (name shape of nomadmirage.network.TapNames) -> their `ip -o link` line."""
    out = {}
    for line in in_ns(ns, "ip", "-o", "link").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            name = parts[1].strip().split("@")[0]
            if TAP.match(name):
                out[name] = parts[2]
    return out


def forwards(ns):
    """(proto, host port, guest address:port) of every element of the ip nomad_mirage forward maps."""
    out = []
    for name in ("fwd_local", "fwd_addr"):
        text = subprocess.run(["ip", "netns", "exec", ns, "nft", "-j", "list", "map", "ip", "nomad_mirage", name],
                              capture_output=True, text=True, check=False).stdout
        try:
            items = json.loads(text).get("nftables", []) if text.strip() else []
        except json.JSONDecodeError:
            items = []
        for item in items:
            for key, value in item.get("map", {}).get("elem", []):
                k, v = key["concat"], value["concat"]
                out.append((str(k[-2]), int(k[-1]), f"{v[0]}:{v[1]}"))
    return out


def dnat_rules(ns):
    """(proto, host port, destination) of every DNAT rule in the nat table (forwards are map elements now)."""
    rules = []
    for line in in_ns(ns, "iptables-save", "-t", "nat").splitlines():
        if "-j DNAT" not in line:
            continue
        proto = re.search(r"-p (\w+)", line)
        port = re.search(r"--dport (\d+)", line)
        dest = re.search(r"--to-destination (\S+)", line)
        rules.append((proto.group(1) if proto else "?", int(port.group(1)) if port else 0,
                      dest.group(1) if dest else "?"))
    return rules


def nat_lines_naming(ns, addresses):
    """nat rules (not chain declarations) that name one of these addresses."""
    words = {a for a in addresses}
    return [l for l in in_ns(ns, "iptables-save", "-t", "nat").splitlines()
            if l.startswith("-A") and any(re.search(r"(^|[\s/:])" + re.escape(a) + r"([\s/:]|$)", l) for a in words)]


def nft_sets(ns):
    """Elements of the sets of table bridge nomad_mirage: name -> list of tuples (or strings)."""
    out = subprocess.run(["ip", "netns", "exec", ns, "nft", "-j", "list", "table", "bridge", "nomad_mirage"],
                         capture_output=True, text=True, check=False).stdout
    sets = {}
    try:
        items = json.loads(out).get("nftables", []) if out.strip() else []
    except json.JSONDecodeError:
        items = []
    for item in items:
        s = item.get("set")
        if not s:
            continue
        elems = []
        for e in s.get("elem", []):
            if isinstance(e, dict) and "concat" in e:
                elems.append(tuple(str(x) for x in e["concat"]))
            elif isinstance(e, dict) and "elem" in e:
                v = e["elem"].get("val")
                elems.append(tuple(str(x) for x in v["concat"]) if isinstance(v, dict) and "concat" in v else str(v))
            else:
                elems.append(str(e))
        sets[s["name"]] = elems
    return sets


def leases(state):
    """The pool's leases: the snapshot (leases.json) with the journal (leases.journal) replayed on it, read under
    the plugin's node lock (a POSIX lock on network/lock, as the plugin takes it)."""
    net = os.path.join(state, "network")
    snapshot, journal = os.path.join(net, "leases.json"), os.path.join(net, "leases.journal")
    if not os.path.exists(snapshot) and not os.path.exists(journal):
        return []
    with open(os.path.join(net, "lock"), "a") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX)
        try:
            try:
                with open(snapshot) as f:
                    current = json.load(f).get("leases", [])
            except (OSError, json.JSONDecodeError):
                current = []
            try:
                with open(journal) as f:
                    lines = f.read().split("\n")[:-1]  # the last piece lacks its newline: cut short, not read
            except OSError:
                lines = []
        finally:
            fcntl.lockf(lock, fcntl.LOCK_UN)
    for line in lines:
        entry = json.loads(line)
        if "add" in entry:
            add = entry["add"]
            current = [l for l in current if (l["task_id"], l["device"]) != (add["task_id"], add["device"])] + [add]
        else:
            current = [l for l in current if l["task_id"] not in entry["release"]]
    return current


def tenders(state):
    """task dir name -> tender pid, from the supervisor's run files."""
    out = {}
    for t in glob.glob(os.path.join(state, "tasks/*/tender")):
        try:
            out[os.path.basename(os.path.dirname(t))] = int(key_values(t)["pid"])
        except (OSError, KeyError, ValueError):
            pass
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def task_cgroups(parent):
    left = []
    for hierarchy in glob.glob("/sys/fs/cgroup/*/") + ["/sys/fs/cgroup/"]:
        d = os.path.join(hierarchy, parent)
        if os.path.isdir(d):
            left += [os.path.join(d, e) for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))]
    return left


def wait_for(path, probe, limit):
    deadline = time.time() + limit
    while time.time() < deadline:
        if os.path.exists(path):
            return True
        if probe.poll() is not None:
            return False
        time.sleep(0.1)
    return False


class RssSampler(threading.Thread):
    """Samples the plugin JVM's RSS every 0.2 s; keeps the peak per phase (the main thread names it)."""

    def __init__(self, probe_pid):
        super().__init__(daemon=True)
        self.probe_pid, self.phase, self.peak, self.pid, self.done = probe_pid, "start", {}, None, False

    def run(self):
        while not self.done:
            if self.pid is None or rss_kib(self.pid) == 0:
                self.pid = plugin_jvm(self.probe_pid)
            kib = rss_kib(self.pid) if self.pid else 0
            self.peak[self.phase] = max(self.peak.get(self.phase, 0), kib)
            time.sleep(0.2)


def yes(b):
    return "yes" if b else "NO"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--probe", default=os.path.join(REPO, "target/testbed/plugin-probe"))
    parser.add_argument("--launcher", default=os.path.join(REPO, "target/nomad-driver-mirage"))
    parser.add_argument("--fixtures", default=os.path.join(REPO, "target/fixtures"))
    parser.add_argument("--config", action="append", default=[], metavar="KEY=JSON", help="extra plugin config")
    parser.add_argument("--stripped", action="store_true",
                        help="recover with handles as after an agent restart (state DB encoding: no raw driver "
                             "config) instead of the ones the agent holds in memory after a plugin crash")
    args = parser.parse_args()
    n = args.tasks
    t_begin = time.monotonic()

    ns = "mgscale-" + uuid.uuid4().hex[:8]
    work = tempfile.mkdtemp(prefix="mirage-scalebench-")
    cgroup_parent = f"mirage-bench-{os.getpid()}"
    os.chmod(work, 0o755)
    probe = None
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        wrapper = plugin_in_netns(work, ns, args.launcher)
        state = runtime_state_dir(work)
        image = os.path.join(args.fixtures, "images/standin-hello-net.hvt")
        flags = {k: os.path.join(work, k) for k in ("started", "go1", "recovered", "go2", "destroyed", "go3")}
        ids = [f"s{i}/t/{i:08d}" for i in range(n)]
        ports = {ids[i]: [(20000 + i, 80), (40000 + i, 53)] for i in range(n)}
        steps = [{"op": "launch"}]
        for i in range(n):
            alloc = make_alloc(work, f"s{i}", image)
            steps.append({"op": "start", "label": f"start-{i}", "task": {
                "id": ids[i], "name": "t", "alloc_id": f"s{i}", "alloc_dir": alloc, "memory_mb": 16,
                "stdout_path": os.path.join(alloc, "alloc/logs/t.stdout"),
                "stderr_path": os.path.join(alloc, "alloc/logs/t.stderr"),
                "ports": [{"label": "http", "value": ports[ids[i]][0][0], "to": 80},
                          {"label": "dns", "value": ports[ids[i]][1][0], "to": 53}],
                "config": {"unikernel": "local/app.hvt", "args": ["--solo5:quiet", "--standin-run"]}}})
        steps += [{"op": "touch", "path": flags["started"]},
                  {"op": "await_file", "path": flags["go1"], "timeout": "1200s"},
                  {"op": "kill_plugin", "label": "kill"},
                  {"op": "launch", "label": "relaunch"},
                  {"op": "parallel", "label": "recover-all",
                   "steps": [{"op": "recover", "label": f"recover-{i}", "task_id": ids[i],
                              "strip_driver_config": args.stripped} for i in range(n)]},
                  {"op": "touch", "path": flags["recovered"]},
                  {"op": "await_file", "path": flags["go2"], "timeout": "1200s"}]
        for i in range(n):
            steps.append({"op": "stop", "label": f"stop-{i}", "task_id": ids[i], "timeout": "5s"})
            steps.append({"op": "destroy", "label": f"destroy-{i}", "task_id": ids[i], "force": True})
        steps += [{"op": "touch", "path": flags["destroyed"]},
                  {"op": "await_file", "path": flags["go3"], "timeout": "1200s"}]
        uid_min, uid_max = uid_range()
        config = {"state_dir": state, "log_level": "warn", "solo5_hvt": os.path.join(args.fixtures, "bin/solo5-hvt"),
                  "cgroup_parent": cgroup_parent, "dynamic_user_min": uid_min, "dynamic_user_max": uid_max}
        for item in args.config:
            key, _, value = item.partition("=")
            config[key] = json.loads(value)
        with open(os.path.join(work, "script.json"), "w") as f:
            json.dump({"config": config, "steps": steps}, f)
        probe_err = open(os.path.join(work, "probe.err"), "w")
        probe = subprocess.Popen([args.probe, "-plugin", wrapper, "-include-log=false", "-timeout", "3600s",
                                  "-script", os.path.join(work, "script.json"), "tasks"],
                                 env=probe_env(work), stdout=subprocess.PIPE, stderr=probe_err, stdin=subprocess.DEVNULL)
        # The probe's stdout is read only at the end: a pipe buffer holds far less than its JSON, but it
        # writes it only after the last step, so nothing blocks before.
        figures = {}
        sampler = RssSampler(probe.pid)
        sampler.start()
        if not wait_for(flags["started"], probe, 1800):
            print("the probe ended (or timed out) before all tasks were started")
        else:
            time.sleep(1.0)
            jvm = plugin_jvm(probe.pid)
            rss = rss_kib(jvm) / 1024 if jvm else 0
            links = taps(ns)
            lease_list = leases(state)
            addrs = [l.get("ip") for l in lease_list]
            macs = [l.get("mac") for l in lease_list]
            rules = set(forwards(ns))
            iptables_dnat = dnat_rules(ns)
            sets = nft_sets(ns)
            by_task = {l.get("task_id"): l for l in lease_list}
            missing_rules, missing_pins = 0, 0
            ip_pins = {(p[1].lower(), p[2]) for p in sets.get("ip_pins", []) if isinstance(p, tuple) and len(p) == 3}
            pin_taps = {p[0] for p in sets.get("ip_pins", []) if isinstance(p, tuple)}
            arp_pins = {(p[1].lower(), p[3]) for p in sets.get("arp_pins", []) if isinstance(p, tuple) and len(p) == 4}
            for tid in ids:
                lease = by_task.get(tid)
                if lease is None:
                    missing_rules += 4
                    missing_pins += 1
                    continue
                for host, to in ports[tid]:
                    for proto in ("tcp", "udp"):
                        if (proto, host, f"{lease['ip']}:{to}") not in rules:
                            missing_rules += 1
                key = ((lease.get("mac") or "").lower(), lease["ip"])
                if key not in ip_pins or key not in arp_pins:
                    missing_pins += 1
            before = tenders(state)
            live = sum(1 for p in before.values() if alive(p))
            print(f"tasks: {n} (stand-in solo5-hvt --standin-run, 16 MB, 1 NET device, 2 ports each), "
                  f"plugin in network namespace {ns}")
            print(f"live tenders: {live}/{n}")
            print(f"taps: {len(links)} (unique names {len(set(links))}; on a bridge: "
                  f"{sum(1 for l in links.values() if ' master ' in l)}); leases: {len(lease_list)}, "
                  f"unique addresses {len(set(addrs))}, unique MACs {len(set(macs))}")
            print(f"forwards (nft map elements): {len(rules)} (expected {4 * n}: 2 ports x tcp/udp), missing for "
                  f"tasks: {missing_rules}; iptables DNAT rules: {len(iptables_dnat)} (expected 0); nft pins: ip_pins {len(sets.get('ip_pins', []))}, arp_pins "
                  f"{len(sets.get('arp_pins', []))}, taps set {len(sets.get('taps', []))}, tasks whose pin is "
                  f"missing {missing_pins}; pinned taps = our links: {yes(pin_taps == set(links))}")
            unique = (len(links) == n and len(set(addrs)) == n and len(set(macs)) == n and len(lease_list) == n)
            complete = missing_rules == 0 and missing_pins == 0 and pin_taps == set(links) and not iptables_dnat
            print(f"all taps/IPs/MACs unique (and one per task): {yes(unique)}; every forward and pin present: "
                  f"{yes(complete)}")
            print(f"plugin RSS (JVM pid {jvm}) with {n} live networked tasks: {rss:.1f} MiB "
                  f"(goal <= {GOAL_RSS_MIB} MiB: {'met' if 0 < rss <= GOAL_RSS_MIB else 'MISSED'})")
            figures.update(rss=rss, unique=unique, complete=complete)
            sampler.phase = "kill, relaunch, recover"
            open(flags["go1"], "w").close()

            if not wait_for(flags["recovered"], probe, 600):
                print("the probe ended (or timed out) before the recovery was done")
            else:
                after = tenders(state)
                same = sum(1 for k, p in before.items() if after.get(k) == p and alive(p))
                time.sleep(0.5)
                jvm2 = plugin_jvm(probe.pid)
                figures["same_tenders"] = same
                figures["rss_after"] = rss_kib(jvm2) / 1024 if jvm2 else 0
                sampler.phase = "stop+destroy"
                open(flags["go2"], "w").close()
                if not wait_for(flags["destroyed"], probe, 1800):
                    print("the probe ended (or timed out) before all tasks were destroyed")
                else:
                    # DestroyTask returns once the forwards are gone; taps, pins and leases follow from the
                    # plugin's reaper. Polled until nothing is left (or 60 s), and the wait is reported.
                    destroyed_at = time.monotonic()
                    while True:
                        left = {
                            "taps": len(taps(ns)),
                            "task nat rules": len(nat_lines_naming(ns, [a for a in addrs if a])),
                            "DNAT rules": len(dnat_rules(ns)),
                            "forwards": len(forwards(ns)),
                            "pins": sum(len(v) for v in nft_sets(ns).values()),
                            "leases": len(leases(state)),
                            "tender processes": sum(1 for p in before.values() if alive(p)),
                            "task cgroups": len(task_cgroups(cgroup_parent)),
                            "task state dirs": len(glob.glob(os.path.join(state, "tasks/*"))),
                        }
                        if all(v == 0 for v in left.values()) or time.monotonic() - destroyed_at > 60:
                            break
                        time.sleep(0.05)
                    figures["left"] = left
                    figures["settled_s"] = time.monotonic() - destroyed_at
                    figures["rss_destroyed"] = rss_kib(sampler.pid) / 1024 if sampler.pid else 0
                sampler.phase = "end"
                open(flags["go3"], "w").close()

        out, _ = probe.communicate(timeout=1800)
        sampler.done = True
        with open(os.path.join(work, "probe.json"), "wb") as f:
            f.write(out)
        try:
            result = json.loads(out)
        except json.JSONDecodeError:
            print("probe output is no JSON:", out[:500])
            return
        by_label = {}
        for s in result["steps"]:
            if s.get("label"):
                by_label[s["label"]] = s
            for sub in s.get("results") or []:
                if sub.get("label"):
                    by_label[sub["label"]] = sub
        errors = [s for s in by_label.values() if s.get("error")] + \
                 [s for s in result["steps"] if s.get("error") and not s.get("label")]
        if result.get("aborted"):
            print("probe aborted:", result["aborted"])
        starts = [ms(by_label[f"start-{i}"]) for i in range(n)
                  if f"start-{i}" in by_label and not by_label[f"start-{i}"]["error"]]
        if starts:
            print(f"StartTask (1 NET + 2 ports), {len(starts)} sequential starts up to {n} live: "
                  f"p50 {percentile(starts, 50):.1f} ms, p99 {percentile(starts, 99):.1f} ms, max {max(starts):.1f} ms")
        kill, relaunch, rec = by_label.get("kill"), by_label.get("relaunch"), by_label.get("recover-all")
        if kill and relaunch and rec:
            recovers = [by_label[f"recover-{i}"] for i in range(n) if f"recover-{i}" in by_label]
            ok = [r for r in recovers if not r["error"]]
            total = ms(kill) + ms(relaunch) + ms(rec)
            print(f"kill -> recover all: SIGKILL {ms(kill):.0f} ms, launch (to SetConfig, schema, events "
                  f"stream) {ms(relaunch):.0f} ms, {len(recovers)} concurrent RecoverTask "
                  f"{ms(rec):.0f} ms ({len(ok)} ok; slowest single {max((ms(r) for r in recovers), default=0):.0f} ms)")
            print(f"time from the kill to the last recover done: {total / 1000:.2f} s (goal <= {GOAL_RECOVER_S} s: "
                  f"{'met' if total / 1000 <= GOAL_RECOVER_S and len(ok) == n else 'MISSED'}); launch alone "
                  f"{ms(relaunch) / 1000:.2f} s")
            if "same_tenders" in figures:
                print(f"same tenders alive after the recovery: {figures['same_tenders']}/{n}; plugin RSS after "
                      f"the recovery {figures['rss_after']:.1f} MiB")
        stops = [ms(by_label[f"stop-{i}"]) + ms(by_label[f"destroy-{i}"]) for i in range(n)
                 if f"stop-{i}" in by_label and f"destroy-{i}" in by_label]
        if stops:
            only_stop = [ms(by_label[f"stop-{i}"]) for i in range(n) if f"stop-{i}" in by_label]
            only_destroy = [ms(by_label[f"destroy-{i}"]) for i in range(n) if f"destroy-{i}" in by_label]
            print(f"Stop+Destroy per task: p50 {percentile(stops, 50):.1f} ms, p99 {percentile(stops, 99):.1f} ms "
                  f"(StopTask p50 {percentile(only_stop, 50):.1f} ms, DestroyTask p50 "
                  f"{percentile(only_destroy, 50):.1f} ms)")
        print("plugin RSS peaks (0.2 s samples): " + ", ".join(
            f"{k} {v / 1024:.1f} MiB" for k, v in sampler.peak.items() if k != "end")
            + (f"; after destroy-all {figures['rss_destroyed']:.1f} MiB" if "rss_destroyed" in figures else ""))
        if "left" in figures:
            left = figures["left"]
            nothing = all(v == 0 for v in left.values())
            print("left after stop+destroy of all: " + ", ".join(f"{k} {v}" for k, v in left.items())
                  + f" ({figures['settled_s']:.2f} s after the last DestroyTask returned)")
            print(f"nothing left: {yes(nothing)} (goal: nothing left)")
        print(f"step errors: {len(errors)}" + (f"; first: {errors[0].get('label') or errors[0]['op']}: "
                                              f"{errors[0]['error']}" if errors else ""))
        for e in errors[1:4]:
            print(f"  {e.get('label') or e['op']}: {e['error']}")
        cleanup_errors = [c for c in result.get("cleanup") or [] if c.get("error")]
        if result.get("cleanup"):
            print(f"probe cleanup had to destroy {len(result['cleanup'])} task(s), errors {len(cleanup_errors)}")
    finally:
        if probe is not None and probe.poll() is None:
            for flag in ("go1", "go2", "go3"):
                open(os.path.join(work, flag), "w").close()
            try:
                probe.communicate(timeout=600)
            except subprocess.TimeoutExpired:
                probe.kill()
                probe.wait()
        remove_cgroup_parent(cgroup_parent)
        subprocess.run(["ip", "netns", "delete", ns], check=False)
        release_state_dir(os.path.join(work, "state"))
        if os.environ.get("KEEP"):
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
        print(f"(scale.py took {time.monotonic() - t_begin:.0f} s)")


if __name__ == "__main__":
    main()
