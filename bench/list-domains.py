#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`ksmctl domains --json` of two builds side by side (issue 16).

Two samepaged, each on a private system-type bus of its own, serve the
same node XML of N running test:/// domains (as bench/scale.py): one from
--before (a build directory of the code to compare with, e.g. one before
ListDomains) and one from $BUILD. The two ksmctl runs alternate, RUNS
times, with `ksmctl --version` (no D-Bus) as the floor, so both see the
same machine load. The two outputs must be byte-identical.

Usage: python3 bench/list-domains.py --before DIR [--domains 1000] [--runs 50]
"""
import argparse
import os
import subprocess
import sys

import benchlib as bl
from benchlib import sptest
import scale


def start(binary, directory, node, bus):
    sptest.SAMEPAGED = binary  # read by sptest.Daemon when it starts
    return scale.start_daemon(directory, "test://" + node, bus.env())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="build directory to compare with")
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    n = args.domains
    builds = {"before": os.path.abspath(args.before), "after": bl.BUILD}
    dirs, buses, daemons, envs = {}, {}, {}, {}
    try:
        node_dir = sptest.make_temp_dir("sp-listdomains-node-")
        dirs["node"] = node_dir
        node = os.path.join(node_dir, "node.xml")
        scale.write_node(node, n)
        for name, build in builds.items():
            dirs[name] = sptest.make_temp_dir("sp-listdomains-%s-" % name)
            dirs[name + "-bus"] = sptest.make_temp_dir("sp-listdomains-bus-")
            buses[name] = sptest.SystemBus(dirs[name + "-bus"])
            daemons[name] = start(os.path.join(build, "daemon", "samepaged"), dirs[name], node,
                                  buses[name])
            envs[name] = dict(os.environ, **buses[name].env())
        for name in builds:
            daemons[name].wait_log("Refreshed %d domain(s), %d active" % (n, n), timeout=120)
        ctl = {name: os.path.join(build, "client", "ksmctl") for name, build in builds.items()}
        outputs = {name: subprocess.run([ctl[name], "domains", "--json"], env=envs[name],
                                        check=True, capture_output=True).stdout
                   for name in builds}
        if outputs["before"] != outputs["after"]:
            raise AssertionError("the two builds print different JSON")
        times = {"before": [], "after": [], "floor": []}
        for _ in range(args.runs):
            for name in builds:
                times[name] += bl.timed([ctl[name], "domains", "--json"], envs[name], runs=1)
            times["floor"] += bl.timed([ctl["after"], "--version"], envs["after"], runs=1)
    finally:
        for daemon in daemons.values():
            daemon.stop()
        for bus in buses.values():
            bus.stop()
        for d in dirs.values():
            sptest.remove_tree(d)

    print(bl.banner(sys.argv))
    print()
    ms = lambda xs: "%.1f / %.1f / %.1f" % (bl.med(xs) * 1000, bl.pct(xs, 99) * 1000,
                                            min(xs) * 1000)
    print(bl.table(["ksmctl domains --json, %d domains, %d runs each, alternating" % (n, args.runs),
                    "med / p99 / min (ms)"], [
        ["before: %s" % builds["before"], ms(times["before"])],
        ["after: %s" % builds["after"], ms(times["after"])],
        ["ksmctl --version (no D-Bus)", ms(times["floor"])],
        ["before / after, medians", "%.1f×" % (bl.med(times["before"]) / bl.med(times["after"]))],
        ["JSON output (bytes, identical)", len(outputs["after"])],
    ]))


if __name__ == "__main__":
    main()
