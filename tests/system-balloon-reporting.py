#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""ksmctl balloon DOMAIN reporting on|off end to end: the built samepaged and
ksmctl on a private system-type bus, against a private libvirtd with a real
TCG guest.

g1 (256 MiB, virtio balloon) gets free page reporting while it runs: the
persistent XML gains freePageReporting='on' and nothing else changes, the
live XML and QEMU keep running without it (ksmctl says it waits for a cold
start, the Domain shows it pending), and after virsh destroy + start QEMU
runs with free-page-reporting and the guest boots. Off again writes
freePageReporting='off'. g3, with <memballoon model='none'>, is refused
and its XML is left as it was.

No polkitd runs, so samepaged lets only root change anything (the test runs
as root). The KSM knobs are a temporary tree (--sysfs-root) and the host's
memory a fixed /proc/meminfo, as in system-mem-merge; the real
/sys/kernel/mm/ksm is never written. libvirtd, the guests, the bus and
samepaged are stopped by PID, even on failure.
"""
import json
import os
import time
import xml.etree.ElementTree as ET

import spguestcase
import sptest
import sptestbed

PENDING_MESSAGE = "takes effect when the guest is next started; a guest reboot is not enough"


def balloon_of(xml):
    root = ET.fromstring(xml)
    assert root.tag == "domain", root.tag
    return root.find("./devices/memballoon")


def reporting(xml):
    return balloon_of(xml).get("freePageReporting")


def canonical_with_reporting(xml, value):
    """xml with the memballoon's freePageReporting set to value (None:
    removed), canonical."""
    root = ET.fromstring(xml)
    balloon = root.find("./devices/memballoon")
    if value is None:
        balloon.attrib.pop("freePageReporting", None)
    else:
        balloon.set("freePageReporting", value)
    return ET.canonicalize(ET.tostring(root, encoding="unicode"), strip_text=True)


def qemu_args(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().decode().split("\0")


def balloon_device(pid):
    """The properties of QEMU's virtio-balloon -device (libvirt passes JSON)."""
    args = qemu_args(pid)
    for i, arg in enumerate(args[:-1]):
        if arg == "-device" and args[i + 1].startswith("{"):
            device = json.loads(args[i + 1])
            if device.get("driver", "").startswith("virtio-balloon"):
                return device
    raise AssertionError("QEMU %d has no virtio-balloon device: %r" % (pid, args))


class BalloonReportingSystemTest(spguestcase.GuestDaemonCase):
    TEMP_PREFIX = "sp-reporting-"

    @classmethod
    def setUpClass(cls):
        cls.start_libvirtd(("g1", 0), ("g3", 0))
        # g3: the same guest with <memballoon model='none'>
        root = ET.fromstring(cls.lv.virsh("dumpxml", "--inactive", "g3"))
        balloon = root.find("./devices/memballoon")
        for child in list(balloon):
            balloon.remove(child)
        balloon.attrib.clear()
        balloon.set("model", "none")
        path = os.path.join(cls.lv.state, "g3-none.xml")
        with open(path, "w") as f:
            f.write(ET.tostring(root, encoding="unicode"))
        cls.lv.virsh("define", path)

    # -- the test --

    def test_reporting_on_then_off_across_a_cold_start(self):
        began = time.monotonic()
        self.lv.start("g1")
        pid = self.lv.qemu_pid("g1")
        self.assertIsNotNone(pid)
        original = self.inactive_xml("g1")
        self.assertIsNone(reporting(original))
        self.wait_domain("g1", active=True, free_page_reporting=False, balloon_model="virtio")

        # 1. on while running: the persistent config changes, nothing else does
        out = json.loads(self.ksmctl("--json", "balloon", "g1", "reporting", "on"))
        sptestbed.log("ksmctl balloon g1 reporting on: %s after %.1f s"
                      % (out["takes_effect"], time.monotonic() - began))
        self.assertEqual((out["domain"], out["free_page_reporting"], out["takes_effect"]),
                         ("g1", True, "next-start"))
        self.daemon.wait_log("Free page reporting of domain g1 (persistent config): off → on, "
                             "asked by uid 0")
        self.daemon.wait_log("Domain g1 runs with free page reporting off until its next cold "
                             "start")
        edited = self.inactive_xml("g1")
        self.assertEqual(reporting(edited), "on")
        self.assertEqual(canonical_with_reporting(edited, None),
                         canonical_with_reporting(original, None))
        self.assertIsNone(reporting(self.live_xml("g1")))
        self.assertEqual(self.lv.qemu_pid("g1"), pid)  # QEMU untouched
        self.assertNotIn("free-page-reporting", balloon_device(pid))
        self.wait_domain("g1", free_page_reporting=True)
        # the same again: nothing is defined, still pending
        mark = len(self.daemon.output())
        again = self.ksmctl("balloon", "g1", "reporting", "on")
        self.assertIn(PENDING_MESSAGE, again)
        self.assertIn("g1: free page reporting on in the persistent config.", again)
        self.assertNotIn("Free page reporting of domain g1", self.daemon.output()[mark:])

        # 2. a cold start applies it; the guest boots with it
        pid = self.cold_restart("g1")
        self.assertEqual(reporting(self.live_xml("g1")), "on")
        self.assertIs(balloon_device(pid).get("free-page-reporting"), True, balloon_device(pid))
        self.lv.wait_ready("g1")
        self.wait_domain("g1", active=True, free_page_reporting=True, pid=pid)
        self.assertEqual(self.ksmctl("balloon", "g1", "reporting", "on"),
                         "g1: free page reporting on, in effect now\n")

        # 3. off: written as off, pending again
        out = self.ksmctl("balloon", "g1", "reporting", "off")
        self.assertIn("g1: free page reporting off in the persistent config.", out)
        self.assertIn(PENDING_MESSAGE, out)
        off = self.inactive_xml("g1")
        self.assertEqual(reporting(off), "off")
        self.assertEqual(canonical_with_reporting(off, None),
                         canonical_with_reporting(original, None))
        self.assertIsNone(self.daemon.proc.poll(), "samepaged exited")

    def test_model_none_is_refused_and_left_alone(self):
        before = self.inactive_xml("g3")
        self.assertEqual(balloon_of(before).get("model"), "none")
        self.lv.start("g3")
        self.wait_domain("g3", active=True, balloon_model="none")
        for value in ("on", "off"):
            r = self.run_ksmctl("balloon", "g3", "reporting", value)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("Domain g3 has <memballoon model='none'>", r.stderr)
        # with other settings in the same call: none of them is written
        r = self.run_ksmctl("balloon", "g3", "shares=7", "reporting", "on")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(self.inactive_xml("g3"), before)


if __name__ == "__main__":
    sptest.run_tap()
