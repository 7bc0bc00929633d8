#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""samepaged on this machine's real /sys/kernel/mm/ksm and /proc/meminfo.
Every knob is saved first and restored at the end, even on failure."""
import os
import re
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
        d = self.start("[daemon]\nmonitor_interval=1\n[tuning]\nthres_coef=100\n")
        sptest.wait_for(lambda: self.knob("run") == "1", 10, what="real run=1")
        self.assertEqual(self.knob("advisor_mode"), "scan-time")
        self.assertEqual(self.knob("advisor_max_cpu"), "22")
        # the cap the decision logged (sized by the embedded driver's
        # domain) is what the kernel has
        d.wait_log(" pages")
        cap = re.search(r"advisor max_cpu 22 %, target scan time \d+ s, at most (\d+) pages",
                        d.output())
        self.assertIsNotNone(cap, d.output()[-2000:])
        self.assertEqual(self.knob("advisor_max_pages_to_scan"), cap.group(1))
        self.assertNotIn("EINVAL", d.output())
        self.assertEqual(d.stop(), 0)
        self.daemon = None
        self.assertEqual(self.knob("advisor_mode"), "none")
        self.assertEqual(self.knob("advisor_max_pages_to_scan"), "25000")
        self.assertEqual(self.knob("run"), "0")


if __name__ == "__main__":
    sptest.run_tap()
