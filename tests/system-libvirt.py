#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The built samepaged against a private libvirtd with two TCG guests.

samepaged ticks every 600 s here, so only libvirt events can make it retune
within the test: starting a guest in another process (virsh) makes its
committed memory count and the KSM knobs change at once, destroying it
takes it back, a balloon change retunes too, and after libvirtd is killed
and restarted samepaged reconnects, resyncs and sees the next start.

The KSM knobs are a temporary tree (--sysfs-root); the host's memory is a
fixed /proc/meminfo bound over the real one in samepaged's private mount
namespace, while /proc/<pid> stays real so samepaged finds the guests' QEMU
processes and their ksm_stat. The real /sys/kernel/mm/ksm is never written.
"""
import os
import re
import time
import unittest

import sptest
import sptestbed

MIB_KIB = 1024
GUEST_KIB = 256 * MIB_KIB  # each guest's balloon.current

MEMINFO = sptest.FIXED_MEMINFO

# a 6.x kernel's KSM directory at boot, advisor included
KSM_FILES = sptest.KSM_BOOT_FILES

CONFIG = """[daemon]
monitor_interval=600
[tuning]
thres_coef=20
thres_const=0
"""

REFRESHED = re.compile(r"Refreshed (\d+) domain\(s\), (\d+) active, committed (\d+) KiB")
# Per-domain facts, one debug line per domain and refresh (asked of daemon/sp-libvirt.c).
FACTS = (r"Domain {name}: (\w+), (\d+) KiB from (\w+), ([^,]+), QEMU pid (-?\d+), "
         r"ksm_mergeable (\w+)")
REACTION_LIMIT_S = 5.0  # a tick would take 600 s


def total_for(run_kib, stop_kib):
    """A MemTotal (KiB) where KSM runs with run_kib committed and stops with
    stop_kib: with a threshold of 20 % of total, committed + threshold >=
    total needs total <= committed / 0.8; stopping again needs committed +
    threshold + the 10 % hysteresis margin < total (available is 90 %)."""
    low = stop_kib / 0.78
    high = run_kib / 0.8
    assert low < high
    return int((low + high) / 2) // 4 * 4


class LibvirtSystemTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        sptestbed.log("guest assets ...")
        began = time.monotonic()
        cls.assets = sptestbed.ensure_guest_assets()
        sptestbed.log("guest assets ready after %.1f s (%s)" % (time.monotonic() - began,
                                                                 cls.assets.kernel_package))
        cls.lv = sptestbed.PrivateLibvirtd(cls.assets)
        cls.addClassCleanup(cls.lv.stop)
        cls.lv.start_daemon()
        cls.uuids = {name: cls.lv.define_guest(name, memory_mib=256, fill_mib=128)
                     for name in ("g1", "g2")}

    def setUp(self):
        self.dir = sptest.make_temp_dir("sp-libvirt-")
        self.addCleanup(sptest.remove_tree, self.dir)
        self.ksm = sptest.make_ksm_tree(os.path.join(self.dir, "sys"), KSM_FILES)
        self.meminfo = os.path.join(self.dir, "meminfo")
        self.config = os.path.join(self.dir, "samepaged.conf")
        with open(self.config, "w") as f:
            f.write(CONFIG)
        self.daemon = None
        self.addCleanup(self.lv.destroy_running)

    def tearDown(self):
        if self.daemon is not None:
            self.daemon.stop()

    # -- helpers --

    def start_samepaged(self, total_kib):
        with open(self.meminfo, "w") as f:
            f.write(MEMINFO.format(total=total_kib, avail=total_kib * 9 // 10))
        binds = [(self.meminfo, "/proc/meminfo"), (self.lv.pid_dir(), "/run/libvirt")]
        self.daemon = sptestbed.NamespacedDaemon(
            ["--sysfs-root", os.path.join(self.dir, "sys"), "--config", self.config,
             "--ksmtuned-config", "", "--connect", self.lv.uri, "-v"],
            binds, log_dir=self.dir)
        self.daemon.wait_log("Connected to libvirt at %s" % self.lv.uri, timeout=20)
        self.wait_refreshed(0, active=0, committed_kib=0)
        self.daemon.wait_log_from(0, "stop: committed 0 KiB")
        self.assertEqual(self.knob("run"), "0")
        return self.daemon

    def knob(self, name):
        return sptest.read_knob(self.ksm, name)

    def mark(self):
        return len(self.daemon.output())

    def wait_refreshed(self, offset, active, committed_kib, domains=2, timeout=10.0):
        """The first refresh after offset with these counts."""
        def seen():
            for m in REFRESHED.finditer(self.daemon.output()[offset:]):
                if (int(m.group(1)), int(m.group(2)), int(m.group(3))) == \
                        (domains, active, committed_kib):
                    return True
            return False
        sptest.wait_for(seen, timeout, what="refresh with %d active, committed %d KiB in "
                        "samepaged's log:\n%s" % (active, committed_kib,
                                                   self.daemon.output()[-3000:]))

    def timed_knob_change(self, action, knob, value):
        """Runs action (a virsh command in another process); returns how
        long after it returned the knob took the value."""
        before = self.knob(knob)
        self.assertNotEqual(before, value)
        action()
        returned = time.monotonic()
        sptest.wait_for(lambda: self.knob(knob) == value, REACTION_LIMIT_S, 0.01,
                        what="%s=%s (is %s); samepaged's log:\n%s"
                        % (knob, value, self.knob(knob), self.daemon.output()[-3000:]))
        return time.monotonic() - returned

    def facts(self, offset, name):
        """The last per-domain facts line of name after offset."""
        found = re.findall(FACTS.format(name=re.escape(name)), self.daemon.output()[offset:])
        self.assertTrue(found, "samepaged's log has no per-domain facts line for %s "
                        "(\"Domain %s: active, N KiB from balloon, mergeable, QEMU pid P, "
                        "ksm_mergeable yes, ...\"):\n%s"
                        % (name, name, self.daemon.output()[-3000:]))
        return found[-1]

    # -- tests --

    def test_start_and_destroy_retune_without_tick(self):
        # one guest crosses the threshold: 256 MiB + 20 % of total >= total
        total = total_for(GUEST_KIB, 0)
        self.start_samepaged(total)
        mark = self.mark()

        reaction = self.timed_knob_change(lambda: self.lv.start("g1"), "run", "1")
        sptestbed.log("virsh start g1 returned -> run=1 after %.2f s" % reaction)
        self.wait_refreshed(mark, active=1, committed_kib=GUEST_KIB)
        self.daemon.wait_log_from(mark, "run: committed 256.0 MiB + threshold")
        # a run starts with the advisor's warm-up: classic steering until
        # KSM has done 2 full scans (system-real-ksm sees the hand-over)
        self.daemon.wait_log_from(mark, "advisor warm-up (0 of 2 full scans done)")
        self.assertEqual(self.knob("advisor_mode"), "none")
        self.assertLess(reaction, REACTION_LIMIT_S)

        mark = self.mark()
        reaction = self.timed_knob_change(lambda: self.lv.destroy("g1"), "run", "0")
        sptestbed.log("virsh destroy g1 returned -> run=0 after %.2f s" % reaction)
        self.wait_refreshed(mark, active=0, committed_kib=0)
        self.daemon.wait_log_from(mark, "stop: committed 0 KiB")
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon = None
        # SIGTERM restored what samepaged found
        self.assertEqual(self.knob("advisor_mode"), "none")
        self.assertEqual(self.knob("run"), "0")

    def test_balloon_change_and_domain_facts(self):
        total = total_for(GUEST_KIB, 192 * MIB_KIB)
        self.start_samepaged(total)
        mark = self.mark()
        began = time.monotonic()
        self.lv.start("g2")
        sptest.wait_for(lambda: self.knob("run") == "1", REACTION_LIMIT_S, 0.02, what="run=1")
        line = self.lv.wait_ready("g2")
        sptestbed.log("g2 booted, filled and ready %.1f s after virsh start: %s"
                      % (time.monotonic() - began, line))
        self.assertIn("balloon=yes", line)
        qemu_pid = self.lv.qemu_pid("g2")
        self.assertIsNotNone(qemu_pid)

        # the guest gives memory back through its balloon (TCG inflates it
        # in steps, each a balloon-change event): below the threshold
        mark = self.mark()
        reaction = self.timed_knob_change(
            lambda: self.lv.virsh("setmem", "g2", "192M", "--live"), "run", "0")
        sptestbed.log("virsh setmem g2 192M returned -> run=0 after %.2f s" % reaction)
        self.daemon.wait_log_from(mark, "libvirt event: domain g2 balloon-change")
        refreshes = [tuple(int(v) for v in m.groups())
                     for m in REFRESHED.finditer(self.daemon.output()[mark:])]
        self.assertTrue(refreshes)
        domains, active, committed_kib = refreshes[-1]
        self.assertEqual((domains, active), (2, 1))
        self.assertLess(committed_kib, GUEST_KIB)
        self.assertGreaterEqual(committed_kib, 192 * MIB_KIB)

        # what samepaged knows of g2: memory from the balloon, its QEMU, ksm_stat
        state, kib, source, mergeable, pid, ksm_mergeable = self.facts(mark, "g2")
        self.assertEqual((state, int(kib), source, mergeable),
                         ("active", committed_kib, "balloon", "mergeable"))
        self.assertEqual(int(pid), qemu_pid)
        with open("/proc/%d/ksm_stat" % qemu_pid) as f:
            self.assertIn("ksm_mergeable: yes", f.read())
        self.assertEqual(ksm_mergeable, "yes")
        # g2's events re-queried g2 alone; g1 was last queried (and logged)
        # by the full refresh at connect
        self.assertRegex(self.daemon.output()[mark:], r"committed \d+ KiB; 1 queried\n")
        self.assertNotRegex(self.daemon.output()[mark:], r"Domain g1: ")
        state, kib, source, mergeable, pid, ksm_mergeable = self.facts(0, "g1")
        self.assertEqual((state, int(pid)), ("inactive", 0))

    def test_reconnects_after_libvirtd_killed(self):
        # one guest keeps KSM stopped, the second starts it
        total = total_for(2 * GUEST_KIB, GUEST_KIB)
        self.start_samepaged(total)
        mark = self.mark()
        self.lv.start("g1")
        self.wait_refreshed(mark, active=1, committed_kib=GUEST_KIB)
        self.assertEqual(self.knob("run"), "0")

        mark = self.mark()
        self.lv.kill()
        self.daemon.wait_log_from(mark, "Lost the libvirt connection to %s" % self.lv.uri)
        # tuning goes on: still alive, g1 still counted, nothing written
        self.assertIsNone(self.daemon.proc.poll())
        self.assertEqual(self.knob("run"), "0")
        lost = time.monotonic()
        self.lv.start_daemon()
        self.daemon.wait_log_from(mark, "Connected to libvirt at %s" % self.lv.uri, timeout=40)
        sptestbed.log("libvirtd restarted, samepaged reconnected %.2f s after the loss"
                      % (time.monotonic() - lost))
        # resync: g1, started before the loss, still counts
        self.wait_refreshed(mark, active=1, committed_kib=GUEST_KIB)

        mark = self.mark()
        reaction = self.timed_knob_change(lambda: self.lv.start("g2"), "run", "1")
        sptestbed.log("after reconnecting: virsh start g2 returned -> run=1 after %.2f s"
                      % reaction)
        self.wait_refreshed(mark, active=2, committed_kib=2 * GUEST_KIB)
        self.daemon.wait_log_from(mark, "run: committed 512.0 MiB + threshold")


if __name__ == "__main__":
    sptest.run_tap()
