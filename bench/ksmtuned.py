#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's ksmtuned on the same set-up as bench/reaction.py (issue 8).

ksmtuned comes from `apt-get download ksmtuned` + `dpkg-deb -x` into a
temporary directory (never installed). The copy that runs is sed'ed so that
it reads its own ksmtuned.conf (KSM_MONITOR_INTERVAL=60, DEBUG=1, LOGFILE),
the fixed meminfo samepaged sees in reaction.py (MemTotal 300 MiB) and a
temporary KSM tree: the real /sys/kernel/mm/ksm is never written.

Phase A, stock ksmtuned, all guests running, IDLE seconds: what it reports
as committed (it sums the RSS of processes matching
'^qemu-system.*-enable-kvm'; TCG guests started by libvirt are
'/usr/bin/qemu-system-x86_64 -name guest=...' without -enable-kvm, so 0),
whether it starts KSM, its CPU (utime+stime+cutime+cstime of its loop
shell) and its forks per cycle (strace -f).
Phase B, ksmtuned with the pattern patched to
'^/usr/bin/qemu-system.*-uuid (<this run's guests>)' so it sees TCG guests, and MemTotal 240 MiB (its RSS-based count of one guest,
about 215 MiB, never crosses the threshold of a 300 MiB host): reaction from `virsh start g1` returning to run=1, REPS
times (bounded by the 60 s interval; libvirt sends it no SIGUSR1).

Usage: python3 bench/ksmtuned.py [--idle 120] [--reps 3] [--guests 3]
"""
import argparse
import glob
import os
import re
import signal
import subprocess
import sys
import time

import benchlib as bl
from benchlib import sptest
import sptestbed

TOTAL_B_KIB = 240 * 1024

MEMINFO = bl.MEMINFO


def fetch_ksmtuned(directory):
    subprocess.run(["apt-get", "download", "ksmtuned"], cwd=directory, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deb = glob.glob(os.path.join(directory, "ksmtuned_*.deb"))[0]
    root = os.path.join(directory, "root")
    subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    return os.path.join(root, "usr", "sbin", "ksmtuned")


class Ksmtuned:
    def __init__(self, script, directory, tag, ksm_dir, meminfo, pattern=None, interval=60):
        self.dir = os.path.join(directory, tag)
        os.makedirs(self.dir)
        self.conf = os.path.join(self.dir, "ksmtuned.conf")
        self.log = os.path.join(self.dir, "ksmtuned.log")
        self.pidfile = os.path.join(self.dir, "ksmtune.pid")
        with open(self.conf, "w") as f:
            f.write("KSM_MONITOR_INTERVAL=%d\nDEBUG=1\nLOGFILE=%s\n" % (interval, self.log))
        with open(script) as f:
            text = f.read()
        text = text.replace("/etc/ksmtuned.conf", self.conf)
        text = text.replace("/sys/kernel/mm/ksm", ksm_dir)
        text = text.replace("/proc/meminfo", meminfo)
        if pattern:
            text = text.replace("'^qemu-system.*-enable-kvm'", "'%s'" % pattern)
        assert "/sys/kernel/mm/ksm" not in text.replace(ksm_dir, "")
        self.script = os.path.join(self.dir, "ksmtuned")
        with open(self.script, "w") as f:
            f.write(text)
        subprocess.run(["bash", self.script], env=dict(os.environ, PIDFILE=self.pidfile),
                       check=True)
        self.pid = int(sptest.wait_for(lambda: open(self.pidfile).read().strip(), 5))

    def cpu_s(self):
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def output(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        kids = []
        try:
            for task in os.listdir("/proc/%d/task" % self.pid):
                with open("/proc/%d/task/%s/children" % (self.pid, task)) as f:
                    kids += [int(x) for x in f.read().split()]
        except OSError:
            pass
        for pid in [self.pid] + kids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=int, default=120)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--guests", type=int, default=3)
    args = ap.parse_args()

    directory = sptest.make_temp_dir("sp-ksmtuned-")
    lv = sptestbed.PrivateLibvirtd()
    tuners = []
    strace = None

    # sptestbed's SIGINT/SIGTERM handler stops its daemons and exits without
    # unwinding: stop the ksmtuned loops first
    def on_signal(signum, frame, previous={}):
        for t in list(tuners):
            t.stop()
        previous[signum](signum, frame)
    for sig in (signal.SIGINT, signal.SIGTERM):
        on_signal.__defaults__[0][sig] = signal.getsignal(sig)
        signal.signal(sig, on_signal)
    try:
        script = fetch_ksmtuned(directory)
        ksm = bl.make_sysfs(directory)
        meminfo = os.path.join(directory, "meminfo")
        total = 300 * 1024
        with open(meminfo, "w") as f:
            f.write(MEMINFO.format(total=total, avail=total * 9 // 10))
        lv.start_daemon()
        names = ["g%d" % (i + 1) for i in range(args.guests)]
        for name in names:
            lv.define_guest(name, memory_mib=256, fill_mib=16)
            lv.start(name)
        for name in names:
            lv.wait_ready(name)
        stats = lv.virsh("domstats", "--balloon", "--list-running")
        truth = sum(int(x) for x in re.findall(r"balloon\.current=(\d+)", stats))

        # -- phase A: stock --
        a = Ksmtuned(script, directory, "stock", ksm, meminfo)
        tuners.append(a)
        strace_out = os.path.join(directory, "strace.out")
        strace = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=process", "-o",
                                   strace_out, "-p", str(a.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu0 = a.cpu_s()
        t0 = time.monotonic()
        time.sleep(args.idle)
        cpu1 = a.cpu_s()
        window = time.monotonic() - t0
        sptest.stop_process(strace)
        strace = None
        with open(strace_out) as f:
            trace = f.read()
        clones = re.findall(r"\bclone3?\((.*)", trace)
        forks = (len(re.findall(r"\b(fork|vfork)\(", trace))
                 + sum(1 for c in clones if "CLONE_THREAD" not in c))
        execs = len(re.findall(r"\bexecve\(", trace))
        cycles = len(re.findall(r": committed ", a.output()))
        committed_a = re.findall(r": committed (\d+) free", a.output())
        run_a = sptest.read_knob(ksm, "run")
        a.stop()
        tuners.remove(a)

        # -- phase B: pattern that matches TCG guests --
        for name in names:
            lv.destroy(name)
        # only this run's guests (other test beds may run QEMU on the host): by -uuid
        pattern = "^/usr/bin/qemu-system.*-uuid (%s)" % "|".join(lv.guests.values())
        # ksmtuned counts QEMU's RSS (about 215 MiB of a 256 MiB TCG guest
        # here), which never crosses the 300 MiB host's threshold: phase B
        # gets a 240 MiB host so that one guest starts KSM and none stops it
        meminfo_b = os.path.join(directory, "meminfo-b")
        with open(meminfo_b, "w") as f:
            f.write(MEMINFO.format(total=TOTAL_B_KIB, avail=TOTAL_B_KIB * 9 // 10))
        b = Ksmtuned(script, directory, "tcg", ksm, meminfo_b, pattern=pattern)
        tuners.append(b)
        reaction = []
        for rep in range(args.reps):
            sptest.wait_for(lambda: sptest.read_knob(ksm, "run") == "0", 150, 0.01,
                            "ksmtuned to stop KSM")
            lv.virsh("start", "g1")
            t = time.perf_counter()
            sptest.wait_for(lambda: sptest.read_knob(ksm, "run") == "1", 150, 0.01,
                            "ksmtuned to start KSM")
            reaction.append(time.perf_counter() - t)
            print("# ksmtuned reaction %.1f s" % reaction[-1], file=sys.stderr)
            lv.destroy("g1")
        committed_b = re.findall(r": committed (\d+) free", b.output())
        b.stop()
        tuners.remove(b)
    finally:
        if strace is not None:
            sptest.stop_process(strace)
        for t in tuners:
            t.stop()
        lv.stop()
        if not os.environ.get("SP_BENCH_KEEP"):
            sptest.remove_tree(directory)

    print(bl.banner(sys.argv))
    print()
    print(bl.table(["ksmtuned (Debian 4.20150326), interval 60 s, %d TCG guests" % args.guests,
                    "value"], [
        ["stock: committed it reports (KiB), per cycle", ", ".join(committed_a) or "-"],
        ["truth: sum balloon.current of running guests (KiB)", truth],
        ["stock: KSM run knob after the window", run_a],
        ["stock: idle window (s) / cycles", "%.0f / %d" % (window, cycles)],
        ["stock: CPU seconds incl. children (% of one core)",
         "%.3f (%.4f %%)" % (cpu1 - cpu0, 100 * (cpu1 - cpu0) / window)],
        ["stock: processes forked / execve in window",
         "%d / %d (%.0f forks per cycle)" % (forks, execs, forks / max(cycles, 1))],
        ["TCG-patched: reaction virsh start -> run=1 (s), each of %d" % args.reps,
         ", ".join("%.1f" % r for r in reaction)],
        ["TCG-patched: committed it reports (KiB, RSS of QEMU)",
         ", ".join(committed_b[-3:]) or "-"],
    ]))


if __name__ == "__main__":
    main()
