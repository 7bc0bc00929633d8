#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""ksmctl merge DOMAIN on|off end to end: the built samepaged and ksmctl on a
private system-type bus, against a private libvirtd with real TCG guests.

g1 (256 MiB, fills 64 MiB) is switched off and on again while it runs; g2
(256 MiB, always mergeable) runs beside it for contrast. For each switch:
the persistent XML changes and the live one does not, the Domain reports
pending_restart until a cold start (virsh destroy + start), then QEMU runs
with(out) -machine mem-merge=off, the kernel's /proc/<pid>/ksm_stat says
ksm_mergeable no (yes), and the committed memory stops (starts again)
counting g1. Switching off and on again gives back the persistent XML g1
had, element for element.

No polkitd runs, so samepaged lets only root change anything (the test
runs as root). The KSM knobs are a temporary tree (--sysfs-root) and the
host's memory a fixed /proc/meminfo bound over the real one in samepaged's
private mount namespace, while /proc/<pid> stays real. The real
/sys/kernel/mm/ksm is never written. libvirtd, the guests, the bus and
samepaged are stopped by PID, even on failure.
"""
import json
import time
import xml.etree.ElementTree as ET

import spguestcase
import sptest
import sptestbed

GUEST_KIB = 256 * 1024  # each guest's memory (balloon.current)
G1_FILL_MIB = 64

PENDING_MESSAGE = "takes effect when the guest is next started; a guest reboot is not enough"
SETTLE_S = spguestcase.SETTLE_S


def nosharepages(xml):
    """Whether /domain/memoryBacking/nosharepages is in a domain XML."""
    root = ET.fromstring(xml)
    assert root.tag == "domain", root.tag
    return root.find("./memoryBacking/nosharepages") is not None


def canonical(xml):
    return ET.canonicalize(xml, strip_text=True)


def machine_arg(pid):
    """The argument of QEMU's -machine, from /proc/<pid>/cmdline."""
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        argv = f.read().decode().split("\0")
    for i, arg in enumerate(argv[:-1]):
        if arg == "-machine":
            return argv[i + 1]
    raise AssertionError("QEMU %d has no -machine: %r" % (pid, argv))


def ksm_stat(pid):
    """/proc/<pid>/ksm_stat as a dict of strings."""
    with open("/proc/%d/ksm_stat" % pid) as f:
        return dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)


def ksm_mergeable(pid):
    return ksm_stat(pid).get("ksm_mergeable", "").strip()


class MemMergeSystemTest(spguestcase.GuestDaemonCase):
    TEMP_PREFIX = "sp-memmerge-"

    @classmethod
    def setUpClass(cls):
        cls.start_libvirtd(("g1", G1_FILL_MIB), ("g2", 0))

    # -- helpers (and those of GuestDaemonCase) --

    def committed_kib(self):
        return json.loads(self.ksmctl("status", "--json"))["memory"]["committed_kib"]

    def wait_committed(self, kib, timeout=SETTLE_S):
        seen = []

        def equal():
            seen.append(self.committed_kib())
            return seen[-1] == kib
        try:
            sptest.wait_for(equal, timeout, 0.2, "committed %d KiB" % kib)
        except AssertionError as e:
            raise AssertionError("%s (last seen %s)\nsamepaged:\n%s"
                                 % (e, seen[-1:], self.daemon.output()[-3000:]))

    def wait_ksm_mergeable(self, pid, value, timeout=30.0):
        seen = []

        def check():
            seen.append(ksm_mergeable(pid))
            return seen[-1] == value
        try:
            sptest.wait_for(check, timeout, 0.2, "ksm_mergeable: %s in /proc/%d/ksm_stat"
                            % (value, pid))
        except AssertionError as e:
            raise AssertionError("%s (is %r)" % (e, seen[-1:]))

    def merge(self, name, setting):
        mark = len(self.daemon.output())
        began = time.monotonic()
        out = self.ksmctl("merge", name, setting)
        sptestbed.log("ksmctl merge %s %s took %.2f s: %s"
                      % (name, setting, time.monotonic() - began, out.strip().replace("\n", " | ")))
        before, after = ("on", "off") if setting == "off" else ("off", "on")
        self.daemon.wait_log("Memory merging of domain %s (persistent config): %s → %s, "
                             "asked by uid 0" % (name, before, after))
        self.assertIn("asked by uid 0", self.daemon.output()[mark:])
        return out

    # -- the test --

    def test_merge_off_then_on_across_cold_starts(self):
        began = time.monotonic()
        self.lv.start("g2")
        self.lv.start("g1")
        g1_pid = self.lv.qemu_pid("g1")
        g2_pid = self.lv.qemu_pid("g2")
        self.assertIsNotNone(g1_pid)
        self.assertIsNotNone(g2_pid)
        original_inactive = self.inactive_xml("g1")
        self.assertFalse(nosharepages(original_inactive))

        # 1. g1 runs and is mergeable; both guests count
        g1 = self.wait_domain("g1", active=True, mem_merge=True, mem_merge_active=True,
                              mergeable=True, pending_restart=False, pid=g1_pid,
                              ksm_mergeable="yes")
        self.assertEqual(g1["unmergeable_reason"], None)
        self.assertEqual(g1["current_kib"], GUEST_KIB)
        self.assertNotIn("mem-merge=off", machine_arg(g1_pid))
        self.assertEqual(ksm_mergeable(g1_pid), "yes")
        self.wait_domain("g2", active=True, mergeable=True, current_kib=GUEST_KIB)
        self.wait_committed(2 * GUEST_KIB)
        sptestbed.log("g1 and g2 running and counted %.1f s after virsh start"
                      % (time.monotonic() - began))

        # 2. off while running: the persistent config changes, the running one cannot
        out = self.merge("g1", "off")
        self.assertIn(PENDING_MESSAGE, out)
        self.assertIn("g1: memory merging off in the persistent config.", out)
        self.assertTrue(nosharepages(self.inactive_xml("g1")))
        self.assertFalse(nosharepages(self.live_xml("g1")))
        # SetMemMerge replies after the refresh it triggered: no waiting here
        g1 = self.domain("g1")
        self.assertEqual((g1["mem_merge"], g1["mem_merge_active"], g1["pending_restart"],
                          g1["mergeable"], g1["active"]), (False, True, True, True, True), g1)
        # still running as it was: still counted, QEMU untouched
        self.assertEqual(self.lv.qemu_pid("g1"), g1_pid)
        self.assertEqual(ksm_mergeable(g1_pid), "yes")
        self.assertEqual(self.committed_kib(), 2 * GUEST_KIB)
        # the same setting again: a no-op, the config is not redefined
        mark = len(self.daemon.output())
        again = self.ksmctl("merge", "g1", "off")
        self.assertIn(PENDING_MESSAGE, again)
        self.daemon.wait_log("Memory merging of domain g1 is already off: nothing to define")
        self.assertNotIn("Memory merging of domain g1 (persistent config)",
                         self.daemon.output()[mark:])

        # 3. a cold start applies it
        g1_pid = self.cold_restart("g1")
        self.assertIn("mem-merge=off", machine_arg(g1_pid).split(","), machine_arg(g1_pid))
        self.assertTrue(nosharepages(self.live_xml("g1")))
        self.wait_ksm_mergeable(g1_pid, "no")
        g1 = self.wait_domain("g1", active=True, pending_restart=False, mem_merge=False,
                              mem_merge_active=False, mergeable=False,
                              unmergeable_reason="nosharepages", pid=g1_pid,
                              ksm_mergeable="no")
        self.assertEqual(g1["current_kib"], GUEST_KIB)  # running, but not counted:
        self.wait_committed(GUEST_KIB)                  # only g2 is
        self.wait_domain("g2", active=True, mergeable=True, pending_restart=False)

        # 4. on again reverses all of it
        out = self.merge("g1", "on")
        self.assertIn(PENDING_MESSAGE, out)
        self.assertIn("g1: memory merging on in the persistent config.", out)
        restored = self.inactive_xml("g1")
        self.assertFalse(nosharepages(restored))
        self.assertIsNone(ET.fromstring(restored).find("./memoryBacking"),
                          "an empty <memoryBacking> was left behind:\n" + restored)
        self.assertEqual(canonical(restored), canonical(original_inactive))
        self.assertTrue(nosharepages(self.live_xml("g1")))
        g1 = self.domain("g1")
        self.assertEqual((g1["mem_merge"], g1["mem_merge_active"], g1["pending_restart"],
                          g1["mergeable"], g1["unmergeable_reason"]),
                         (True, False, True, False, "nosharepages"), g1)
        self.assertEqual(self.committed_kib(), GUEST_KIB)

        g1_pid = self.cold_restart("g1")
        self.assertNotIn("mem-merge=off", machine_arg(g1_pid).split(","), machine_arg(g1_pid))
        self.assertFalse(nosharepages(self.live_xml("g1")))
        self.wait_ksm_mergeable(g1_pid, "yes")
        g1 = self.wait_domain("g1", active=True, pending_restart=False, mem_merge=True,
                              mem_merge_active=True, mergeable=True, unmergeable_reason=None,
                              pid=g1_pid, ksm_mergeable="yes")
        self.wait_committed(2 * GUEST_KIB)
        # g1 still boots and fills its memory with the config samepaged wrote
        line = self.lv.wait_ready("g1")
        self.assertIn("fill=%dMiB" % G1_FILL_MIB, line)
        self.assertEqual(self.lv.qemu_pid("g2"), g2_pid)
        self.assertIsNone(self.daemon.proc.poll(), "samepaged exited")
        sptestbed.log("off, cold start, on, cold start: %.1f s in all" % (time.monotonic() - began))


if __name__ == "__main__":
    sptest.run_tap()
