#!/usr/bin/env python3
"""Plugin start-up benchmark: exec -> handshake line latency and idle RSS.

Prints figures only; asserts nothing. Usage: bench/startup.py [LAUNCHER] [--runs N]
"""
import argparse
import os
import select
import signal
import statistics
import subprocess
import tempfile
import time

COOKIE = ("NOMAD_PLUGIN_MAGIC_COOKIE",
          "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def one_run(launcher, idle_seconds):
    env = dict(os.environ)
    env[COOKIE[0]] = COOKIE[1]
    env["PLUGIN_PROTOCOL_VERSIONS"] = "2"
    with tempfile.TemporaryDirectory() as tmp:
        env["TMPDIR"] = tmp
        start = time.monotonic()
        proc = subprocess.Popen([launcher], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            if not ready:
                raise RuntimeError("no handshake line within 60 s")
            line = proc.stdout.readline().decode().strip()
            handshake_ms = (time.monotonic() - start) * 1000
            time.sleep(idle_seconds)
            rss = rss_kib(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    return handshake_ms, rss, line


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("launcher", nargs="?",
                        default=os.path.join(here, "..", "target", "nomad-driver-mirage"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--idle", type=float, default=2.0, help="seconds idle before reading RSS")
    args = parser.parse_args()

    times, rss = [], []
    for i in range(args.runs):
        ms, kib, line = one_run(args.launcher, args.idle)
        times.append(ms)
        rss.append(kib)
        print(f"run {i + 1}: handshake {ms:7.1f} ms, idle RSS {kib / 1024:6.1f} MiB  ({line})")
    print(f"handshake latency: median {statistics.median(times):.1f} ms, "
          f"min {min(times):.1f} ms, max {max(times):.1f} ms over {args.runs} runs")
    print(f"idle RSS after {args.idle:g} s: median {statistics.median(rss) / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
