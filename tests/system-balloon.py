#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest balloons end to end: the built samepaged in balloon=auto against a
private libvirtd with real TCG guests (the virtio balloon driver loaded).

- g1 (256 MiB, no fill, its <stats period> removed) is managed: samepaged
  sets its memory stats period; a fake /proc/meminfo puts the host under
  pressure and g1's balloon (virsh dommemstat actual) falls by >= 10 %,
  QEMU's RSS falls, g1 stays alive, the balloon never goes below the floor
  (min_percent of <memory>). SIGTERM while shrunk: samepaged sets no
  balloon on exit and puts g1's stats period back to 0. Started again with
  the pressure gone, it grows g1 back to its <currentMemory>.
- g2 has <memballoon model='none'> and g3 opted out in its samepage
  metadata (virsh metadata, persistent): never touched, the reason logged
  at debug level is irrelevant; their balloons stay where they are.

No D-Bus API (no bus): the test reads libvirt (virsh) and samepaged's log.
The host's memory is a file bound over /proc/meminfo in samepaged's private
mount namespace, rewritten in place to move the pressure. The real KSM
knobs are never written (--sysfs-root). Everything is stopped by PID.
"""
import json
import os
import re
import subprocess
import time
import unittest

import sptest
import sptestbed

GUEST_MIB = 256
GUEST_KIB = GUEST_MIB * 1024
FLOOR_KIB = GUEST_KIB // 2  # min_percent=50
MEM_TOTAL_KIB = 16 * 1024 * 1024
NO_PRESSURE_KIB = MEM_TOTAL_KIB * 9 // 10
PRESSURE_KIB = MEM_TOTAL_KIB * 10 // 100  # below balloon_threshold=20, above critical 5
METADATA_URI = "https://samepage.dev/xmlns/balloon/1"

CONFIG = """[daemon]
monitor_interval=600

[balloon]
balloon=auto
stats_period=2
max_step_percent=10
critical_step_percent=20
min_percent=50
"""


def dommemstat(lv, name):
    out = lv.virsh("dommemstat", name)
    stats = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            stats[parts[0]] = int(parts[1])
    return stats


def balloon_current(lv, name):
    """balloon.current of virsh domstats (a guest without a balloon has it too)."""
    m = re.search(r"balloon\.current=(\d+)", lv.virsh("domstats", "--balloon", name))
    assert m, "no balloon.current for %s" % name
    return int(m.group(1))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


class BalloonSystemTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        began = time.monotonic()
        cls.assets = sptestbed.ensure_guest_assets()
        cls.lv = sptestbed.PrivateLibvirtd(cls.assets)
        cls.addClassCleanup(cls.lv.stop)
        cls.lv.start_daemon()
        for name in ("g1", "g2", "g3"):
            cls.lv.define_guest(name, memory_mib=GUEST_MIB, fill_mib=0)
        # g1: no stats period (samepaged sets it); g2: no balloon driver
        cls.redefine("g1", "<stats period='2'/>", "")
        cls.redefine("g2", re.compile(r"<memballoon model='virtio'>.*?</memballoon>", re.S),
                     "<memballoon model='none'/>")
        # g3 opts out, in its persistent metadata
        cls.lv.virsh("metadata", "g3", "--uri", METADATA_URI, "--key", "samepage", "--set",
                     "<balloon managed='no'/>", "--config")
        sptestbed.log("assets and libvirtd ready after %.1f s" % (time.monotonic() - began))

    @classmethod
    def redefine(cls, name, old, new):
        xml = cls.lv.virsh("dumpxml", "--inactive", name)
        changed = old.sub(new, xml) if hasattr(old, "sub") else xml.replace(old, new)
        assert changed != xml, "nothing to change in %s" % name
        path = os.path.join(cls.lv.state, "%s-redefined.xml" % name)
        with open(path, "w") as f:
            f.write(changed)
        cls.lv.virsh("define", path)

    def setUp(self):
        self.dir = sptest.make_temp_dir("sp-balloon-")
        self.addCleanup(sptest.remove_tree, self.dir)
        self.sysfs = os.path.join(self.dir, "sys")
        sptest.make_ksm_tree(self.sysfs, sptest.KSM_BOOT_FILES)
        self.meminfo = os.path.join(self.dir, "meminfo")
        self.set_available(NO_PRESSURE_KIB)
        self.config = os.path.join(self.dir, "samepaged.conf")
        with open(self.config, "w") as f:
            f.write(CONFIG)
        self.addCleanup(self.lv.destroy_running, start=False)
        self.daemons = []

    def set_available(self, kib):
        # in place: the bind mount keeps the inode
        with open(self.meminfo, "r+" if os.path.exists(self.meminfo) else "w") as f:
            f.seek(0)
            f.truncate()
            f.write(sptest.FIXED_MEMINFO.format(total=MEM_TOTAL_KIB, avail=kib))

    def start_samepaged(self, bus=None):
        binds = [(self.meminfo, "/proc/meminfo"), (self.lv.pid_dir(), "/run/libvirt")]
        daemon = sptestbed.NamespacedDaemon(
            ["--sysfs-root", self.sysfs, "--config", self.config, "--ksmtuned-config", "",
             "--state-dir", os.path.join(self.dir, "state"), "--connect", self.lv.uri, "-v"],
            binds, env=bus.env() if bus else None, log_dir=self.dir)
        self.addCleanup(daemon.stop)
        daemon.wait_log("Connected to libvirt at %s" % self.lv.uri, timeout=20)
        self.daemons.append(daemon)
        return daemon

    def actual(self, name):
        return dommemstat(self.lv, name)["actual"]

    def wait_actual(self, name, check, what, timeout, samples):
        def done():
            samples.append(self.actual(name))
            return check(samples[-1])
        try:
            return sptest.wait_for(done, timeout, 0.5, what)
        except AssertionError as e:
            raise AssertionError("%s; %s actual KiB seen: %s\nsamepaged:\n%s"
                                 % (e, name, samples[-20:], self.daemons[-1].output()[-4000:]))

    def live_period(self, name):
        m = re.search(r"<stats period='(\d+)'/>", self.lv.virsh("dumpxml", name))
        return int(m.group(1)) if m else 0

    def ksmctl(self, bus, *args, uid=None, expect=0):
        env = dict(os.environ)
        env.update(bus.env())
        prefix = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"] \
            if uid is not None else []
        r = subprocess.run(prefix + [sptest.KSMCTL] + list(args), stdin=subprocess.DEVNULL,
                           capture_output=True, env=env, text=True, timeout=60)
        self.assertEqual(r.returncode, expect, "ksmctl %s: %d\n%s%s\nsamepaged:\n%s"
                         % (" ".join(args), r.returncode, r.stdout, r.stderr,
                            self.daemons[-1].output()[-3000:]))
        return r.stdout + r.stderr

    def metadata(self, name, live=False):
        r = subprocess.run([sptestbed.VIRSH, "-c", self.lv.uri, "metadata", name, "--uri",
                            METADATA_URI, "--live" if live else "--config"],
                           capture_output=True, text=True, timeout=60)
        return r.stdout if r.returncode == 0 else ""

    def domain_json(self, bus, name):
        """g1 in ksmctl domains --json, {} before samepaged has seen it."""
        for d in json.loads(self.ksmctl(bus, "domains", "--json")):
            if d["name"] == name:
                return d
        return {}

    def test_balloon_settings_persist(self):
        """ksmctl balloon g1 min=... shares=...: in g1's XML metadata, live
        and persistent; survives a libvirtd restart and a samepaged restart;
        uid 65534 is denied; bad sizes are refused with the allowed range."""
        bus = sptest.SystemBus(self.dir)
        self.addCleanup(bus.stop)
        self.lv.start("g1")
        daemon = self.start_samepaged(bus)
        bus.wait_for_name("org.samepage1")
        sptest.wait_for(lambda: self.domain_json(bus, "g1").get("active"), 20, 0.3, "g1 running")

        out = self.ksmctl(bus, "balloon", "g1", "min=160M", "shares=300")
        self.assertIn("g1: balloon settings saved", out)
        daemon.wait_log("Balloon settings of domain g1: managed, min 160.0 MiB, shares 300, "
                        "asked by uid 0")
        for live in (False, True):
            meta = self.metadata("g1", live)
            self.assertIn("min-kib=\"163840\"", meta, meta)
            self.assertIn("shares=\"300\"", meta, meta)
        d = sptest.wait_for(lambda: (lambda d: d.get("balloon_min_kib") == 163840 and d)(
            self.domain_json(bus, "g1")), 20, 0.3, "g1's balloon_min_kib")
        self.assertEqual((d["balloon_shares"], d["balloon_managed"]), (300, True), d)

        # refused: a size above <memory>, nonsense, and anyone but root
        out = self.ksmctl(bus, "balloon", "g1", "min=1G", expect=1)
        self.assertIn("out of range (0..262144 KiB: 0 to 256.0 MiB", out)
        out = self.ksmctl(bus, "balloon", "g1", "min=lots", expect=2)
        self.assertIn("'lots' is not a size", out)
        self.ksmctl(bus, "balloon", "g1", "min=128M", uid=65534, expect=3)
        self.assertIn("min-kib=\"163840\"", self.metadata("g1"))

        # opt out, then both restarts: nothing lost
        self.ksmctl(bus, "balloon", "g1", "off")
        self.assertIn("managed=\"no\"", self.metadata("g1"))
        self.lv.restart()
        meta = self.metadata("g1")
        self.assertIn("min-kib=\"163840\"", meta, meta)
        self.assertIn("managed=\"no\"", meta, meta)
        self.assertEqual(daemon.stop(), 0, daemon.output()[-3000:])
        self.start_samepaged(bus)
        bus.wait_for_name("org.samepage1")
        d = sptest.wait_for(lambda: (lambda d: d.get("active") and d)(
            self.domain_json(bus, "g1")), 30, 0.3, "g1 seen again")
        self.assertEqual((d["balloon_min_kib"], d["balloon_shares"], d["balloon_managed"]),
                         (163840, 300, False), d)
        # back to managed, with the default floor, for the other test
        self.ksmctl(bus, "balloon", "g1", "on", "min=128M")
        self.assertIn("managed=\"yes\"", self.metadata("g1"))

    def test_shrink_under_pressure_and_grow_back(self):
        began = time.monotonic()
        for name in ("g1", "g2", "g3"):
            self.lv.start(name)
        for name in ("g1", "g2", "g3"):
            self.assertIn("balloon=yes" if name != "g2" else "balloon=", self.lv.wait_ready(name))
        g1_pid = self.lv.qemu_pid("g1")
        self.assertEqual(self.live_period("g1"), 0)
        sptestbed.log("guests ready after %.1f s" % (time.monotonic() - began))

        daemon = self.start_samepaged()
        # g1 is managed: its stats period is set; g3 opted out: not touched
        daemon.wait_log("Memory stats period of g1 set to 2 s", timeout=30)
        sptest.wait_for(lambda: self.live_period("g1") == 2, 10, 0.2, "g1's live stats period 2")
        self.assertEqual(self.live_period("g3"), 2)  # its own, from the testbed XML
        self.assertNotIn("period of g3", daemon.output())
        sptest.wait_for(lambda: "usable" in dommemstat(self.lv, "g1"), 20, 0.5, "g1's stats")
        time.sleep(3)  # a refresh with the guest's statistics
        rss_before = rss_kib(g1_pid)

        # pressure: g1 shrinks by >= 10 % within a few decisions
        self.set_available(PRESSURE_KIB)
        samples = []
        t0 = time.monotonic()
        self.wait_actual("g1", lambda kib: kib <= GUEST_KIB * 9 // 10, "g1 shrunk by 10 %",
                         120, samples)
        sptestbed.log("g1 shrunk by 10 %% in %.1f s: %s" % (time.monotonic() - t0, samples[-1]))
        daemon.wait_log("Balloon of g1: pressure: shrink to", timeout=5)
        # libvirtd restarts in the middle of it: samepaged reconnects and goes on
        self.lv.restart()
        daemon.wait_log("Connected to libvirt at %s" % self.lv.uri, timeout=30, count=2)
        self.assertEqual(self.lv.qemu_pid("g1"), g1_pid)
        # it goes on to the floor, never below it
        self.wait_actual("g1", lambda kib: kib <= FLOOR_KIB + GUEST_KIB // 20,
                         "g1 near its floor", 180, samples)
        for _ in range(10):
            samples.append(self.actual("g1"))
            time.sleep(0.5)
        self.assertGreaterEqual(min(samples), FLOOR_KIB - 1024, samples)
        sptestbed.log("g1 at %d KiB (floor %d), samples %s" % (samples[-1], FLOOR_KIB, samples))
        rss_after = rss_kib(g1_pid)
        sptestbed.log("g1's QEMU RSS %d -> %d KiB" % (rss_before, rss_after))
        self.assertLess(rss_after, rss_before)
        # alive: same QEMU, running, answers statistics
        self.assertEqual(self.lv.qemu_pid("g1"), g1_pid)
        self.assertIn("running", self.lv.virsh("domstate", "g1"))
        # never touched
        self.assertEqual(balloon_current(self.lv, "g2"), GUEST_KIB)
        self.assertEqual(self.actual("g3"), GUEST_KIB)
        self.assertNotIn("Balloon of g2", daemon.output())
        self.assertNotIn("Balloon of g3", daemon.output())

        # SIGTERM while shrunk: no balloon set on exit, the stats period put back
        shrunk = self.actual("g1")
        self.assertEqual(daemon.stop(), 0, daemon.output()[-3000:])
        self.assertIn("Memory stats period of g1 put back to 0", daemon.output())
        self.assertEqual(self.live_period("g1"), 0)
        time.sleep(3)
        self.assertLessEqual(abs(self.actual("g1") - shrunk), 1024)

        # pressure gone, samepaged again: g1 grows back to its <currentMemory>
        self.set_available(NO_PRESSURE_KIB)
        daemon = self.start_samepaged()
        samples = []
        t0 = time.monotonic()
        self.wait_actual("g1", lambda kib: kib == GUEST_KIB, "g1 grown back", 120, samples)
        sptestbed.log("g1 grew back in %.1f s: %s" % (time.monotonic() - t0, samples))
        daemon.wait_log("Balloon of g1: no pressure: grow to", timeout=5)
        self.assertEqual(self.lv.qemu_pid("g1"), g1_pid)
        self.assertEqual(balloon_current(self.lv, "g2"), GUEST_KIB)
        self.assertEqual(self.actual("g3"), GUEST_KIB)
        self.assertIsNone(daemon.proc.poll(), "samepaged exited")


if __name__ == "__main__":
    sptest.run_tap()
