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
  metadata (virsh metadata, persistent): never touched; their balloons stay
  where they are.
- g4's guest kernel refuses the virtio_balloon module (the domain still has
  <memballoon model='virtio'><stats period='2'/>): no guest statistics.
  Under pressure, over several decisions, samepaged never moves its balloon
  and says why on D-Bus (BalloonState "hold", BalloonReason "never shrunk:
  no guest statistics") and in ksmctl domains --json; g2 and g3 show their
  reasons there too.
- g5 (no stats period of its own, samepage metadata shares/managed) is
  shrunk to a floor, libvirtd is frozen, a SIGHUP lowers the floor so that
  samepaged decides a new shrink whose virDomainSetMemoryFlags waits on the
  frozen libvirtd, then SIGTERM: samepaged exits (its restore of each part
  is waited for at most 10 s), saying what it could not put back; once libvirtd is thawed g5
  runs on, its XML and metadata are as they were, the balloon never went
  below the decided target, and a samepaged started again puts back the
  stats period the first one set.
- libvirtd restarting in the middle of a shrink: see g1 above.

The host's memory is a file bound over /proc/meminfo in samepaged's private
mount namespace, rewritten in place to move the pressure. The real KSM
knobs are never written (--sysfs-root). Everything is stopped by PID. No
assertion is on speed: the waits are generous and say what they waited for.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

import sptest  # noqa: E402
import sptestbed  # noqa: E402

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
max_step_percent={step}
critical_step_percent={critical_step}
min_percent={min_percent}
"""
# g5's first floor: 75 % of 256 MiB is 192 MiB, a whole number of 4 KiB
# pages, reached in one step of 25 %
G5_FLOOR_KIB = GUEST_KIB * 3 // 4
G5_STEP_KIB = GUEST_KIB // 10  # then steps of 10 % of <memory> (26214 KiB)
G5_TARGET_KIB = G5_FLOOR_KIB - G5_STEP_KIB
G5_METADATA = "<balloon managed='yes' shares='300'/>"
# samepaged's exit when libvirtd answers nothing: SIGTERM's D-Bus drain (at
# most 10 s, nothing to drain here), then each actuator's restore is waited
# for at most SP_TUNER_RESTORE_TIMEOUT_S (10 s). Not a speed target: a bound
# that tells "bounded" from "hangs until systemd kills it" (90 s).
EXIT_BOUND_S = 80
DECISIONS = 5  # "several decisions"


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


def backtraces(pid):
    """Where each thread of a hung process is, for the failure message."""
    if not shutil.which("gdb"):
        return "(no gdb to tell)"
    r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    return "\n".join(line for line in r.stdout.splitlines() if line.startswith(("#", "Thread")))


def config_text(min_percent=50, step=10, critical_step=20):
    return CONFIG.format(min_percent=min_percent, step=step, critical_step=critical_step)


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
        for name in ("g1", "g2", "g3", "g5"):
            cls.lv.define_guest(name, memory_mib=GUEST_MIB, fill_mib=0)
        # g4: a virtio memballoon with a stats period, no driver in the guest
        cls.lv.define_guest("g4", memory_mib=GUEST_MIB, fill_mib=0, balloon_driver=False)
        # g1, g5: no stats period (samepaged sets it); g2: no balloon device
        cls.redefine("g1", "<stats period='2'/>", "")
        cls.redefine("g5", "<stats period='2'/>", "")
        cls.redefine("g2", re.compile(r"<memballoon model='virtio'>.*?</memballoon>", re.S),
                     "<memballoon model='none'/>")
        # g3 opts out, in its persistent metadata; g5 has settings of its own
        cls.lv.virsh("metadata", "g3", "--uri", METADATA_URI, "--key", "samepage", "--set",
                     "<balloon managed='no'/>", "--config")
        cls.lv.virsh("metadata", "g5", "--uri", METADATA_URI, "--key", "samepage", "--set",
                     G5_METADATA, "--config")
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
        self.write_config()
        self.addCleanup(self.lv.destroy_running, start=False)
        self.daemons = []
        self.conn = None

    def write_config(self, **keys):
        sptest.replace_file(self.config, config_text(**keys))

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

    # -- D-Bus: org.samepage1.Domain and Manager properties --

    def connect(self, bus):
        self.conn = sptest.bus_connect(bus.address)
        self.addCleanup(self.conn.close_sync, None)

    def domain_props(self, name):
        """name's org.samepage1.Domain properties ({} while there is none)."""
        r = self.conn.call_sync(sptest.NAME, sptest.PATH, sptest.OBJECT_MANAGER,
                                "GetManagedObjects", None, None, Gio.DBusCallFlags.NONE,
                                30000, None)
        for interfaces in r.unpack()[0].values():
            props = interfaces.get(sptest.DOMAIN)
            if props and props.get("Name") == name:
                return props
        return {}

    def manager_prop(self, prop):
        r = self.conn.call_sync(sptest.NAME, sptest.PATH, sptest.PROPERTIES, "Get",
                                GLib.Variant("(ss)", (sptest.MANAGER, prop)), None,
                                Gio.DBusCallFlags.NONE, 30000, None)
        return r.unpack()[0]

    def wait_props(self, name, what, check, timeout):
        """Waits until check(name's Domain properties); returns them."""
        seen = []

        def done():
            props = self.domain_props(name)
            state = (props.get("BalloonState"), props.get("BalloonReason"))
            if not seen or seen[-1] != state:
                seen.append(state)
            return check(props) and props
        try:
            return sptest.wait_for(done, timeout, 0.5, "%s: %s" % (name, what))
        except AssertionError as e:
            raise AssertionError("%s; %s's (BalloonState, BalloonReason) seen: %s\n"
                                 "samepaged:\n%s" % (e, name, seen,
                                                     self.daemons[-1].output()[-4000:]))

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
        # SetBalloon replied once the Domain object showed the change: read at once
        d = self.domain_json(bus, "g1")
        self.assertEqual((d["balloon_min_kib"], d["balloon_shares"], d["balloon_managed"]),
                         (163840, 300, True), d)

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
        self.assertFalse(self.domain_json(bus, "g1")["balloon_managed"])
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

    def test_no_stats_guest_never_touched_reasons_shown(self):
        """g4 (virtio memballoon, stats period 2, no driver in the guest):
        under pressure, over several decisions, never touched, and why is on
        D-Bus and in ksmctl domains --json; so are g2's and g3's reasons."""
        for name in ("g2", "g3", "g4"):
            self.lv.start(name)
        ready = self.lv.wait_ready("g4")
        self.assertIn("balloon=no", ready, "g4's kernel loaded virtio_balloon:\n%s"
                      % self.lv.serial("g4")[-2000:])
        self.assertIn("cannot load virtio_balloon", self.lv.serial("g4"))
        stats = dommemstat(self.lv, "g4")
        self.assertEqual(stats.get("actual"), GUEST_KIB, stats)
        self.assertNotIn("usable", stats)  # no statistics from the guest
        self.assertEqual(self.live_period("g4"), 2)

        bus = sptest.SystemBus(self.dir)
        self.addCleanup(bus.stop)
        self.set_available(PRESSURE_KIB)
        daemon = self.start_samepaged(bus)
        bus.wait_for_name(sptest.NAME)
        self.connect(bus)
        props = self.wait_props("g4", "held for want of statistics", lambda p: (
            p.get("BalloonState") == "hold"
            and "no guest statistics" in p.get("BalloonReason", "")), 60)
        sptestbed.log("g4: %s, %r" % (props["BalloonState"], props["BalloonReason"]))
        self.assertTrue(self.manager_prop("BalloonPressure"))

        # several decisions under pressure (the managed g4's statistics are
        # read again every stats period, each read retunes): still held
        decisions = set()
        samples = []
        states = set()

        def decided():
            decisions.add(self.manager_prop("LastDecisionTime"))
            samples.append(self.actual("g4"))
            p = self.domain_props("g4")
            states.add((p.get("BalloonState"), p.get("BalloonReason"), p.get("BalloonTargetKiB"),
                        p.get("CurrentKiB"), p.get("GuestAvailableKiB")))
            return len(decisions) > DECISIONS
        try:
            sptest.wait_for(decided, 120, 1.0, "%d decisions under pressure" % DECISIONS)
        except AssertionError as e:
            raise AssertionError("%s: LastDecisionTime seen %s\nsamepaged:\n%s"
                                 % (e, sorted(decisions), daemon.output()[-4000:]))
        sptestbed.log("g4 over %d decisions: actual %s, %s" % (len(decisions), set(samples),
                                                               states))
        self.assertEqual(set(samples), {GUEST_KIB}, "g4's balloon moved")
        self.assertEqual(states, {("hold", "never shrunk: no guest statistics", GUEST_KIB,
                                   GUEST_KIB, 0)}, "g4 over %d decisions" % len(decisions))
        self.assertTrue(props["BalloonManaged"])
        self.assertEqual(props["BalloonModel"], "virtio")
        self.assertEqual(props["StatsPeriod"], 2)
        log = daemon.output()
        self.assertNotIn("Balloon of g4", log)  # no target was ever set
        self.assertNotIn("period of g4", log)  # it has its own period

        # the two guests samepaged does not manage, and why
        g2 = self.wait_props("g2", "its reason", lambda p: p.get("BalloonState") == "none", 30)
        self.assertEqual(g2["BalloonReason"], "memballoon model 'none'", g2)
        g3 = self.wait_props("g3", "its reason", lambda p: p.get("BalloonState") == "none", 30)
        self.assertEqual(g3["BalloonReason"], "opted out", g3)
        for name, state, reason in (("g2", "none", "memballoon model 'none'"),
                                    ("g3", "none", "opted out"),
                                    ("g4", "hold", "never shrunk: no guest statistics")):
            d = self.domain_json(bus, name)
            self.assertEqual((d.get("balloon_state"), d.get("balloon_reason")), (state, reason),
                             d)
        self.assertEqual(balloon_current(self.lv, "g2"), GUEST_KIB)
        self.assertEqual(self.actual("g3"), GUEST_KIB)
        self.assertEqual(self.actual("g4"), GUEST_KIB)
        self.assertIsNone(daemon.proc.poll(), "samepaged exited")

    def test_sigterm_during_balloon_change(self):
        """SIGTERM while a shrink of g5 waits on a frozen libvirtd: a bounded
        exit that says what it could not put back, and nothing lost."""
        self.lv.start("g5")
        self.assertIn("balloon=yes", self.lv.wait_ready("g5"))
        g5_pid = self.lv.qemu_pid("g5")
        inactive_before = self.lv.virsh("dumpxml", "--inactive", "g5")
        self.assertEqual(self.live_period("g5"), 0)
        self.assertIn("shares=\"300\"", self.metadata("g5"))

        # under pressure, g5 shrinks to its first floor (75 %) in one step
        bus = sptest.SystemBus(self.dir)
        self.addCleanup(bus.stop)
        self.write_config(min_percent=75, step=25, critical_step=25)
        daemon = self.start_samepaged(bus)
        bus.wait_for_name(sptest.NAME)
        self.connect(bus)
        daemon.wait_log("Memory stats period of g5 set to 2 s", timeout=60)
        sptest.wait_for(lambda: "usable" in dommemstat(self.lv, "g5"), 60, 0.5, "g5's stats")
        metadata_before = (self.metadata("g5"), self.metadata("g5", live=True))
        self.set_available(PRESSURE_KIB)
        samples = []
        self.wait_actual("g5", lambda kib: kib <= G5_FLOOR_KIB + 1024, "g5 at 192 MiB", 180,
                         samples)
        # held there, with statistics fresh enough to decide on for a while
        # (stale after 3 periods, 6 s): a starved guest sends them late
        self.wait_props("g5", "held at its floor, statistics under 2 s old", lambda p: (
            p.get("BalloonState") == "hold"
            and p.get("BalloonReason", "").startswith("at its floor")
            and time.time() - p.get("GuestStatsUpdated", 0) <= 2), 120)

        # libvirtd frozen, then a lower floor (SIGHUP): samepaged decides a
        # shrink at once, from the statistics it has; its
        # virDomainSetMemoryFlags waits on libvirtd
        mark = len(daemon.output())
        self.lv.freeze()
        try:
            self.write_config(min_percent=50, step=10, critical_step=20)
            daemon.signal(signal.SIGHUP)
            # (stale statistics would hold it: "never shrunk: guest statistics stale")
            daemon.wait_log_from(mark, "Balloon of g5: pressure: shrink to 166.4 MiB", 30, 0.2)
            props = self.wait_props("g5", "shrinking", lambda p: (
                p.get("BalloonState") == "shrink"), 30)
            self.assertEqual(props["BalloonTargetKiB"], G5_TARGET_KIB, props)
            ksm = os.path.join(self.sysfs, "kernel", "mm", "ksm")
            self.assertEqual(sptest.read_knob(ksm, "run"), "1")  # the pressure runs KSM too
            daemon.signal(signal.SIGTERM)
            signalled = time.monotonic()
            try:
                code = daemon.proc.wait(EXIT_BOUND_S)
            except subprocess.TimeoutExpired:
                raise AssertionError("samepaged still runs %d s after SIGTERM with libvirtd "
                                     "frozen:\n%s\nits threads:\n%s"
                                     % (EXIT_BOUND_S, daemon.output()[-4000:],
                                        backtraces(daemon.pid)))
            exited = time.monotonic() - signalled
        finally:
            self.lv.thaw()
        out = daemon.output()
        sptestbed.log("samepaged exited %.1f s after SIGTERM, libvirtd frozen; its last "
                      "lines:\n%s" % (exited, "\n".join(out[mark:].splitlines()[-12:])))
        self.assertEqual(code, 0, out[-4000:])
        self.assertIn("Terminating", out[mark:])
        for bad in ("CRITICAL", "AddressSanitizer", "runtime error", "free(): "):
            self.assertNotIn(bad, out)
        # the KSM knobs are put back all the same
        self.assertEqual({k: sptest.read_knob(ksm, k) for k in ("run", "pages_to_scan")},
                         {"run": "0", "pages_to_scan": "100"}, out[-3000:])
        # it says what it could not put back
        self.assertIn("Could not put back everything samepaged changed: The balloon actuator "
                      "did not finish putting back what it changed within 10 s", out[mark:])

        # libvirtd thawed: g5 runs on in the same QEMU, nothing of its
        # definition or samepage metadata is lost, and its balloon never went
        # below the target samepaged had decided (libvirtd may still apply
        # the call it had received)
        sptest.wait_for(lambda: "running" in self.lv.virsh("domstate", "g5"), 60, 0.5,
                        "g5 running after the thaw")
        self.assertEqual(self.lv.qemu_pid("g5"), g5_pid)
        self.assertEqual(self.lv.virsh("dumpxml", "--inactive", "g5"), inactive_before)
        self.assertEqual((self.metadata("g5"), self.metadata("g5", live=True)), metadata_before)
        samples = []
        for _ in range(6):
            samples.append(self.actual("g5"))
            time.sleep(0.5)
        sptestbed.log("g5 after the thaw: actual %s KiB, live stats period %d"
                      % (samples, self.live_period("g5")))
        self.assertGreaterEqual(min(samples), G5_TARGET_KIB - 1024, samples)

        # the stats period it set is put back: on its way out, or (libvirtd
        # did not answer then) by the next samepaged from what the state dir
        # remembers; the pressure gone, that samepaged also gives g5 back its
        # memory
        self.set_available(NO_PRESSURE_KIB)
        self.write_config()
        daemon = self.start_samepaged(bus)
        bus.wait_for_name(sptest.NAME)
        samples = []
        self.wait_actual("g5", lambda kib: kib == GUEST_KIB, "g5 grown back", 180, samples)
        self.assertEqual(self.lv.qemu_pid("g5"), g5_pid)
        self.assertEqual(daemon.stop(), 0, daemon.output()[-3000:])
        self.assertEqual(self.live_period("g5"), 0, "the stats period samepaged set on g5 was "
                         "never put back:\n%s" % daemon.output()[-3000:])
        self.assertEqual(self.lv.virsh("dumpxml", "--inactive", "g5"), inactive_before)


if __name__ == "__main__":
    sptest.run_tap()
