#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""samepaged on a real (private) libvirtd with TCG guests (issue 8).

samepaged runs like tests/system-libvirt.py: a temporary --sysfs-root KSM
tree (the real /sys/kernel/mm/ksm is never written), a fixed /proc/meminfo
bound in its private mount namespace (MemTotal 300 MiB: no guest -> KSM
stops, one 256 MiB guest -> KSM runs, threshold 20 %), /proc/<pid> real.

- reaction: `virsh start g1`, then poll the tree's `run` knob every 1 ms
  until it reads 1; time from virsh start returning (and from its call);
  then `virsh destroy g1` and wait for run=0. REPS repetitions.
- committed memory: with all guests running, samepaged's last "Refreshed"
  line vs the truth, the sum of balloon.current of the running guests
  (`virsh domstats --balloon`; all guests are mergeable here).
- idle cost over IDLE seconds with all guests running: CPU seconds
  (/proc/PID/stat utime+stime), VmHWM, threads, refreshes/decisions logged,
  and processes forked (strace -f -p PID -e trace=process: clone without
  CLONE_THREAD, fork, vfork, execve).
- libvirtd frozen (SIGSTOP) for FREEZE seconds with all guests running:
  `ksmctl status --json` (the whole process, on a private system-type bus)
  every 0.5 s; its latency (med / p99 / max, and `ksmctl --version`, no
  D-Bus, as the floor), when samepaged first reports libvirt unresponsive,
  and how long after SIGCONT it is connected again. Issue 7's target: status
  answers from the snapshot within 100 ms throughout.

Usage: python3 bench/reaction.py [--reps 20] [--idle 120] [--guests 3] [--freeze 30]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import benchlib as bl
from benchlib import sptest
import sptestbed

CONFIG = """[daemon]
monitor_interval=60
[tuning]
thres_coef=20
thres_const=0
"""

MEMINFO = bl.MEMINFO


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--idle", type=int, default=120)
    ap.add_argument("--guests", type=int, default=3)
    ap.add_argument("--freeze", type=int, default=30)
    args = ap.parse_args()

    assets = sptestbed.ensure_guest_assets()
    lv = sptestbed.PrivateLibvirtd(assets)
    directory = sptest.make_temp_dir("sp-reaction-")
    busdir = sptest.make_temp_dir("sp-reaction-bus-")
    bus = sptest.SystemBus(busdir)
    bus_env = dict(os.environ, **bus.env())
    daemon = None
    strace = None
    try:
        lv.start_daemon()
        names = ["g%d" % (i + 1) for i in range(args.guests)]
        for name in names:
            lv.define_guest(name, memory_mib=256, fill_mib=16)
        ksm = bl.make_sysfs(directory)
        meminfo = os.path.join(directory, "meminfo")
        total = 300 * 1024
        with open(meminfo, "w") as f:
            f.write(MEMINFO.format(total=total, avail=total * 9 // 10))
        config = os.path.join(directory, "samepaged.conf")
        with open(config, "w") as f:
            f.write(CONFIG)
        state = os.path.join(directory, "state")
        os.makedirs(state)
        daemon = sptestbed.NamespacedDaemon(
            ["--sysfs-root", os.path.join(directory, "sys"), "--config", config,
             "--ksmtuned-config", "", "--state-dir", state, "--connect", lv.uri, "-v"],
            [(meminfo, "/proc/meminfo"), (lv.pid_dir(), "/run/libvirt")], env=bus.env(),
            log_dir=directory)
        daemon.wait_log("Refreshed %d domain(s), 0 active"
                        % len(names), timeout=30)
        knob = lambda: sptest.read_knob(ksm, "run")
        sptest.wait_for(lambda: knob() == "0", 10, 0.01, "run=0 at start")

        # -- reaction --
        from_return, from_call = [], []
        for rep in range(args.reps):
            t_call = time.perf_counter()
            lv.virsh("start", "g1")
            t_ret = time.perf_counter()
            while knob() != "1":
                if time.perf_counter() - t_ret > 10:
                    raise AssertionError("run=1 not within 10 s:\n" + daemon.output()[-3000:])
                time.sleep(0.001)
            t_knob = time.perf_counter()
            from_return.append(t_knob - t_ret)
            from_call.append(t_knob - t_call)
            lv.virsh("destroy", "g1")
            sptest.wait_for(lambda: knob() == "0", 10, 0.005, "run=0 after destroy")
            time.sleep(0.2)
        print("# reaction median %.0f ms" % (bl.med(from_return) * 1000), file=sys.stderr)
        worst = sorted(range(len(from_return)), key=lambda i: -from_return[i])[:5]
        print("# first start %.1f ms; slowest: %s" % (
            from_return[0] * 1000,
            ", ".join("start %d %.1f ms" % (i + 1, from_return[i] * 1000) for i in worst)),
            file=sys.stderr)

        # -- committed vs truth, all guests running --
        for name in names:
            lv.start(name)
        for name in names:
            lv.wait_ready(name)
        time.sleep(3)
        stats = lv.virsh("domstats", "--balloon", "--list-running")
        truth = sum(int(x) for x in re.findall(r"balloon\.current=(\d+)", stats))
        reported = [m for m in bl.REFRESHED.finditer(daemon.output())][-1]
        reported_kib = int(reported.group(3))
        reported_active = int(reported.group(2))

        # -- idle cost --
        time.sleep(2)
        strace_out = os.path.join(directory, "strace.out")
        strace = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=process", "-o",
                                   strace_out, "-p", str(daemon.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        offset = len(daemon.output())
        cpu0 = bl.proc_cpu_s(daemon.pid)
        t0 = time.monotonic()
        time.sleep(args.idle)
        cpu1 = bl.proc_cpu_s(daemon.pid)
        window = time.monotonic() - t0
        sptest.stop_process(strace)
        strace = None
        with open(strace_out) as f:
            trace = f.read()
        forks = len(re.findall(r"\b(fork|vfork)\(", trace))
        clones = re.findall(r"\bclone3?\((.*)", trace)
        forks += sum(1 for c in clones if "CLONE_THREAD" not in c)
        execs = len(re.findall(r"\bexecve\(", trace))
        thread_clones = sum(1 for c in clones if "CLONE_THREAD" in c)
        idle_log = bl.log_lines(daemon.output()[offset:])
        idle_refreshes = sum(1 for l in idle_log if bl.REFRESHED.match(l[3]))
        idle_decisions = sum(1 for l in idle_log if bl.is_decision(l))
        cpu = cpu1 - cpu0
        hwm = bl.proc_status(daemon.pid, "VmHWM")
        rss = bl.proc_status(daemon.pid, "VmRSS")
        anon = bl.proc_status(daemon.pid, "RssAnon")
        rss_file = bl.proc_status(daemon.pid, "RssFile")
        threads = bl.threads(daemon.pid)

        # -- libvirtd frozen --
        freeze = freeze_libvirtd(lv, bus_env, args.freeze)
    finally:
        if strace is not None:
            sptest.stop_process(strace)
        if daemon is not None:
            daemon.stop()
        lv.stop()
        bus.stop()
        sptest.remove_tree(busdir)
        if not os.environ.get("SP_BENCH_KEEP"):
            sptest.remove_tree(directory)

    print(bl.banner(sys.argv))
    print()
    ms = lambda xs: "%.0f / %.0f / %.0f" % (bl.med(xs) * 1000, bl.pct(xs, 99) * 1000,
                                            max(xs) * 1000)
    print(bl.table(["samepaged, private libvirtd, %d TCG guests" % args.guests, "value"], [
        ["reaction: virsh start returned -> run=1, med / p99 / max (ms), %d reps" % args.reps,
         ms(from_return)],
        ["reaction: virsh start called -> run=1, med / p99 / max (ms)", ms(from_call)],
        ["committed reported (KiB, %d active)" % reported_active, reported_kib],
        ["truth: sum balloon.current of running guests (KiB)", truth],
        ["idle window (s), all guests running, tick 60 s", "%.0f" % window],
        ["CPU seconds in window (% of one core)", "%.3f (%.4f %%)" % (cpu, 100 * cpu / window)],
        ["refreshes / decisions in window", "%d / %d" % (idle_refreshes, idle_decisions)],
        ["processes forked / execve in window (strace)", "%d / %d" % (forks, execs)],
        ["threads created in window / threads now", "%d / %d" % (thread_clones, threads)],
        ["VmRSS / VmHWM (KiB)", "%d / %d" % (rss, hwm)],
        ["of which RssAnon / RssFile (KiB)", "%d / %d" % (anon, rss_file)],
        ["libvirtd frozen %d s: ksmctl status --json, med / p99 / max (ms), %d calls"
         % (args.freeze, len(freeze["status"])), ms(freeze["status"])],
        ["  ksmctl --version (no D-Bus) meanwhile, med / p99 / max (ms)", ms(freeze["floor"])],
        ["  libvirt first reported unresponsive (s into the freeze)", freeze["unresponsive"]],
        ["  connected again after SIGCONT (s)", freeze["reconnected"]],
    ]))


def ksmctl_status(env):
    t = time.perf_counter()
    r = subprocess.run([sptest.KSMCTL, "status", "--json"], env=env, capture_output=True,
                       text=True)
    took = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError("ksmctl status failed: " + r.stderr)
    return took, json.loads(r.stdout)["libvirt"]


def freeze_libvirtd(lv, env, seconds):
    """ksmctl status every 0.5 s while libvirtd is stopped, then SIGCONT."""
    status, floor = [], []
    unresponsive = None
    lv.freeze()
    frozen = time.monotonic()
    try:
        while time.monotonic() - frozen < seconds:
            took, libvirt = ksmctl_status(env)
            status.append(took)
            if unresponsive is None and not libvirt["connected"]:
                unresponsive = "%.1f (%s)" % (time.monotonic() - frozen, libvirt["status"])
            floor += bl.timed([sptest.KSMCTL, "--version"], env=env, runs=1)
            time.sleep(0.5)
    finally:
        lv.thaw()
    thawed = time.monotonic()
    reconnected = None
    while time.monotonic() - thawed < 60:
        if ksmctl_status(env)[1]["connected"]:
            reconnected = "%.1f" % (time.monotonic() - thawed)
            break
        time.sleep(0.05)
    return {"status": status, "floor": floor, "unresponsive": unresponsive or "never",
            "reconnected": reconnected or "not within 60 s"}


if __name__ == "__main__":
    main()
