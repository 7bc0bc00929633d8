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
import subprocess
import time
import unittest
import xml.etree.ElementTree as ET

import sptest
import sptestbed

CONFIG = """[daemon]
monitor_interval=600
"""

PENDING_MESSAGE = "takes effect when the guest is next started; a guest reboot is not enough"
SETTLE_S = 20.0


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


class BusGuard:
    """The private bus (and the test's directory) as sptestbed's SIGTERM
    handler stops things."""

    def __init__(self, bus, directory):
        self.bus = bus
        self.dir = directory

    def kill_now(self):
        sptest.stop_process(self.bus.proc)
        sptest.remove_tree(self.dir)


class BalloonReportingSystemTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        began = time.monotonic()
        cls.assets = sptestbed.ensure_guest_assets()
        cls.lv = sptestbed.PrivateLibvirtd(cls.assets)
        cls.addClassCleanup(cls.lv.stop)
        cls.lv.start_daemon()
        cls.lv.define_guest("g1", memory_mib=256, fill_mib=0)
        # g3: the same guest with <memballoon model='none'>
        cls.lv.define_guest("g3", memory_mib=256, fill_mib=0)
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
        sptestbed.log("assets and libvirtd ready after %.1f s" % (time.monotonic() - began))

    def setUp(self):
        self.dir = sptest.make_temp_dir("sp-reporting-")
        self.addCleanup(sptest.remove_tree, self.dir)
        self.sysfs = os.path.join(self.dir, "sys")
        sptest.make_ksm_tree(self.sysfs, sptest.KSM_BOOT_FILES)
        self.meminfo = os.path.join(self.dir, "meminfo")
        total = 16 * 1024 * 1024
        with open(self.meminfo, "w") as f:
            f.write(sptest.FIXED_MEMINFO.format(total=total, avail=total * 9 // 10))
        self.config = os.path.join(self.dir, "samepaged.conf")
        with open(self.config, "w") as f:
            f.write(CONFIG)

        # cleanups run last-in first-out: samepaged, then the bus, then the guests
        self.addCleanup(self.lv.destroy_running, start=False)
        self.bus = sptest.SystemBus(self.dir)
        self.addCleanup(self.bus.stop)
        self.bus_guard = BusGuard(self.bus, self.dir)
        sptestbed._live.add(self.bus_guard)
        self.addCleanup(sptestbed._live.discard, self.bus_guard)
        self.env = dict(os.environ)
        self.env.update(self.bus.env())
        binds = [(self.meminfo, "/proc/meminfo"), (self.lv.pid_dir(), "/run/libvirt")]
        self.daemon = sptestbed.NamespacedDaemon(
            ["--sysfs-root", self.sysfs, "--config", self.config, "--ksmtuned-config", "",
             "--state-dir", os.path.join(self.dir, "state"), "--connect", self.lv.uri, "-v"],
            binds, env=self.bus.env(), log_dir=self.dir)
        self.addCleanup(self.daemon.stop)
        self.daemon.wait_log("Connected to libvirt at %s" % self.lv.uri, timeout=20)
        self.bus.wait_for_name("org.samepage1")

    # -- helpers --

    def run_ksmctl(self, *args):
        return subprocess.run([sptest.KSMCTL] + list(args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
                              text=True, timeout=60)

    def ksmctl(self, *args):
        r = self.run_ksmctl(*args)
        self.assertEqual(r.returncode, 0, "ksmctl %s exited with %d:\n%s%s\nsamepaged:\n%s"
                         % (" ".join(args), r.returncode, r.stdout, r.stderr,
                            self.daemon.output()[-3000:]))
        return r.stdout

    def domain(self, name):
        domains = json.loads(self.ksmctl("domains", "--json"))
        for d in domains:
            if d["name"] == name:
                return d
        raise AssertionError("ksmctl domains --json has no %s (only %s)"
                             % (name, [d["name"] for d in domains]))

    def wait_domain(self, name, **expected):
        last = {}

        def matches():
            last.update(self.domain(name))
            return all(last.get(k) == v for k, v in expected.items()) and dict(last)
        try:
            return sptest.wait_for(matches, SETTLE_S, 0.2, "%s with %r" % (name, expected))
        except AssertionError as e:
            raise AssertionError("%s; ksmctl domains --json shows %s:\n%s\nsamepaged:\n%s"
                                 % (e, name, json.dumps(last, indent=1),
                                    self.daemon.output()[-3000:]))

    def inactive_xml(self, name):
        return self.lv.virsh("dumpxml", "--inactive", "--security-info", name)

    def live_xml(self, name):
        return self.lv.virsh("dumpxml", name)

    def cold_restart(self, name):
        old = self.lv.qemu_pid(name)
        self.lv.destroy(name)
        self.lv.start(name)
        return sptest.wait_for(lambda: (self.lv.qemu_pid(name) not in (None, old)
                                        and self.lv.qemu_pid(name)), 10, 0.1,
                               "a new QEMU pid for %s" % name)

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
