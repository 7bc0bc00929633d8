#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""samepaged on this machine's real /sys/kernel/mm/ksm and /proc/meminfo.
Every knob is saved first and restored at the end, even on failure. Run
under flock /tmp/sp-system.lock (meson test does not take it)."""
import os
import re
import signal
import subprocess
import sys
import time
import unittest

import sptest


class RealKsmTest(unittest.TestCase):
    def setUp(self):
        # CI's machine has both (TESTBED.md): their absence fails, never skips
        self.assertTrue(os.path.isdir(sptest.REAL_KSM), "no /sys/kernel/mm/ksm on this kernel")
        self.assertEqual(os.geteuid(), 0, "the system suite runs as root: it writes "
                         "/sys/kernel/mm/ksm")
        self.saved = sptest.save_real_knobs()
        self.dir = sptest.make_temp_dir("sp-real-")
        self.config = os.path.join(self.dir, "samepaged.conf")
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            self.daemon.stop()
        sptest.restore_real_knobs(self.saved)
        sptest.remove_tree(self.dir)

    def start(self, config):
        with open(self.config, "w") as f:
            f.write(config)
        self.daemon = sptest.Daemon(["--config", self.config, "--ksmtuned-config", "", "-v"],
                                    log_dir=self.dir)
        return self.daemon

    def knob(self, name):
        return sptest.read_knob(sptest.REAL_KSM, name)

    def set_knobs(self, *pairs):
        for name, value in pairs:
            with open(os.path.join(sptest.REAL_KSM, name), "w") as f:
                f.write(value)

    def fake_meminfo(self, available_kib):
        """A --procfs-root whose meminfo has this host's MemTotal and the
        given MemAvailable (the real /proc/meminfo otherwise)."""
        procfs = os.path.join(self.dir, "proc")
        os.makedirs(procfs, exist_ok=True)
        with open("/proc/meminfo") as f:
            total = int(re.search(r"^MemTotal:\s+(\d+) kB", f.read(), re.M).group(1))
        sptest.replace_file(os.path.join(procfs, "meminfo"),
                            sptest.FIXED_MEMINFO.format(total=total, avail=available_kib))
        return procfs

    def start_full(self, config, args):
        with open(self.config, "w") as f:
            f.write(config)
        return sptest.Daemon(["--config", self.config, "--ksmtuned-config", "", "-v",
                              "--connect", "test:///default"] + args,
                             log_dir=self.dir)

    def test_classic_run_and_restore(self):
        # threshold = 100 % of MemTotal: free is always below it, so KSM runs
        # the advisor off first: under it the kernel refuses pages_to_scan
        if os.path.exists(os.path.join(sptest.REAL_KSM, "advisor_mode")):
            with open(os.path.join(sptest.REAL_KSM, "advisor_mode"), "w") as f:
                f.write("none")
        for name, value in (("run", "0"), ("pages_to_scan", "100"), ("sleep_millisecs", "20")):
            with open(os.path.join(sptest.REAL_KSM, name), "w") as f:
                f.write(value)
        d = self.start("[daemon]\nmonitor_interval=1\n[tuning]\nthres_coef=100\n"
                       "scan_rate=classic\n")
        sptest.wait_for(lambda: self.knob("run") == "1", 10, what="real run=1")
        self.assertEqual(self.knob("pages_to_scan"), "400")
        sptest.wait_for(lambda: self.knob("pages_to_scan") == "700", 5, what="boost on tick")
        d.wait_log("run: available")
        self.assertEqual(d.stop(), 0)
        self.daemon = None
        self.assertEqual(self.knob("run"), "0")
        self.assertEqual(self.knob("pages_to_scan"), "100")
        self.assertEqual(self.knob("sleep_millisecs"), "20")

    def test_advisor_on_real_kernel(self):
        # Linux 6.8+, as on CI's machine
        self.assertTrue(os.path.exists(os.path.join(sptest.REAL_KSM, "advisor_mode")),
                        "this kernel has no KSM advisor (before 6.8)")
        # advisor_max_pages_to_scan as another tool left it
        for name, value in (("run", "0"), ("advisor_mode", "none"),
                            ("advisor_max_pages_to_scan", "25000")):
            with open(os.path.join(sptest.REAL_KSM, name), "w") as f:
                f.write(value)
        # something for ksmd to scan: full scans end the advisor's warm-up
        self.start_mergeable()
        scans_before = int(self.knob("full_scans"))
        d = self.start("[daemon]\nmonitor_interval=1\n[tuning]\nthres_coef=100\n")
        sptest.wait_for(lambda: self.knob("run") == "1", 10, what="real run=1")
        # the warm-up: classic steering, the advisor off
        d.wait_log("advisor warm-up (0 of 2 full scans done), boost to ")
        warmup = re.search(r"advisor warm-up \(0 of 2 full scans done\), boost to (\d+) pages",
                           d.output())
        self.assertGreaterEqual(int(warmup.group(1)), 400)
        # then the advisor, once the real KSM has done 2 full scans
        sptest.wait_for(lambda: self.knob("advisor_mode") == "scan-time", 60,
                        what="the advisor after the warm-up")
        self.assertGreaterEqual(int(self.knob("full_scans")) - scans_before, 2)
        # the knobs the decision logged, the cap sized by the embedded
        # driver's domain, are what the kernel has
        sptest.wait_for(lambda: re.search(r"target scan time \d+ s, at most \d+ pages",
                                          d.output()), 5, what="the advisor's decision logged")
        cap = re.findall(r"advisor max_cpu (\d+) %, target scan time (\d+) s, at most (\d+) "
                         r"pages", d.output())
        self.assertTrue(cap, d.output()[-2000:])
        sptest.wait_for(lambda: self.knob("advisor_max_pages_to_scan") == cap[-1][2], 5,
                        what="advisor_max_pages_to_scan as decided")
        self.assertEqual(self.knob("advisor_max_cpu"), cap[-1][0])
        self.assertEqual(self.knob("advisor_target_scan_time"), cap[-1][1])
        self.assertNotIn("EINVAL", d.output())
        self.assertEqual(d.stop(), 0)
        self.daemon = None
        self.assertEqual(self.knob("advisor_mode"), "none")
        self.assertEqual(self.knob("advisor_max_pages_to_scan"), "25000")
        self.assertEqual(self.knob("run"), "0")


    # ---- issue 14: every knob back as found -------------------------------

    OPERATOR_KNOBS = (("advisor_mode", "none"), ("run", "0"), ("pages_to_scan", "1000"),
                      ("sleep_millisecs", "50"))
    # under pressure: a fake /proc/meminfo with 64 MiB available
    PRESSURE = "[daemon]\nmonitor_interval=1\n"

    def start_under_pressure(self, state_dir):
        procfs = self.fake_meminfo(64 * 1024)
        return self.start_full(self.PRESSURE, ["--procfs-root", procfs,
                                               "--state-dir", state_dir])

    def wait_running_with_advisor(self, d):
        """run=1, and the advisor on after its warm-up (the caller started
        a mergeable process: without one, ksmd does no full scan)."""
        sptest.wait_for(lambda: self.knob("run") == "1", 15, what="real run=1")
        sptest.wait_for(lambda: self.knob("advisor_mode") == "scan-time", 60,
                        what="the advisor on")
        d.wait_log("run: available 64.0 MiB < threshold")

    @unittest.skipUnless(os.path.exists(os.path.join(sptest.REAL_KSM, "advisor_mode")),
                         "this kernel has no KSM advisor")
    def test_knobs_back_as_found_after_sigterm(self):
        self.set_knobs(*self.OPERATOR_KNOBS)
        state_dir = os.path.join(self.dir, "state")
        record = os.path.join(state_dir, "ksm-originals")
        self.start_mergeable()
        self.daemon = d = self.start_under_pressure(state_dir)
        self.wait_running_with_advisor(d)
        # the kernel reset pages_to_scan when the advisor was written
        self.assertNotEqual(self.knob("pages_to_scan"), "1000")
        recorded = os.path.exists(record)
        self.assertEqual(d.stop(), 0)
        self.daemon = None
        for name, value in self.OPERATOR_KNOBS:
            self.assertEqual(self.knob(name), value, name)
        self.assertTrue(recorded, "no %s while samepaged ran" % record)
        self.assertFalse(os.path.exists(record))

    @unittest.skipUnless(os.path.exists(os.path.join(sptest.REAL_KSM, "advisor_mode")),
                         "this kernel has no KSM advisor")
    def test_knobs_back_as_found_after_sigkill_and_restart(self):
        self.set_knobs(*self.OPERATOR_KNOBS)
        before = sptest.save_real_knobs()
        state_dir = os.path.join(self.dir, "state")
        record = os.path.join(state_dir, "ksm-originals")
        self.start_mergeable()
        self.daemon = first = self.start_under_pressure(state_dir)
        self.wait_running_with_advisor(first)
        first.signal(signal.SIGKILL)
        first.proc.wait(10)
        first.stop()
        recorded = os.path.exists(record)
        # what the killed one left: not what the operator had
        self.assertEqual(self.knob("advisor_mode"), "scan-time")

        self.daemon = second = self.start_under_pressure(state_dir)
        self.wait_running_with_advisor(second)
        self.assertEqual(second.stop(), 0)
        self.daemon = None
        self.assertEqual(sptest.save_real_knobs(), before)
        self.assertTrue(recorded, "no %s after SIGKILL" % record)
        self.assertIn("An earlier samepaged did not put the KSM knobs back", second.output())
        self.assertFalse(os.path.exists(record))

    def test_restore_on_exit_false_leaves_them_and_says_so(self):
        self.set_knobs(*self.OPERATOR_KNOBS)
        state_dir = os.path.join(self.dir, "state")
        procfs = self.fake_meminfo(64 * 1024)
        self.daemon = d = self.start_full(self.PRESSURE.replace(
            "[daemon]\n", "[daemon]\nrestore_on_exit=false\n") + "[tuning]\nscan_rate=classic\n",
            ["--procfs-root", procfs, "--state-dir", state_dir])
        sptest.wait_for(lambda: self.knob("run") == "1", 15, what="real run=1")
        left = sptest.save_real_knobs()
        self.assertEqual(d.stop(), 0)
        self.daemon = None
        self.assertEqual(sptest.save_real_knobs(), left)
        self.assertIn("restore_on_exit=false); found at start:", d.output())
        self.assertIn("pages_to_scan=1000", d.output())
        self.assertFalse(os.path.exists(os.path.join(state_dir, "ksm-originals")))

    # ---- issue 14: ksmctl unmerge and merge_across_nodes ----------------

    MERGEABLE_MIB = 64
    # a process with MERGEABLE_MIB of identical anonymous pages, madvised
    MERGEABLE = """import mmap, sys
size = %d << 20
m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
block = b"samepage" * 512
for off in range(0, size, len(block)):
    m[off:off + len(block)] = block
m.madvise(mmap.MADV_MERGEABLE)
print("ready", flush=True)
sys.stdin.read()
""" % MERGEABLE_MIB

    def start_mergeable(self):
        proc = subprocess.Popen([sys.executable, "-c", self.MERGEABLE], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        self.addCleanup(sptest.stop_process, proc)
        self.assertEqual(proc.stdout.readline().strip(), "ready")
        return proc

    def ksmctl(self, bus, *args):
        env = dict(os.environ)
        env.update(bus.env())
        return subprocess.run([sptest.KSMCTL] + list(args), env=env, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)

    def test_ksmctl_unmerge_and_merge_across_nodes(self):
        mac_path = os.path.join(sptest.REAL_KSM, "merge_across_nodes")
        self.assertTrue(os.path.exists(mac_path), "this machine's kernel has NUMA")
        mac_before = self.knob("merge_across_nodes")

        def put_back_mac():
            if self.knob("merge_across_nodes") != mac_before:
                self.set_knobs(("run", "2"), ("merge_across_nodes", mac_before))
        self.addCleanup(put_back_mac)

        bus = sptest.SystemBus(self.dir)
        self.addCleanup(bus.stop)
        state_dir = os.path.join(self.dir, "state")
        procfs = self.fake_meminfo(16 * 1024 * 1024)
        with open(self.config, "w") as f:
            f.write("[daemon]\nmode=always\nmonitor_interval=1\n[tuning]\nscan_rate=classic\n"
                    "npages_min=1000\nnpages_max=1250\n")
        env = bus.env()
        self.daemon = d = sptest.Daemon(
            ["--config", self.config, "--ksmtuned-config", "", "-v", "--connect",
             "test:///default", "--procfs-root", procfs, "--state-dir", state_dir],
            env=env, log_dir=self.dir)
        bus.wait_for_name(sptest.NAME)
        self.start_mergeable()
        sptest.wait_for(lambda: int(self.knob("pages_shared")) > 0, 60,
                        what="KSM merging the mergeable process")
        sptest.wait_for(lambda: int(self.knob("pages_sharing")) > 1000, 60,
                        what="KSM merging the mergeable process")

        # MemAvailable cannot absorb it: refused, nothing changes
        self.fake_meminfo(1024)
        r = self.ksmctl(bus, "unmerge")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("MemAvailable is 1.0 MiB", r.stderr)
        self.assertEqual(self.knob("run"), "1")
        self.assertGreater(int(self.knob("pages_shared")), 0)

        # merge_across_nodes while pages are shared: unmerged first, no EBUSY
        self.fake_meminfo(16 * 1024 * 1024)
        other = "0" if mac_before == "1" else "1"
        sharing = self.knob("pages_sharing")
        start = time.monotonic()
        r = self.ksmctl(bus, "set", "merge_across_nodes=" + other)
        sys.stderr.write("# ksmctl set merge_across_nodes=%s with %s pages sharing: %.2f s\n"
                         % (other, sharing, time.monotonic() - start))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + d.output()[-2000:])
        self.assertEqual(self.knob("merge_across_nodes"), other)
        self.assertEqual(self.knob("run"), "1")
        r = self.ksmctl(bus, "set", "merge_across_nodes=" + mac_before)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.knob("merge_across_nodes"), mac_before)
        self.assertNotIn("EBUSY", d.output())

        # merged again, then ksmctl unmerge splits everything
        sptest.wait_for(lambda: int(self.knob("pages_shared")) > 0, 60,
                        what="KSM merging again")
        sharing = self.knob("pages_sharing")
        start = time.monotonic()
        r = self.ksmctl(bus, "unmerge")
        sys.stderr.write("# ksmctl unmerge with %s pages sharing: %.2f s\n"
                         % (sharing, time.monotonic() - start))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + d.output()[-2000:])
        self.assertEqual(self.knob("pages_shared"), "0")
        self.assertNotEqual(self.knob("run"), "1")
        r = self.ksmctl(bus, "--json", "status")
        self.assertIn('"mode" : "never"', r.stdout)
        # stays unmerged: mode never
        sptest.wait_for(lambda: self.knob("run") == "0", 5, what="run=0 under mode never")
        self.assertEqual(self.knob("pages_shared"), "0")

        self.assertEqual(d.stop(), 0)
        self.daemon = None
        for name, value in self.saved.items():
            if name != "run":
                self.assertEqual(self.knob(name), value, name)
        self.assertEqual(self.knob("run"), self.saved["run"])


if __name__ == "__main__":
    sptest.run_tap()
