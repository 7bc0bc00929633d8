#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Memory saved and ksmd CPU on the REAL KSM, samepaged and ksmtuned in turn
(issue 8, point 3).

Unlike the other bench/ scripts this writes the real /sys/kernel/mm/ksm:
every knob is saved first (sptest.save_real_knobs) and put back in a finally
(sptest.restore_real_knobs: run=2 unmerges, then every knob as it was). It
refuses to start if KSM is already running or holds merged pages.

Set-up, the same for every tuner: a private libvirtd with GUESTS TCG guests
(256 MiB, each filling --fill MiB of identical pages); a fixed meminfo file
with the host's MemTotal and 1 GiB free/available (below the 20 % threshold:
pressure, so both tuners run KSM and boost the scan rate). Each tuner gets
the same 60 s interval (ksmtuned's default, samepaged's monitor_interval).
  samepaged     --connect the private URI, meminfo bound over /proc/meminfo
                in its mount namespace; scan_rate=auto (the kernel's advisor)
                and, with --tuners ...,samepaged-classic, scan_rate=classic
                (ksmtuned's pages_to_scan boost and decay).
  ksmtuned      Debian's script from `apt-get download ksmtuned`, sed'ed to
                read that meminfo and its own ksmtuned.conf (DEBUG=1,
                LOGFILE), with its process pattern set to this run's guests
                by -uuid (the stock pattern needs -enable-kvm and sees no TCG
                guest, see bench/ksmtuned.py).

Each run: the tuner starts, then every guest is started at once. Every
0.5 s: pages_sharing x page size (saved), run, and the CPU seconds of the
ksmd kernel thread (/proc/PID/stat utime+stime). Reported: the saving at
fixed times, the time and ksmd CPU to 90 % of the final saving (the saving
once it grew < 1 % over --settle seconds), ksmd's CPU on the plateau. Then,
at --off-at s at the earliest (default 187: 7 s after the third 60 s tick
of either tuner, which both start with the clock), the pressure goes away
with the guests still running (the meminfo file is rewritten in place to
90 % available): time until run=0 and until ksmd's CPU stops growing, and
ksmd CPU seconds spent meanwhile. The guests are then
destroyed and KSM unmerged before the next tuner.

Usage: python3 bench/saving.py [--tuners samepaged,ksmtuned] [--guests 3]
                               [--fill 160] [--settle 30] [--interval 60]
"""
import argparse
import contextlib
import json
import os
import re
import signal
import sys
import threading
import time

import benchlib as bl
from benchlib import sptest
import ksmtuned as kt
import sptestbed

CONFIG = """[daemon]
monitor_interval={interval}
[tuning]
thres_coef=20
thres_const=0
scan_rate={scan_rate}
"""

MEMINFO = bl.MEMINFO
PAGE = os.sysconf("SC_PAGE_SIZE")
REAL = sptest.REAL_KSM
MARKS = (15, 30, 60, 90, 120, 180)


def ksmd_pid():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/comm" % entry) as f:
                    if f.read().strip() == "ksmd":
                        return int(entry)
            except OSError:
                pass
    raise RuntimeError("no ksmd kernel thread")


def real(name):
    return int(sptest.read_knob(REAL, name).split()[0])


@contextlib.contextmanager
def claimed_real_ksm(prefix):
    """The real KSM for one benchmark: refused (exit) when something uses it;
    its knobs saved and put back at the end, also on SIGINT/SIGTERM
    (sptestbed's handler stops its daemons and exits without unwinding: the
    knobs go back first); a private libvirtd started and a work directory.
    Yields (libvirtd, directory, MemTotal KiB, ksmd's PID)."""
    if real("run") != 0 or real("pages_sharing") != 0:
        sys.exit("the real KSM is in use (run=%d, pages_sharing=%d): not benchmarking on it"
                 % (real("run"), real("pages_sharing")))
    ksmd = ksmd_pid()
    saved_knobs = sptest.save_real_knobs()

    def on_signal(signum, frame, previous={}):
        sptest.restore_real_knobs(saved_knobs)
        previous[signum](signum, frame)
    lv = sptestbed.PrivateLibvirtd(sptestbed.ensure_guest_assets())
    for sig in (signal.SIGINT, signal.SIGTERM):
        on_signal.__defaults__[0][sig] = signal.getsignal(sig)
        signal.signal(sig, on_signal)
    directory = sptest.make_temp_dir(prefix)
    try:
        with open("/proc/meminfo") as f:
            total = int(f.readline().split()[1])
        lv.start_daemon()
        yield lv, directory, total, ksmd
    finally:
        lv.stop()
        sptest.restore_real_knobs(saved_knobs)
        if not os.environ.get("SP_BENCH_KEEP"):
            sptest.remove_tree(directory)



def write_meminfo(path, total, avail):
    # in place: the bind mount in samepaged's namespace shows this inode
    with open(path, "r+") as f:
        f.truncate(0)
        f.write(MEMINFO.format(total=total, avail=avail))


def mib(b):
    return "%.1f" % (b / 1048576.0)


class Samepaged:
    def __init__(self, lv, directory, meminfo, interval, scan_rate):
        self.lv, self.meminfo, self.daemon, self.scan_rate = lv, meminfo, None, scan_rate
        self.name = "samepaged" if scan_rate == "auto" else "samepaged, classic"
        self.dir = os.path.join(directory, "samepaged-" + scan_rate)
        os.makedirs(os.path.join(self.dir, "state"))
        self.config = os.path.join(self.dir, "samepaged.conf")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(interval=interval, scan_rate=scan_rate))

    def start(self, names, active=0):
        self.daemon = sptestbed.NamespacedDaemon(
            ["--config", self.config, "--ksmtuned-config", "", "--state-dir",
             os.path.join(self.dir, "state"), "--connect", self.lv.uri, "-v"],
            [(self.meminfo, "/proc/meminfo"), (self.lv.pid_dir(), "/run/libvirt")],
            log_dir=self.dir)
        self.daemon.wait_log("Refreshed %d domain(s), %d active" % (len(names), active),
                             timeout=30)

    def decisions(self):
        return len([l for l in bl.log_lines(self.daemon.output()) if bl.is_decision(l)])

    def stop(self):
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None


class Ksmtuned:
    name = "ksmtuned"

    def __init__(self, lv, directory, meminfo, interval):
        self.lv, self.directory, self.meminfo, self.interval = lv, directory, meminfo, interval
        self.script = kt.fetch_ksmtuned(directory)
        self.proc = None

    def start(self, names, active=0):
        pattern = "^/usr/bin/qemu-system.*-uuid (%s)" % "|".join(self.lv.guests[n] for n in names)
        self.proc = kt.Ksmtuned(self.script, self.directory, "ksmtuned", REAL, self.meminfo,
                                pattern=pattern, interval=self.interval)

    def decisions(self):
        return len(re.findall(r": committed ", self.proc.output()))

    def stop(self):
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


class Sampler:
    def __init__(self, ksmd):
        self.ksmd = ksmd
        self.t0 = time.monotonic()
        self.next = self.t0
        self.samples = []  # (t, saved bytes, ksmd cpu s, run)

    def sample(self):
        s = (time.monotonic() - self.t0, real("pages_sharing") * PAGE,
             bl.proc_cpu_s(self.ksmd), real("run"))
        self.samples.append(s)
        return s

    def tick(self):
        self.next += 0.5
        time.sleep(max(0, self.next - time.monotonic()))
        return self.sample()


def start_guests(lv, names, sampler, tuner):
    """Starts the guests (in a thread) and samples until each has booted and
    filled its memory; returns the sampler's time then."""
    # the serial logs keep an earlier run's boot (QEMU truncates them
    # when it opens them, perhaps after the first poll): empty them first
    for n in names:
        if os.path.exists(lv.serial_path(n)):
            os.truncate(lv.serial_path(n), 0)
    starter = threading.Thread(target=lambda: [lv.start(n) for n in names])
    starter.start()
    ready = set()
    while len(ready) < len(names):
        for name in names:
            if name not in ready and sptestbed.READY_MARKER in lv.serial(name):
                ready.add(name)
        if time.monotonic() - sampler.t0 > 180:
            raise AssertionError("guests not ready in 180 s")
        sampler.tick()
    starter.join()
    t_ready = sampler.sample()[0]
    print("# %s: all %d guests ready after %.1f s" % (tuner.name, len(names), t_ready),
          file=sys.stderr)
    return t_ready


def run_one(tuner, lv, names, meminfo, total, ksmd, args):
    """One tuner from start to the end of its pressure; returns a result dict."""
    write_meminfo(meminfo, total, 1024 * 1024)
    saved_knobs = sptest.save_real_knobs()
    r = {"name": tuner.name}
    try:
        tuner.start(names)
        sampler = Sampler(ksmd)
        sampler.sample()
        t_ready = start_guests(lv, names, sampler, tuner)

        # until the saving grew < 1 % over the last --settle seconds
        while True:
            t, saved, _, _ = sampler.tick()
            recent = [s for s in sampler.samples if s[0] >= t - args.settle]
            if (t - t_ready >= args.settle and saved > 0
                    and saved - recent[0][1] < 0.01 * saved and t >= args.off_at):
                break
            if t > args.max:
                print("# %s: no plateau within %d s" % (tuner.name, args.max), file=sys.stderr)
                break
        final = max(s[1] for s in recent)
        r["final"] = final
        r["marks"] = [max([s[1] for s in sampler.samples if s[0] <= m] or [0]) for m in MARKS]
        t_first = next((s[0] for s in sampler.samples if s[3] == 1), None)
        r["first_run"] = t_first
        t90, cpu90 = next((s[0], s[2]) for s in sampler.samples if s[1] >= 0.9 * final)
        cpu0 = sampler.samples[0][2]
        r["t90"], r["t90_ready"], r["cpu90"] = t90, t90 - t_ready, cpu90 - cpu0
        plateau = recent
        r["plateau_cpu"] = ((plateau[-1][2] - plateau[0][2])
                            / max(plateau[-1][0] - plateau[0][0], 0.5))
        r["knobs"] = "%s / %s" % (sptest.read_knob(REAL, "pages_to_scan"),
                                  sptest.read_knob(REAL, "sleep_millisecs"))
        r["ready"] = t_ready
        r["interference"] = [("run=%d at %.1f s" % (s[3], s[0])) for s in sampler.samples
                             if t_first is not None and s[0] > t_first and s[3] != 1][:2]

        # the pressure goes away; the guests keep running
        write_meminfo(meminfo, total, total * 9 // 10)
        t_off, _, cpu_off, _ = sampler.sample()
        r["t_run0"] = r["t_quiet"] = None
        while time.monotonic() - sampler.t0 - t_off < args.interval + 30:
            t, saved, cpu, run = sampler.tick()
            if run == 0 and r["t_run0"] is None:
                r["t_run0"] = t - t_off
            back = [s for s in sampler.samples if s[0] >= t - 2.0]
            if (r["t_quiet"] is None and t - t_off >= 2.0 and back[-1][2] - back[0][2] == 0):
                r["t_quiet"] = back[0][0] - t_off
                r["cpu_off"] = back[0][2] - cpu_off
            if r["t_run0"] is not None and r["t_quiet"] is not None:
                break
        if r["t_quiet"] is None:
            r["cpu_off"] = sampler.samples[-1][2] - cpu_off
        r["saved_after"] = sampler.samples[-1][1]
        r["decisions"] = tuner.decisions()
        r["load"] = " ".join(open("/proc/loadavg").read().split()[:3])
        r["samples"] = sampler.samples
    finally:
        tuner.stop()
        for name in names:
            lv.virsh("destroy", name, check=False)
        sptest.restore_real_knobs(saved_knobs)
    r["restored"] = sptest.save_real_knobs() == saved_knobs
    sptest.wait_for(lambda: real("pages_sharing") == 0, 60, 0.5, "KSM to unmerge")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tuners", default="samepaged,ksmtuned",
                    help="comma-separated: samepaged, samepaged-classic, ksmtuned")
    ap.add_argument("--guests", type=int, default=3)
    ap.add_argument("--fill", type=int, default=160)
    ap.add_argument("--interval", type=int, default=60)
    ap.add_argument("--settle", type=int, default=30)
    ap.add_argument("--max", type=int, default=600)
    ap.add_argument("--off-at", type=float, default=187.0,
                    help="earliest second the pressure goes away (default 187: 7 s after a "
                    "60 s tick of either tuner, both started with the clock)")
    args = ap.parse_args()
    tuners = args.tuners.split(",")
    for t in tuners:
        if t not in ("samepaged", "samepaged-classic", "ksmtuned"):
            sys.exit("unknown tuner %r" % t)

    results = []
    with claimed_real_ksm("sp-saving-") as (lv, directory, total, ksmd):
        names = ["g%d" % (i + 1) for i in range(args.guests)]
        for name in names:
            lv.define_guest(name, memory_mib=256, fill_mib=args.fill)
        meminfo = os.path.join(directory, "meminfo")
        open(meminfo, "w").close()
        for t in tuners:
            if t == "ksmtuned":
                tuner = Ksmtuned(lv, directory, meminfo, args.interval)
            else:
                tuner = Samepaged(lv, directory, meminfo, args.interval,
                                  "classic" if t.endswith("classic") else "auto")
            results.append(run_one(tuner, lv, names, meminfo, total, ksmd, args))

    if os.environ.get("SP_BENCH_JSON"):
        with open(os.environ["SP_BENCH_JSON"], "w") as f:
            json.dump(results, f)
    print_table(args, results)


def print_table(args, results):
    f1 = lambda x: "-" if x is None else "%.1f" % x
    rows = [
        ["all guests ready (s after the first virsh start)"] + [f1(r["ready"]) for r in results],
        ["run=1 first seen (s)"] + [f1(r["first_run"]) for r in results],
    ]
    for i, m in enumerate(MARKS):
        rows.append(["saved at %d s (MiB)" % m] + [mib(r["marks"][i]) for r in results])
    rows += [
        ["final saving, pages_sharing x %d B (MiB)" % PAGE] + [mib(r["final"]) for r in results],
        ["90 % of final: s after first start / after all ready"]
        + ["%.1f / %.1f" % (r["t90"], r["t90_ready"]) for r in results],
        ["ksmd CPU s until 90 %"] + ["%.2f" % r["cpu90"] for r in results],
        ["pages_to_scan / sleep_millisecs at plateau"] + [r["knobs"] for r in results],
        ["ksmd CPU on the plateau (%% of one core, last %d s)" % args.settle]
        + ["%.0f %%" % (100 * r["plateau_cpu"]) for r in results],
        ["pressure gone, guests running: s until run=0"] + [f1(r["t_run0"]) for r in results],
        ["... s until ksmd CPU flat over 2 s"] + [f1(r["t_quiet"]) for r in results],
        ["... ksmd CPU s meanwhile / saving kept (MiB)"]
        + ["%.2f / %s" % (r["cpu_off"], mib(r["saved_after"])) for r in results],
        ["tuner decisions"] + [r["decisions"] for r in results],
        ["load average at the end (1/5/15 min)"] + [r["load"] for r in results],
        ["another writer of the real KSM seen"]
        + ["; ".join(r["interference"]) or "no" for r in results],
        ["real knobs restored"] + ["yes" if r["restored"] else "NO" for r in results],
    ]
    print(bl.banner(sys.argv))
    print()
    print(bl.table(["REAL KSM, %d TCG guests x 256 MiB, fill %d MiB identical, interval %d s"
                    % (args.guests, args.fill, args.interval)] + [r["name"] for r in results],
                   rows))
    if os.environ.get("SP_BENCH_SAMPLES"):
        for r in results:
            print("\n# %s: t MiB ksmd-cpu-s run" % r["name"])
            for s in r["samples"]:
                print("%.1f %s %.2f %d" % (s[0], mib(s[1]), s[2], s[3]))


if __name__ == "__main__":
    main()
