#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The profit guard on this machine's real KSM, with two TCG guests of a
private libvirtd: guests filled with random pages (sp_fill_random=1) make
samepaged lower the scan rate and then stop KSM, with the reason; guests
filled with identical pages keep KSM running.

Random guests still share their kernel and zero pages (about 37 MiB of two
256 MiB guests here, general_profit +31 MiB), at about 0.1 CPU-s of ksmd per
full scan: some 370 MiB saved per CPU-second. Identical ones save about
356 MiB at 0.07 CPU-s per scan once merged (0.23 CPU-s in the first scans,
which merge): over 5 GiB per CPU-second (measured on this machine kind,
pages_to_scan 1250 every 10 ms). The test puts profit_min_kib_per_cpu_second
at 1 GiB, between the two by a factor of three or more either way, and
judges after 3 full scans, past the merging ones.

samepaged runs on the real /sys/kernel/mm/ksm and /proc (ksmd's CPU, the
real MemTotal; thres_coef=100 keeps KSM wanted whatever the memory). Every
knob is saved first and restored at the end, even on failure. Run under
flock /tmp/sp-system.lock (meson test does not take it)."""
import os
import re
import unittest

import sptest
import sptestbed

FILL_MIB = 160
MIN_KIB_PER_CPU_S = 1024 * 1024  # 1 GiB

CONFIG = """[daemon]
monitor_interval=1
[tuning]
thres_coef=100
scan_rate=classic
npages_min=500
npages_max=1250
profit_guard=on
profit_min_scans=3
profit_min_kib_per_cpu_second=%d
""" % MIN_KIB_PER_CPU_S

COST = re.compile(r"KSM cost: ksmd ([\d.]+) % of a core, full scan [\d.]+ s at [\d.]+ CPU-s, "
                  r"saved [^,]+, ([^,]+) per CPU-second")


class ProfitGuardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        assert os.path.isdir(sptest.REAL_KSM), "no /sys/kernel/mm/ksm on this kernel"
        assert os.geteuid() == 0, "the system suite runs as root: it writes /sys/kernel/mm/ksm"
        cls.lv = sptestbed.PrivateLibvirtd()
        cls.addClassCleanup(cls.lv.stop)
        cls.lv.start_daemon()
        for name, random in (("r1", True), ("r2", True), ("s1", False), ("s2", False)):
            cls.define(name, random)

    @classmethod
    def define(cls, name, random):
        """A 256 MiB guest like sptestbed's, whose /init fills FILL_MIB with
        random pages (sp_fill_random=1 on its command line) or identical ones."""
        cls.lv.define_guest(name, fill_mib=FILL_MIB, random_fill=random)

    def setUp(self):
        self.saved = sptest.save_real_knobs()
        self.addCleanup(sptest.restore_real_knobs, self.saved)
        self.dir = sptest.make_temp_dir("sp-profit-")
        self.addCleanup(sptest.remove_tree, self.dir)
        self.addCleanup(self.lv.destroy_running)
        self.config = os.path.join(self.dir, "samepaged.conf")
        with open(self.config, "w") as f:
            f.write(CONFIG)
        # KSM off with nothing merged, the advisor off: the guard starts counting from here
        for name, value in (("run", "2"), ("run", "0"), ("advisor_mode", "none"),
                            ("pages_to_scan", "100"), ("sleep_millisecs", "20")):
            with open(os.path.join(sptest.REAL_KSM, name), "w") as f:
                f.write(value)

    def knob(self, name):
        return sptest.read_knob(sptest.REAL_KSM, name)

    def start_guests(self, names):
        for name in names:
            self.lv.start(name)
        for name in names:
            line = self.lv.wait_ready(name, timeout=180)
            self.assertIn("fill=%dMiB" % FILL_MIB, line)
            sptestbed.log(line)

    def start_samepaged(self):
        daemon = sptestbed.NamespacedDaemon(
            ["--config", self.config, "--ksmtuned-config", "", "--connect", self.lv.uri, "-v"],
            [(self.lv.pid_dir(), "/run/libvirt")], log_dir=self.dir)
        self.addCleanup(daemon.stop)
        daemon.wait_log("Connected to libvirt at %s" % self.lv.uri, timeout=20)
        sptest.wait_for(lambda: self.knob("run") == "1", 20, what="KSM started")
        return daemon

    def costs(self, daemon):
        """(ksmd % of a core, saved per CPU-second as printed) of each decision."""
        return COST.findall(daemon.output())

    def test_random_guests_stop_ksm(self):
        self.start_guests(["r1", "r2"])
        self.assertIn("random=1", self.lv.wait_ready("r1"))
        daemon = self.start_samepaged()
        scans_at_start = int(self.knob("full_scans"))
        # three full scans to judge, the lowest rate, three more, then the stop
        daemon.wait_log("profit guard: saved ", timeout=240)
        self.assertIn("lowest rate to 500 pages", daemon.output())
        daemon.wait_log("stop: profit guard: saved ", timeout=240)
        sptest.wait_for(lambda: self.knob("run") == "0", 10, what="KSM stopped by the guard")
        stop = re.search(r"stop: profit guard: saved (.+) per CPU-second < 1\.0 GiB after "
                         r"(\d+) more full scans at the lowest scan rate, merged pages kept "
                         r"\(run=0\); retry when committed memory changes by more than 20 % or "
                         r"in 30 min", daemon.output())
        self.assertIsNotNone(stop, daemon.output()[-3000:])
        self.assertGreaterEqual(int(stop.group(2)), 3)
        self.assertGreaterEqual(int(self.knob("full_scans")) - scans_at_start, 6)
        # ksmd's CPU was measured on the real kernel, and it burnt some
        self.assertTrue(any(float(cpu) > 0 for cpu, _ in self.costs(daemon)),
                        daemon.output()[-3000:])
        sptestbed.log("random guests: %s; %s" % (stop.group(0), self.costs(daemon)[-1]))
        # stays stopped on the next ticks; merged pages are kept
        mark = len(daemon.output())
        daemon.wait_log_from(mark, "stop: profit guard: KSM did not pay", timeout=10)
        self.assertEqual(self.knob("run"), "0")
        self.assertEqual(daemon.stop(), 0)
        for name, value in (("run", "0"), ("pages_to_scan", "100"), ("sleep_millisecs", "20")):
            self.assertEqual(self.knob(name), value, name)

    def test_identical_guests_keep_ksm(self):
        self.start_guests(["s1", "s2"])
        self.assertIn("random=0", self.lv.wait_ready("s1"))
        daemon = self.start_samepaged()
        scans_at_start = int(self.knob("full_scans"))
        # well past the three scans to judge and three at the lowest rate
        sptest.wait_for(lambda: int(self.knob("full_scans")) - scans_at_start >= 10, 240,
                        what="10 full scans")
        # one more decision after them
        mark = len(daemon.output())
        daemon.wait_log_from(mark, "run: ", timeout=10)
        self.assertEqual(self.knob("run"), "1")
        self.assertNotIn("profit guard", daemon.output())
        self.assertGreater(int(self.knob("pages_sharing")), FILL_MIB * 256)
        self.assertGreater(int(self.knob("general_profit")), 0)
        sptestbed.log("identical guests: %s" % (self.costs(daemon)[-1:],))
        self.assertEqual(daemon.stop(), 0)
        self.assertEqual(self.knob("run"), "0")


if __name__ == "__main__":
    sptest.run_tap()
