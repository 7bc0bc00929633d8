#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest balloons under host pressure (issue 15), side by side with MOM's
constants computed on the same guest statistics.

GUESTS TCG guests (256 MiB, no fill: mostly free memory) on a private
libvirtd; samepaged in balloon=auto with its defaults (5 % of <memory> per
decision, stats period 2 s, floor 50 % of <memory>), a temporary KSM tree
(the real /sys/kernel/mm/ksm is never written) and a fixed /proc/meminfo
bound in its private mount namespace that puts the host under pressure
(MemAvailable 10 % of MemTotal: threshold 20 %, not critical) for the whole
run: every guest can shrink to its floor.

Reported, sampling `virsh dommemstat` every 0.5 s:
- reclaimable: Σ (actual at start - floor), floor = max(min, used * 100 / 80)
  from each guest's own statistics at start;
- the time samepaged took to reclaim each 10 % of it, and the MiB returned;
- the lowest `actual` of each guest against its floor (never below);
- MOM's constants on the same statistics: each 10 s cycle every guest with
  more than 20 % free shrinks by 5 % of its maximum, never below
  used + 20 % free: the time the same 10 % steps take.

Usage: python3 bench/balloon.py [--guests 3] [--timeout 300]
"""
import argparse
import math
import os
import sys
import time

import benchlib as bl
from benchlib import sptest
import sptestbed

MIB = 1024
GUEST_MIB = 256
TOTAL_KIB = 16 * 1024 * 1024
PRESSURE_KIB = TOTAL_KIB // 10
CONFIG = """[daemon]
monitor_interval=600

[balloon]
balloon=auto
stats_period=2
"""
MOM_STEP_PCT = 5
MOM_CYCLE_S = 10
GUEST_FREE_PCT = 20
MIN_PCT = 50


def dommemstat(lv, name):
    stats = {}
    for line in lv.virsh("dommemstat", name).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            stats[parts[0]] = int(parts[1])
    return stats


def floor_kib(stats):
    used = stats["available"] - stats["usable"]
    return max(GUEST_MIB * MIB * MIN_PCT // 100, used * 100 // (100 - GUEST_FREE_PCT))


def mom_times(start, floors, deciles):
    """Seconds MOM's 5 %/10 s rule takes to reach each reclaimed amount."""
    current = dict(start)
    reclaimed, t, out = 0, 0, []
    for target in deciles:
        while reclaimed < target:
            t += MOM_CYCLE_S
            for name in current:
                step = GUEST_MIB * MIB * MOM_STEP_PCT // 100
                new = max(floors[name], current[name] - step)
                reclaimed += current[name] - new
                current[name] = new
            if t > 36000:
                return out + [math.inf] * (len(deciles) - len(out))
        out.append(t)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--guests", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    names = ["g%d" % (i + 1) for i in range(args.guests)]
    directory = sptest.make_temp_dir("sp-bench-balloon-")
    assets = sptestbed.ensure_guest_assets()
    lv = sptestbed.PrivateLibvirtd(assets)
    daemon = None
    try:
        lv.start_daemon()
        for name in names:
            lv.define_guest(name, memory_mib=GUEST_MIB, fill_mib=0)
            lv.start(name)
        for name in names:
            lv.wait_ready(name)
        sptest.wait_for(lambda: all("usable" in dommemstat(lv, n) for n in names), 30, 0.5,
                        "guest statistics")
        time.sleep(3)
        start = {n: dommemstat(lv, n) for n in names}
        floors = {n: floor_kib(start[n]) for n in names}
        actual0 = {n: start[n]["actual"] for n in names}
        reclaimable = sum(actual0[n] - floors[n] for n in names)
        deciles = [reclaimable * k // 10 for k in range(1, 11)]

        bl.make_sysfs(directory)
        meminfo = os.path.join(directory, "meminfo")
        with open(meminfo, "w") as f:
            f.write(sptest.FIXED_MEMINFO.format(total=TOTAL_KIB, avail=PRESSURE_KIB))
        config = os.path.join(directory, "samepaged.conf")
        with open(config, "w") as f:
            f.write(CONFIG)
        t0 = time.monotonic()
        daemon = sptestbed.NamespacedDaemon(
            ["--sysfs-root", os.path.join(directory, "sys"), "--config", config,
             "--ksmtuned-config", "", "--state-dir", os.path.join(directory, "state"),
             "--connect", lv.uri, "-v"],
            [(meminfo, "/proc/meminfo"), (lv.pid_dir(), "/run/libvirt")], log_dir=directory)
        reached = []
        lowest = dict(actual0)
        while time.monotonic() - t0 < args.timeout and len(reached) < len(deciles):
            now = {n: dommemstat(lv, n)["actual"] for n in names}
            for n in names:
                lowest[n] = min(lowest[n], now[n])
            got = sum(actual0[n] - now[n] for n in names)
            while len(reached) < len(deciles) and got >= deciles[len(reached)] - 1024:
                reached.append(time.monotonic() - t0)
            time.sleep(0.5)
        returned = sum(actual0[n] - lowest[n] for n in names)
        mom = mom_times(actual0, floors, deciles)

        print(bl.banner(sys.argv))
        print()
        print("%d guests of %d MiB, reclaimable %.1f MiB (Σ actual - floor at start)"
              % (len(names), GUEST_MIB, reclaimable / MIB))
        rows = []
        for k in range(10):
            ours = "%.1f s" % reached[k] if k < len(reached) else "> %.0f s" % args.timeout
            rows.append(["%d %%" % ((k + 1) * 10), "%.1f" % (deciles[k] / MIB), ours,
                         "%d s" % mom[k]])
        print(bl.table(["reclaimed", "MiB", "samepaged (5 %/decision, event-driven)",
                        "MOM constants (5 %/10 s cycle)"], rows))
        print()
        print(bl.table(["guest", "actual at start", "floor", "lowest actual", "above floor"],
                       [[n, "%d KiB" % actual0[n], "%d KiB" % floors[n], "%d KiB" % lowest[n],
                         "yes" if lowest[n] >= floors[n] - 1024 else "NO"] for n in names]))
        print()
        print("returned to the host: %.1f MiB" % (returned / MIB))
    finally:
        if daemon is not None:
            daemon.stop()
        lv.stop()
        if not os.environ.get("SP_BENCH_KEEP"):
            sptest.remove_tree(directory)


if __name__ == "__main__":
    main()
