"""Helpers the benchmark scripts share (imported from the scripts' own directory)."""

import glob
import os
import sys


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


def remove_cgroup_parent(parent):
    """Removes the benchmark's own cgroup parent (the plugin removed the tasks' cgroups in it)."""
    for hierarchy in glob.glob("/sys/fs/cgroup/*/") + ["/sys/fs/cgroup/"]:
        path = os.path.join(hierarchy, parent)
        if os.path.isdir(path):
            try:
                os.rmdir(path)
            except OSError as e:
                print(f"cgroup parent {path} not removed: {e}", file=sys.stderr)
