#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""samepaged at scale: 10, 100 and 1,000 running domains (issue 8).

Per size, samepaged runs against libvirt's embedded test driver
(test:///<abs path of a generated node XML>, every domain running, 256 MiB
each), a temporary --sysfs-root KSM tree and a private system-type bus
(root is authorised without polkit). Measured:

- refresh + decision: the test driver's events fire only on samepaged's own
  connection, so a refresh is triggered through samepaged itself:
  `ksmctl merge dK off|on` redefines dK (test driver: defineXML round-trips
  <nosharepages/>), which raises a Defined event on samepaged's connection.
  From samepaged's -v log (ms timestamps): refresh = "Refreshed" line minus
  the "libvirt event" line (minus SP_BENCH_DEBOUNCE_MS, 100 for a build
  before issue 16's leading edge); decision = the tuner's decision line
  minus the "Refreshed" line. The -v log writes one line per
  domain per refresh, which is included.
- `ksmctl retune` round trip (decision on the cached domain list), `ksmctl
  status`, `ksmctl domains --json`: wall clock of the whole ksmctl process,
  median and p99 of RUNS runs; `ksmctl --version` (no D-Bus) as the floor.
- daemon memory: VmRSS and VmHWM after all that; threads.

Event storm (separate, on a private qemu libvirtd, because a second
connection cannot reach a test:/// driver's state): 500 `virsh define` +
500 `virsh undefine` of tiny never-started domains in one virsh session =
1,000 lifecycle events; count samepaged's refreshes and decisions and the
time from the first event until the last decision (quiet).

Usage: python3 bench/scale.py [--sizes 10,100,1000] [--runs 50] [--no-storm]
"""
import argparse
import os
import subprocess
import sys
import time
import uuid as uuidlib

import benchlib as bl
from benchlib import sptest

CONFIG = """[daemon]
monitor_interval=600
[tuning]
thres_coef=20
thres_const=0
"""

DOMAIN = """<domain type='test'><name>d{i}</name><uuid>{uuid}</uuid>
<memory unit='MiB'>256</memory><currentMemory unit='MiB'>256</currentMemory>
<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>
"""

TINY_QEMU = """<domain type='qemu'><name>s{i}</name>
<memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>
"""


def write_node(path, n):
    with open(path, "w") as f:
        f.write("<?xml version='1.0'?>\n<node>\n")
        for i in range(n):
            f.write(DOMAIN.format(i=i, uuid=uuidlib.uuid4()))
        f.write("</node>\n")


def start_daemon(directory, uri, env):
    bl.make_sysfs(directory)
    config = os.path.join(directory, "samepaged.conf")
    with open(config, "w") as f:
        f.write(CONFIG)
    state = os.path.join(directory, "state")
    os.makedirs(state)
    return sptest.Daemon(["--sysfs-root", os.path.join(directory, "sys"), "--config", config,
                          "--ksmtuned-config", "", "--state-dir", state, "--connect", uri, "-v"],
                         env=env, log_dir=directory)


def refresh_samples(daemon, offset, name_of):
    """(refresh ms, decision ms) per event-triggered refresh after offset."""
    lines = bl.log_lines(daemon.output()[offset:])
    out = []
    event_ts = None
    refreshed_ts = None
    for ts, _, domain, msg in lines:
        if msg.startswith("libvirt event:") and event_ts is None:
            event_ts = ts
        elif bl.REFRESHED.match(msg) and event_ts is not None:
            refreshed_ts = ts
        elif refreshed_ts is not None and bl.is_decision((ts, _, domain, msg)):
            out.append((refreshed_ts - event_ts - bl.DEBOUNCE_MS, ts - refreshed_ts))
            event_ts = refreshed_ts = None
    return out


def bench_size(n, runs, bus_env, results):
    directory = sptest.make_temp_dir("sp-scale-%d-" % n)
    daemon = None
    try:
        node = os.path.join(directory, "node.xml")
        write_node(node, n)
        uri = "test://" + node
        began = time.monotonic()
        daemon = start_daemon(directory, uri, bus_env)
        daemon.wait_log("Refreshed %d domain(s), %d active" % (n, n), timeout=120)
        sptest.wait_for(lambda: any(bl.is_decision(l) for l in bl.log_lines(daemon.output())),
                        30, what="first decision")
        lines = bl.log_lines(daemon.output())
        connected = next(ts for ts, _, _, m in lines if m.startswith("Connected to libvirt"))
        first_ref = next(ts for ts, _, _, m in lines if bl.REFRESHED.match(m))
        first_refresh_ms = first_ref - connected - bl.DEBOUNCE_MS
        startup_s = time.monotonic() - began
        ctl = [bl.KSMCTL]
        env = dict(os.environ, **bus_env)
        # refresh + decision, triggered through ksmctl merge (a Defined event)
        offset = len(daemon.output())
        samples = 20
        for k in range(samples):
            dom = "d%d" % (k % n)
            state = "off" if (k // n) % 2 == 0 else "on"
            r = subprocess.run(ctl + ["merge", dom, state], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True)
            if r.returncode != 0:
                raise RuntimeError("ksmctl merge %s %s: %s" % (dom, state, r.stdout))
            # wait for its refresh and decision before the next one
            want = k + 1
            sptest.wait_for(lambda: len(refresh_samples(daemon, offset, None)) >= want, 30,
                            what="refresh %d of %d" % (want, samples))
            # past the 100 ms hold-off (SP_GUEST_QUERY_HOLDOFF_MIN_MS) after
            # SetMemMerge's own refresh: the next event is an isolated one
            time.sleep(0.15)
        rd = refresh_samples(daemon, offset, None)
        refresh_ms = [a for a, _ in rd]
        decision_ms = [b for _, b in rd]
        lat = {}
        lat["--version"] = bl.timed(ctl + ["--version"], env, runs)
        lat["retune"] = bl.timed(ctl + ["retune"], env, runs)
        lat["status"] = bl.timed(ctl + ["status"], env, runs)
        lat["domains --json"] = bl.timed(ctl + ["domains", "--json"], env, runs)
        rss = bl.proc_status(daemon.pid, "VmRSS")
        hwm = bl.proc_status(daemon.pid, "VmHWM")
        anon = bl.proc_status(daemon.pid, "RssAnon")
        rfile = bl.proc_status(daemon.pid, "RssFile")
        results[n] = dict(first_refresh_ms=first_refresh_ms, startup_s=startup_s,
                          refresh_ms=refresh_ms, decision_ms=decision_ms, lat=lat, rss=rss,
                          hwm=hwm, anon=anon, rfile=rfile, threads=bl.threads(daemon.pid),
                          cpu_s=bl.proc_cpu_s(daemon.pid))
        print("# %d domains: first refresh %d ms, refresh med %.0f ms, decision med %.0f ms, "
              "RSS %d KiB" % (n, first_refresh_ms, bl.med(refresh_ms), bl.med(decision_ms), rss),
              file=sys.stderr)
    finally:
        if daemon is not None:
            daemon.stop()
        if os.environ.get("SP_BENCH_KEEP"):
            print("# kept %s" % directory, file=sys.stderr)
        else:
            sptest.remove_tree(directory)


def storm(bus_env, n_pairs=500):
    import sptestbed
    lv = sptestbed.PrivateLibvirtd()
    daemon = None
    directory = sptest.make_temp_dir("sp-storm-")
    try:
        lv.start_daemon()
        daemon = start_daemon(directory, lv.uri, bus_env)
        daemon.wait_log("Refreshed 0 domain(s)", timeout=30)
        sptest.wait_for(lambda: any(bl.is_decision(l) for l in bl.log_lines(daemon.output())),
                        30, what="first decision")
        time.sleep(0.5)
        offset = len(daemon.output())
        cmds = []
        for i in range(n_pairs):
            path = os.path.join(directory, "s%d.xml" % i)
            with open(path, "w") as f:
                f.write(TINY_QEMU.format(i=i))
            cmds.append("define %s" % path)
        cmds += ["undefine s%d" % i for i in range(n_pairs)]
        t0 = time.monotonic()
        r = subprocess.run([sptestbed.VIRSH, "-c", lv.uri], input="\n".join(cmds) + "\n",
                           universal_newlines=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        virsh_s = time.monotonic() - t0
        if r.returncode != 0:
            raise RuntimeError("virsh batch failed: %s" % r.stderr[-2000:])

        # quiet: no new log line for 3 s
        def quiet():
            text = daemon.output()
            time.sleep(3)
            return text == daemon.output()
        sptest.wait_for(quiet, 300, 0, what="quiet")
        lines = bl.log_lines(daemon.output()[offset:])
        events = [l for l in lines if l[3].startswith("libvirt event:")]
        refreshes = [l for l in lines if bl.REFRESHED.match(l[3])]
        decisions = [l for l in lines if bl.is_decision(l)]
        last = max(refreshes[-1][0], decisions[-1][0] if decisions else 0)
        final = bl.REFRESHED.match(refreshes[-1][3]).group(1)
        return dict(events=len(events), refreshes=len(refreshes), decisions=len(decisions),
                    virsh_s=virsh_s, quiet_s=(last - events[0][0]) / 1000.0,
                    after_last_event_ms=last - events[-1][0], final_domains=final,
                    hwm=bl.proc_status(daemon.pid, "VmHWM"),
                    cpu_s=bl.proc_cpu_s(daemon.pid))
    finally:
        if daemon is not None:
            daemon.stop()
        lv.stop()
        sptest.remove_tree(directory)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--no-storm", action="store_true")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    busdir = sptest.make_temp_dir("sp-scale-bus-")
    bus = sptest.SystemBus(busdir)
    results = {}
    storm_result = None
    try:
        for n in sizes:
            bench_size(n, args.runs, bus.env(), results)
        if not args.no_storm:
            storm_result = storm(bus.env())
    finally:
        bus.stop()
        sptest.remove_tree(busdir)

    print(bl.banner(sys.argv))
    print()
    rows = []
    f = lambda v: "%.0f" % v
    ms = lambda xs: "%.1f / %.1f" % (bl.med(xs) * 1000, bl.pct(xs, 99) * 1000)
    metrics = [
        ("first refresh at connect (ms)", lambda r: str(r["first_refresh_ms"])),
        ("refresh after an event, median / max (ms)",
         lambda r: "%s / %s" % (f(bl.med(r["refresh_ms"])), f(max(r["refresh_ms"])))),
        ("decision after refresh, median / max (ms)",
         lambda r: "%s / %s" % (f(bl.med(r["decision_ms"])), f(max(r["decision_ms"])))),
        ("ksmctl --version (no D-Bus), med / p99 (ms)", lambda r: ms(r["lat"]["--version"])),
        ("ksmctl retune, med / p99 (ms)", lambda r: ms(r["lat"]["retune"])),
        ("ksmctl status, med / p99 (ms)", lambda r: ms(r["lat"]["status"])),
        ("ksmctl domains --json, med / p99 (ms)", lambda r: ms(r["lat"]["domains --json"])),
        ("daemon VmRSS / VmHWM (KiB)", lambda r: "%d / %d" % (r["rss"], r["hwm"])),
        ("of which RssAnon / RssFile (KiB)", lambda r: "%d / %d" % (r["anon"], r["rfile"])),
        ("daemon threads", lambda r: str(r["threads"])),
    ]
    for name, get in metrics:
        rows.append([name] + [get(results[n]) for n in sizes])
    print(bl.table(["test:/// driver, all running"] + ["%d domains" % n for n in sizes], rows))
    print("(refresh samples: 20 per size; ksmctl latencies: %d runs, whole process)"
          % args.runs)
    if storm_result:
        s = storm_result
        print()
        print(bl.table(["event storm (private qemu libvirtd)", "value"], [
            ["lifecycle events seen by samepaged", s["events"]],
            ["refreshes", s["refreshes"]],
            ["decisions", s["decisions"]],
            ["virsh batch (500 define + 500 undefine) took (s)", "%.2f" % s["virsh_s"]],
            ["first event to last refresh/decision (s)", "%.2f" % s["quiet_s"]],
            ["last event to last refresh/decision (ms)", s["after_last_event_ms"]],
            ["domains at the last refresh", s["final_domains"]],
            ["daemon VmHWM after (KiB)", s["hwm"]],
        ]))


if __name__ == "__main__":
    main()
