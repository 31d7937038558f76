"""Helpers the benchmark scripts share (imported from the scripts' own directory)."""

import glob
import os
import subprocess
import sys
import time


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def key_values(path):
    """The "key=value" lines of a supervisor run-directory file."""
    out = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.strip().split("=", 1)
                out[k] = v
    return out


def remove_cgroup_parent(parent, children=False):
    """Removes the benchmark's own cgroup parent (the plugin removed the tasks' cgroups in it); with
    children, first any empty task cgroups left in it (e.g. of tenders killed with their agent)."""
    for hierarchy in glob.glob("/sys/fs/cgroup/*/") + ["/sys/fs/cgroup/"]:
        path = os.path.join(hierarchy, parent)
        if os.path.isdir(path) and children:
            for entry in os.listdir(path):
                child = os.path.join(path, entry)
                if os.path.isdir(child):
                    try:
                        os.rmdir(child)
                        print(f"removed leftover task cgroup {child}", file=sys.stderr)
                    except OSError as e:
                        print(f"task cgroup {child} not removed: {e}", file=sys.stderr)
        if os.path.isdir(path):
            try:
                os.rmdir(path)
            except OSError as e:
                print(f"cgroup parent {path} not removed: {e}", file=sys.stderr)


def rss_kib(pid):
    """VmRSS of a process in KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, TypeError):
        pass
    return 0


def _children():
    """ppid -> [pid] for every process."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out.setdefault(ppid, []).append(int(pid))
    return out


def plugin_jvm(root_pid):
    """The plugin's Java process below root_pid (the probe, or the agent): a descendant whose executable is
    named java, or failing that the first descendant whose command line names nomad-driver-mirage. The
    launcher may exec the JVM (same pid as the probe's child) or start it as a child; both are found."""
    children = _children()
    todo, named = list(children.get(root_pid, [])), None
    while todo:
        pid = todo.pop(0)
        try:
            exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if exe == "java" and b"nomad-driver-mirage" in cmd:
            return pid
        if named is None and b"nomad-driver-mirage" in cmd and b"mirage-supervisor" not in cmd:
            named = pid
        todo.extend(children.get(pid, []))
    return named


def uid_range(size=1000):
    """A random range of dynamic_user_min/max uids of its own (plugins whose ranges overlap end each
    other's leftovers), within 100000..2147483646 (the plugin takes uids up to 2^31 - 2)."""
    import random
    low = random.randrange(100000, 2147483646 - size)
    return low, low + size - 1


def ms(step):
    """A probe step's duration in ms: from elapsed_us when the probe reports it (finer), else elapsed_ms."""
    if step.get("elapsed_us") is not None:
        return step["elapsed_us"] / 1000
    return float(step["elapsed_ms"])


def make_alloc(work, name, image, file_name="app.hvt", logs=True):
    """An allocation directory as Nomad lays it out: the unikernel in t/local, alloc/logs; readable by all.
    With logs, alloc/logs/t.stdout and t.stderr exist before StartTask, as Nomad's logmon FIFOs do: the
    driver opens its output paths, it does not create them (creating them would time this file system's
    inode allocation, not the driver)."""
    import shutil
    alloc = os.path.join(work, name)
    os.makedirs(os.path.join(alloc, "t/local"))
    if logs:
        os.makedirs(os.path.join(alloc, "alloc/logs"))
        for stream in ("stdout", "stderr"):
            open(os.path.join(alloc, "alloc/logs", "t." + stream), "w").close()
    shutil.copy(image, os.path.join(alloc, "t/local", file_name))
    for root, _, _ in os.walk(alloc):
        os.chmod(root, 0o755)
    return alloc


def cpu_idle(window):
    """The share of CPU time spent idle over the next `window` seconds, from /proc/stat."""
    def read():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total
    idle0, total0 = read()
    time.sleep(window)
    idle1, total1 = read()
    return (idle1 - idle0) / max(1, total1 - total0)


def await_idle(limit, quiet=0.9):
    """Returns once the CPUs were at least `quiet` idle over a second, or once about limit seconds have passed;
    returns the seconds waited and the last idle share. Quiet has no event to wait for; this polls it."""
    t0 = time.monotonic()
    idle = cpu_idle(1.0)
    while idle < quiet and time.monotonic() - t0 < limit:
        idle = cpu_idle(1.0)
    return time.monotonic() - t0, idle


def mirage_plugin_hcl(fixtures, state_dir, cgroup_parent, log_level):
    """The agent configuration's plugin block for the mirage driver as the agent benchmarks run it: the stand-in
    hvt tender and images from fixtures, a cgroup parent and a dynamic_user range of the benchmark's own."""
    uid_min, uid_max = uid_range()
    return f"""plugin "nomad-driver-mirage" {{
  config {{
    log_level        = "{log_level}"
    state_dir        = "{state_dir}"
    solo5_hvt        = "{fixtures}/bin/solo5-hvt"
    image_paths      = ["{fixtures}/images"]
    cgroup_parent    = "{cgroup_parent}"
    dynamic_user_min = {uid_min}
    dynamic_user_max = {uid_max}
  }}
}}
"""


def runtime_state_dir(work, name="state"):
    """The plugin's state_dir for a benchmark: a tmpfs of its own under work, as the default state_dir
    (/run/nomad-driver-mirage) is on systemd hosts. This container's /run lives on its root file system, whose
    per-file inode allocation would otherwise be timed instead of the driver. Give it back with
    release_state_dir before removing work."""
    path = os.path.join(work, name)
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m,mode=0755", "tmpfs", path], check=True)
    return path


def release_state_dir(path):
    """Unmounts a runtime_state_dir (lazily: nothing of the benchmark holds it any more, but never fail cleanup)."""
    subprocess.run(["umount", "-l", path], stderr=subprocess.DEVNULL)


def plugin_in_netns(work, ns, launcher):
    """A launcher wrapper that runs the plugin in network namespace ns (nsenter: only the network is private)."""
    wrapper = os.path.join(work, "plugin")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nexec nsenter --net=/run/netns/{ns} {os.path.abspath(launcher)} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    return wrapper


def probe_env(work):
    """The environment for the probe, whose plugins inherit it: a TMPDIR of the benchmark's own, so the socket
    directory of a plugin the benchmark SIGKILLs goes with the work directory instead of staying in /tmp."""
    tmp = os.path.join(work, "tmp")
    os.makedirs(tmp, exist_ok=True)
    return dict(os.environ, TMPDIR=tmp)
