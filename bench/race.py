#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Savings races on the REAL KSM, every tuner side by side in one run
(issue 16, "Benchmarks").

The set-up is bench/saving.py's, reused from it (the tuner classes, the
sampler, the fixed meminfo with 1 GiB available, the real knobs saved first
and put back after each tuner and on exit; it refuses to start while KSM
runs or holds merged pages): a private libvirtd with GUESTS TCG guests of
256 MiB; each tuner starts, then every guest is started at once, and every
0.5 s the script reads pages_sharing x page size (the saving), run, and the
CPU seconds of the ksmd kernel thread (/proc/PID/stat utime+stime), for
--window seconds from the tuner's start. Then the guests are destroyed and
KSM unmerged (run=2, every knob back) before the next tuner.

--race identical (the guests fill --fill MiB with identical pages): time
  to 50 % and 90 % of the final saving (the largest saving of the window's
  last 10 s), the final saving, ksmd CPU-seconds per GiB saved (until 90 %
  and over the whole window).
--guests-first: the guests boot and fill their memory before the tuner
  starts (KSM off); the clock starts with the tuner. Without it a profit
  guard judges the KSM of a host whose guests are still booting.
--late N: the first GUESTS - N guests boot before the tuner starts; once
  they are merged (the saving steady for 5 s, and for scan_rate=auto the
  advisor in charge, advisor_mode=scan-time, for 3 full scans), the clock
  starts and the N
  others are started. The times and the saving count what the late guests
  add (the saving above the one at their start): how fast a tuner whose
  rate was sized for the first guests merges new ones.
--race random (the guests fill --fill MiB with random pages,
  sp_fill_random=1 on their kernel command line): ksmd CPU-seconds burnt
  before KSM stops (run=0), or over the whole window when it never stops,
  the saving (kernel and zero pages still merge) and what each samepaged
  said about its profit guard.

Tuners (--tuners, comma-separated):
  classic        samepaged, scan_rate=classic, profit_guard=off
  advisor        samepaged, scan_rate=auto (the kernel's advisor), profit_guard=off
  guard          samepaged, scan_rate=auto, profit_guard=on (defaults:
                 profit_min_scans=2, profit_min_kib_per_cpu_second=1024)
  guard-1g       as guard, profit_min_kib_per_cpu_second=1048576 (1 GiB, as
                 tests/system-profit-guard.py)
  classic-guard-1g  samepaged, scan_rate=classic, profit_guard=on, 1 GiB
  ksmtuned       Debian's script (bench/ksmtuned.py's copy), pattern set to
                 this run's guests by -uuid
Every tuner gets the same --interval (samepaged's monitor_interval,
ksmtuned's KSM_MONITOR_INTERVAL).

Usage: python3 bench/race.py --race identical|random [--tuners ...]
                             [--guests 3] [--fill 160] [--interval 20]
                             [--window 120] [--guests-first | --late N]
"""
import argparse
import os
import re
import sys

import benchlib as bl
from benchlib import sptest
import saving

TUNERS = {
    "classic": ("classic", "profit_guard=off\n"),
    "advisor": ("auto", "profit_guard=off\n"),
    "guard": ("auto", "profit_guard=on\n"),
    "guard-1g": ("auto", "profit_guard=on\nprofit_min_kib_per_cpu_second=1048576\n"),
    "classic-guard-1g": ("classic", "profit_guard=on\nprofit_min_kib_per_cpu_second=1048576\n"),
}
NAMES = {
    "classic": "samepaged classic",
    "advisor": "samepaged advisor",
    "guard": "samepaged advisor + guard",
    "guard-1g": "samepaged advisor + guard 1 GiB",
    "classic-guard-1g": "samepaged classic + guard 1 GiB",
    "ksmtuned": "ksmtuned",
}
GUARD_LINE = re.compile(r"^.*(?:profit guard|ProfitGuard).*$", re.M)


def make_tuner(key, lv, directory, meminfo, interval):
    if key == "ksmtuned":
        return saving.Ksmtuned(lv, directory, meminfo, interval)
    scan_rate, extra = TUNERS[key]
    tuner = saving.Samepaged(lv, os.path.join(directory, key), meminfo, interval, scan_rate)
    with open(tuner.config, "a") as f:
        f.write(extra)
    tuner.name = NAMES[key]
    return tuner


def define_guests(lv, names, fill, random):
    for name in names:
        lv.define_guest(name, memory_mib=256, fill_mib=fill, random_fill=random)


ADVISOR_SCANS = 3


def wait_settled(tuner, sampler, timeout=240):
    """Until the saving is steady for 5 s and, for a samepaged on the
    advisor, the advisor has been in charge (advisor_mode=scan-time) for
    ADVISOR_SCANS full scans, long enough to size its rate for the first
    guests; returns what was seen."""
    advisor = isinstance(tuner, saving.Samepaged) and tuner.scan_rate == "auto"
    since = None  # full_scans when the advisor was first seen in charge
    scans = 0
    while True:
        t = sampler.tick()[0]
        recent = [s[1] for s in sampler.samples if s[0] >= t - 5]
        steady = t >= 5 and recent[0] > 0 and max(recent) - min(recent) <= 64 * saving.PAGE
        mode = sptest.read_knob(saving.REAL, "advisor_mode")
        if mode == "scan-time" and since is None:
            since = saving.real("full_scans")
        scans = saving.real("full_scans") - since if since is not None else 0
        if steady and (not advisor or scans >= ADVISOR_SCANS):
            break
        if t > timeout:
            raise AssertionError("not settled in %d s (advisor_mode %s)" % (timeout, mode))
    note = "%.0f s, %.1f MiB, advisor_mode %s" % (t, sampler.samples[-1][1] / 2**20, mode)
    if advisor:
        note += " for %d full scans, pages_to_scan %s" % (
            scans, sptest.read_knob(saving.REAL, "pages_to_scan"))
    print("# %s: first guests settled after %s" % (tuner.name, note), file=sys.stderr)
    return note


def first(samples, pred):
    return next((s for s in samples if pred(s)), None)


def run_one(tuner, lv, names, meminfo, total, ksmd, args):
    saving.write_meminfo(meminfo, total, 1024 * 1024)
    saved_knobs = sptest.save_real_knobs()
    r = {"name": tuner.name}
    try:
        if args.late:
            early, late = names[:-args.late], names[-args.late:]
            saving.start_guests(lv, early, saving.Sampler(ksmd), tuner)
            tuner.start(names, active=len(early))
            r["handover"] = wait_settled(tuner, saving.Sampler(ksmd))
            sampler = saving.Sampler(ksmd)
            sampler.sample()
            r["ready"] = saving.start_guests(lv, late, sampler, tuner)
        elif args.guests_first:
            # the guests boot and fill their memory with KSM off; the clock
            # starts with the tuner
            saving.start_guests(lv, names, saving.Sampler(ksmd), tuner)
            tuner.start(names, active=len(names))
            sampler = saving.Sampler(ksmd)
            sampler.sample()
            r["ready"] = 0.0
        else:
            tuner.start(names)
            sampler = saving.Sampler(ksmd)
            sampler.sample()
            r["ready"] = saving.start_guests(lv, names, sampler, tuner)
        while sampler.tick()[0] < args.window:
            pass
        ss = sampler.samples
        if args.late:
            # what the late guests add: the saving above the one at their start
            base = ss[0][1]
            ss = [(s[0], s[1] - base) + s[2:] for s in ss]
        t0, cpu0 = ss[0][0], ss[0][2]
        end = ss[-1]
        r["final"] = max(s[1] for s in ss if s[0] >= end[0] - 10)
        r["cpu_window"] = end[2] - cpu0
        r["window"] = end[0] - t0
        tail = [s for s in ss if s[0] >= end[0] - 30]
        r["tail_pct"] = 100 * (tail[-1][2] - tail[0][2]) / max(tail[-1][0] - tail[0][0], 0.5)
        s1 = first(ss, lambda s: s[3] == 1)
        r["first_run"] = s1[0] if s1 else None
        # KSM stopped: run left 1 after it was on, and stayed off to the end
        r["stop"] = None
        if s1 is not None:
            for i, s in enumerate(ss):
                if s[0] > s1[0] and s[3] != 1 and all(x[3] != 1 for x in ss[i:]):
                    r["stop"] = s
                    break
        r["cpu_stop"] = (r["stop"][2] if r["stop"] else end[2]) - cpu0
        for p in (50, 90):
            s = first(ss, lambda s: r["final"] > 0 and s[1] >= p / 100.0 * r["final"])
            r["t%d" % p] = s[0] if s else None
            r["cpu%d" % p] = s[2] - cpu0 if s else None
        r["knobs"] = "%s / %s" % (sptest.read_knob(saving.REAL, "pages_to_scan"),
                                  sptest.read_knob(saving.REAL, "sleep_millisecs"))
        r["decisions"] = tuner.decisions()
        r["guard"] = []
        if isinstance(tuner, saving.Samepaged):
            r["guard"] = [l.strip() for l in GUARD_LINE.findall(tuner.daemon.output())]
        r["samples"] = ss
    finally:
        tuner.stop()
        for name in names:
            lv.virsh("destroy", name, check=False)
        sptest.restore_real_knobs(saved_knobs)
    r["restored"] = sptest.save_real_knobs() == saved_knobs
    sptest.wait_for(lambda: saving.real("pages_sharing") == 0, 60, 0.5, "KSM to unmerge")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--race", choices=("identical", "random"), default="identical")
    ap.add_argument("--tuners", default=None,
                    help="comma-separated, of: %s" % ", ".join(NAMES))
    ap.add_argument("--guests", type=int, default=3)
    ap.add_argument("--fill", type=int, default=160)
    ap.add_argument("--interval", type=int, default=20)
    ap.add_argument("--window", type=float, default=120.0,
                    help="seconds from each tuner's start")
    ap.add_argument("--guests-first", action="store_true",
                    help="start the guests (and wait for their fill) before each tuner")
    ap.add_argument("--late", type=int, default=0,
                    help="start this many guests only once the others are merged")
    args = ap.parse_args()
    if args.tuners is None:
        args.tuners = ("classic,advisor,guard,ksmtuned" if args.race == "identical"
                       else "guard,guard-1g,classic-guard-1g,ksmtuned")
    if args.late and (args.guests_first or not 0 < args.late < args.guests):
        sys.exit("--late N: 0 < N < --guests, and not with --guests-first")
    tuners = args.tuners.split(",")
    for t in tuners:
        if t not in NAMES:
            sys.exit("unknown tuner %r" % t)

    results = []
    with saving.claimed_real_ksm("sp-race-") as (lv, directory, total, ksmd):
        names = ["g%d" % (i + 1) for i in range(args.guests)]
        define_guests(lv, names, args.fill, args.race == "random")
        meminfo = os.path.join(directory, "meminfo")
        open(meminfo, "w").close()
        for t in tuners:
            tuner = make_tuner(t, lv, directory, meminfo, args.interval)
            results.append(run_one(tuner, lv, names, meminfo, total, ksmd, args))
    print_table(args, results)


def print_table(args, results):
    f1 = lambda x: "-" if x is None else "%.1f" % x
    f2 = lambda x: "-" if x is None else "%.2f" % x
    gib = lambda r: r["final"] / 1073741824.0
    after = lambda t, r: "-" if t is None else "%.1f / %.1f" % (t, t - r["ready"])
    per_gib = lambda cpu, r: "-" if cpu is None or r["final"] == 0 else "%.2f" % (cpu / gib(r))
    rows = [] if not args.late else [
        ["first %d guest(s) merged, before the clock" % (args.guests - args.late)]
        + [r["handover"] for r in results],
    ]
    rows += [
        ["all guests ready (s)"] + [f1(r["ready"]) for r in results],
        ["run=1 first seen (s)"] + [f1(r["first_run"]) for r in results],
    ]
    if args.race == "identical":
        rows += [
            ["50 % of the final saving (s / s after all ready)"]
            + [after(r["t50"], r) for r in results],
            ["90 % of the final saving (s / s after all ready)"]
            + [after(r["t90"], r) for r in results],
            ["final saving (MiB)"] + [saving.mib(r["final"]) for r in results],
            ["ksmd CPU-s until 90 %"] + [f2(r["cpu90"]) for r in results],
            ["ksmd CPU-s per GiB saved, until 90 %"]
            + [per_gib(r["cpu90"], r) for r in results],
            ["ksmd CPU-s per GiB saved, whole window"]
            + [per_gib(r["cpu_window"], r) for r in results],
        ]
    else:
        rows += [
            ["KSM stopped (run=0) at (s)"]
            + ["never" if r["stop"] is None else f1(r["stop"][0]) for r in results],
            ["ksmd CPU-s until stopped (or whole window)"]
            + [f2(r["cpu_stop"]) for r in results],
            ["saving at the end (MiB)"] + [saving.mib(r["final"]) for r in results],
        ]
    rows += [
        ["ksmd CPU-s, whole window"] + [f2(r["cpu_window"]) for r in results],
        ["ksmd % of a core, last 30 s"] + ["%.0f %%" % r["tail_pct"] for r in results],
        ["pages_to_scan / sleep_millisecs at the end"] + [r["knobs"] for r in results],
        ["tuner decisions"] + [r["decisions"] for r in results],
        ["real knobs restored"] + ["yes" if r["restored"] else "NO" for r in results],
    ]
    print(bl.banner(sys.argv))
    print()
    print(bl.table(["REAL KSM, %d x 256 MiB, fill %d MiB %s, interval %d s, window %d s%s"
                    % (args.guests, args.fill, args.race, args.interval, args.window,
                       ", the last %d late (saving they add)" % args.late if args.late else "")]
                   + [r["name"] for r in results], rows))
    for r in results:
        if r["guard"]:
            print("\n# %s, profit guard lines:" % r["name"])
            g = r["guard"]
            for line in g if len(g) <= 4 else g[:3] + ["..."] + g[-1:]:
                print("    " + line)
    if os.environ.get("SP_BENCH_SAMPLES"):
        for r in results:
            print("\n# %s: t MiB ksmd-cpu-s run" % r["name"])
            for s in r["samples"]:
                print("%.1f %s %.2f %d" % (s[0], saving.mib(s[1]), s[2], s[3]))


if __name__ == "__main__":
    main()
