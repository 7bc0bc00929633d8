#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""samepaged's D-Bus API (data/org.samepage1.Manager.xml) on a private bus
set up like the system bus (default-deny policy plus data/org.samepage1.conf),
with the real polkitd and samepaged on temporary sysfs/procfs trees and the
libvirt test driver: properties against the daemon's state, domain objects,
every setter as root and as nobody, bad arguments, batching of
PropertiesChanged, Tuned, persistence of runtime changes, and what happens
without polkit, without a bus, or when the bus name is lost.

Every process is stopped by its PID and the polkit action file is removed
again if this test put it in place."""
import configparser
import os
import shutil
import signal
import subprocess
import threading
import time
import unittest
import xml.etree.ElementTree as ET

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

import sptest  # noqa: E402
from sptest import (API_XML, DOMAIN, MANAGER, NAME, NODE_COMMITTED_KIB, NODE_XML,  # noqa: E402
                    OBJECT_MANAGER, PATH, POLICY, PROPERTIES)

ERROR = "org.samepage1.Error."

MEM_TOTAL_KIB = 16 * 1024 * 1024
MEM_AVAILABLE_KIB = 12 * 1024 * 1024
MEMINFO = """MemTotal:       {total} kB
MemFree:         {free} kB
MemAvailable:    {available} kB
Buffers:           10240 kB
Cached:          {cached} kB
"""

# 6.18 files; the counters are not zero so that they can be told apart
KSM_FILES = sptest.KSM_SAMPLE_FILES
# what samepaged does not read
KSM_FILES_UNREAD = {"stable_node_chains_prune_millisecs"}

DEFAULT_TUNING = {
    "monitor_interval": 3600, "resync_interval": 600, "npages_boost": 300, "npages_decay": -50, "npages_min": 64,
    "npages_max": 1250, "sleep_msec": 10, "thres_coef": 20, "thres_const": 2048,
    "hysteresis": 10, "advisor_max_cpu_min": 10, "advisor_max_cpu_max": 70,
    "advisor_scan_time_min": 30, "advisor_scan_time_max": 200, "scan_rate": "auto",
    "free_source": "available", "pressure_trigger": "some 150000 1000000",
    "merge_across_nodes": -1, "use_zero_pages": -1, "profit_guard": "on",
    "profit_guard_unmerge": "false", "profit_min_scans": 2, "profit_min_kib_per_cpu_second": 1024,
    "profit_retry_interval": 1800, "profit_retry_committed_change": 20, "balloon": "off",
    "balloon_threshold": 20, "balloon_critical": 5,
    "guest_free_percent": 20, "max_step_percent": 5, "critical_step_percent": 10,
    "min_percent": 50, "shares": 1000, "stats_period": 5, "target_timeout": 60,
}

# node.xml: name -> (uuid, active, current KiB, maximum KiB, mergeable, reason)
NODE_DOMAINS = {
    "plain": ("11111111-1111-4111-8111-111111111111", True, 524288, 1048576, True, ""),
    "small": ("22222222-2222-4222-8222-222222222222", True, 262144, 262144, True, ""),
    "noshare": ("33333333-3333-4333-8333-333333333333", True, 1048576, 1048576, False,
                "nosharepages"),
    "huge": ("44444444-4444-4444-8444-444444444444", True, 2097152, 2097152, False,
             "hugepages"),
    "shared": ("55555555-5555-4555-8555-555555555555", True, 1048576, 1048576, False, None),
    "off": ("66666666-6666-4666-8666-666666666666", False, 2097152, 2097152, True, ""),
}


def domain_path(uuid):
    return "/org/samepage1/domain/" + uuid.replace("-", "_")


def api_interface(name):
    """The interface as the API XML declares it, in comparable form."""
    for iface in ET.parse(API_XML).getroot().iter("interface"):
        if iface.get("name") == name:
            return describe_interface(iface)
    raise AssertionError("%s not in %s" % (name, API_XML))


def describe_interface(iface):
    def args(element):
        return [(a.get("name"), a.get("type"), a.get("direction", "in" if element.tag == "method"
                                                              else None))
                for a in element.findall("arg")]
    return {
        "properties": {p.get("name"): (p.get("type"), p.get("access"))
                       for p in iface.findall("property")},
        "methods": {m.get("name"): args(m) for m in iface.findall("method")},
        "signals": {s.get("name"): args(s) for s in iface.findall("signal")},
    }


def remote_error(error):
    return Gio.DBusError.get_remote_error(error)


class Client:
    """A root client on the private bus that records every signal."""

    def __init__(self, address):
        self.conn = sptest.bus_connect(address)
        self.unique_name = self.conn.get_unique_name()
        self.signals = []
        self.subscription = self.conn.signal_subscribe(
            None, None, None, None, None, Gio.DBusSignalFlags.NONE, self._on_signal)

    def _on_signal(self, conn, sender, path, interface, name, parameters):
        self.signals.append((path, interface, name, parameters.unpack()))

    def close(self):
        self.conn.signal_unsubscribe(self.subscription)
        if not self.conn.is_closed():
            self.conn.close_sync(None)

    def pump(self, seconds=0.0):
        """Delivers the signals that arrived (and those within seconds)."""
        context = GLib.MainContext.default()
        deadline = time.monotonic() + seconds
        while True:
            while context.iteration(False):
                pass
            if time.monotonic() >= deadline:
                return
            time.sleep(0.01)

    def wait_signal(self, predicate, timeout=10.0, what="signal"):
        def found():
            self.pump()
            return [s for s in self.signals if predicate(s)]
        return sptest.wait_for(found, timeout, what=what)

    def call(self, method, signature=None, args=None, path=PATH, interface=MANAGER):
        parameters = GLib.Variant(signature, args) if signature else None
        result = self.conn.call_sync(NAME, path, interface, method, parameters, None,
                                     Gio.DBusCallFlags.NONE, 30000, None)
        return result.unpack() if result is not None else None

    def get(self, name, interface=MANAGER, path=PATH):
        return self.call("Get", "(ss)", (interface, name), path=path, interface=PROPERTIES)[0]

    def get_all(self, interface=MANAGER, path=PATH):
        return self.call("GetAll", "(s)", (interface,), path=path, interface=PROPERTIES)[0]

    def managed_objects(self):
        return self.call("GetManagedObjects", interface=OBJECT_MANAGER)[0]

    def introspect(self, path=PATH):
        return self.call("Introspect", path=path,
                         interface="org.freedesktop.DBus.Introspectable")[0]


def tuning(**changes):
    """A{sv} SetTuning arguments: ints as int32, strs as strings, or Variants."""
    def variant(value):
        if isinstance(value, GLib.Variant):
            return value
        if isinstance(value, str):
            return GLib.Variant("s", value)
        return GLib.Variant("i", value)
    return {key: variant(value) for key, value in changes.items()}


class DBusTestCase(unittest.TestCase):
    """Private system bus + polkitd (unless with_polkitd is False) + samepaged."""

    with_polkitd = True
    config = "[daemon]\nmonitor_interval=3600\n"
    extra_args = []

    def setUp(self):
        self.dir = sptest.make_temp_dir("sp-dbus-")
        self.addCleanup(sptest.remove_tree, self.dir)
        self.sysfs = os.path.join(self.dir, "sys")
        self.procfs = os.path.join(self.dir, "proc")
        self.state_dir = os.path.join(self.dir, "state")
        self.overrides = os.path.join(self.state_dir, "overrides.conf")
        self.config_path = os.path.join(self.dir, "samepaged.conf")
        self.ksm = sptest.make_ksm_tree(self.sysfs, KSM_FILES)
        os.makedirs(self.procfs)
        self.set_available(MEM_AVAILABLE_KIB)
        self.write_config(self.config)

        self.bus = sptest.SystemBus(self.dir)
        self.addCleanup(self.bus.stop)
        self.env = dict(os.environ)
        self.env.update(self.bus.env())
        if self.with_polkitd:
            action_file = sptest.PlacedFile(
                POLICY, os.path.join(sptest.POLKIT_ACTIONS_DIR, "org.samepage1.policy"))
            self.addCleanup(action_file.restore)
            self.polkitd = sptest.Polkitd(self.bus, self.dir)
            self.addCleanup(self.polkitd.stop)
        self.client = Client(self.bus.address)
        self.addCleanup(self.client.close)
        self.started_us = int(time.time() * 1e6)
        self.daemon = self.start_daemon()

    # -- the trees and files --------------------------------------------

    def write_knob(self, name, value):
        sptest.write_knob(self.ksm, name, value)

    def knob(self, name):
        return sptest.read_knob(self.ksm, name)

    def knobs(self):
        return {name: self.knob(name) for name in KSM_FILES}

    def set_available(self, kib):
        sptest.replace_file(os.path.join(self.procfs, "meminfo"),
                            MEMINFO.format(total=MEM_TOTAL_KIB, free=kib // 2, available=kib,
                                           cached=kib // 2))

    def write_config(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)

    def read_overrides(self):
        parser = configparser.ConfigParser()
        self.assertEqual(parser.read(self.overrides), [self.overrides])
        return {(group, key): value for group in parser.sections()
                for key, value in parser[group].items()}

    # -- samepaged --------------------------------------------------------

    def connect_uri(self):
        return "test://" + NODE_XML

    def is_ready(self):
        return self.client.get("CommittedKiB") == NODE_COMMITTED_KIB

    def start_daemon(self, wait=True, env=None, prefix=None):
        daemon = sptest.Daemon(["--sysfs-root", self.sysfs, "--procfs-root", self.procfs,
                                "--config", self.config_path, "--ksmtuned-config", "",
                                "--state-dir", self.state_dir, "--connect", self.connect_uri(),
                                "-v"] + self.extra_args,
                               env=env if env is not None else self.bus.env(),
                               log_dir=self.dir, prefix=prefix)
        self.addCleanup(daemon.stop)
        if wait:
            def ready():
                if daemon.proc.poll() is not None:
                    raise AssertionError("samepaged exited:\n" + daemon.output())
                try:
                    return self.is_ready()
                except GLib.Error:
                    return False
            sptest.wait_for(ready, 20, what="samepaged on the bus with its guests")
        return daemon

    def restart_daemon(self):
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon = self.start_daemon()

    def settle(self):
        """Delivers pending signals, then forgets them."""
        self.client.pump(0.3)
        self.client.signals.clear()

    # -- calls --------------------------------------------------------------

    def set_tuning(self, **changes):
        return self.client.call("SetTuning", "(a{sv})", (tuning(**changes),))

    def assert_dbus_error(self, name, method, signature=None, args=None):
        with self.assertRaises(GLib.Error) as raised:
            self.client.call(method, signature, args)
        self.assertEqual(remote_error(raised.exception), name, raised.exception.message)
        return raised.exception.message

    def gdbus_as_nobody(self, *args):
        return subprocess.run(sptest.AS_NOBODY + ["gdbus", "call", "--system", "--dest", NAME,
                                                  "--object-path", PATH, "--method"] + list(args),
                              env=self.env, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    def state(self):
        """Everything a setter could change."""
        return (self.client.get_all(), self.knobs(), os.path.exists(self.overrides))


class ApiTest(DBusTestCase):
    def test_manager_properties_are_the_daemon_state(self):
        props = self.client.get_all()
        self.assertEqual(set(props), set(api_interface(MANAGER)["properties"]))
        # Get answers like GetAll
        for name, value in props.items():
            self.assertEqual(self.client.get(name), value, name)

        version = subprocess.run([sptest.SAMEPAGED, "--version"], capture_output=True,
                                 text=True, check=True).stdout.split()[1]
        tree = self.knobs()
        self.assertEqual(props["Version"], version)
        self.assertEqual(props["ApiVersion"], 1)
        self.assertEqual(props["Mode"], "auto")
        self.assertFalse(props["DryRun"])
        self.assertTrue(props["KsmAvailable"])
        self.assertEqual(props["Run"], int(tree["run"]))
        self.assertEqual(props["PagesToScan"], int(tree["pages_to_scan"]))
        self.assertEqual(props["SleepMillisecs"], int(tree["sleep_millisecs"]))
        self.assertEqual(props["PagesShared"], 50)
        self.assertEqual(props["PagesSharing"], 300)
        self.assertEqual(props["GeneralProfit"], 123456)
        # pages_sharing 300 and ksm_zero_pages 5 are both saved
        page = os.sysconf("SC_PAGE_SIZE")
        self.assertEqual(props["SavedKiB"], (300 + 5) * page // 1024)
        self.assertEqual(props["KsmZeroPages"], 5)
        # rmap items from general_profit = saved x page size - rmap items x 64
        self.assertAlmostEqual(props["ProfitRatio"], (305 * page - 123456) / 64 / 305)
        # the fake procfs has no ksmd thread, and no full scan was timed
        self.assertEqual(props["KsmdCpuPercent"], -1)
        self.assertEqual(props["FullScanSeconds"], -1)
        self.assertEqual(props["SavedKiBPerCpuSecond"], -1)
        self.assertEqual(props["AdvisorMode"], "none")
        expected_files = {name: 0 if name == "advisor_mode" else int(value)
                          for name, value in tree.items() if name not in KSM_FILES_UNREAD}
        self.assertEqual(props["KsmFiles"], expected_files)
        self.assertEqual(props["MemTotalKiB"], MEM_TOTAL_KIB)
        self.assertEqual(props["MemAvailableKiB"], MEM_AVAILABLE_KIB)
        self.assertEqual(props["FreeKiB"], MEM_AVAILABLE_KIB)
        self.assertEqual(props["CommittedKiB"], NODE_COMMITTED_KIB)
        self.assertEqual(props["ThresholdKiB"], MEM_TOTAL_KIB * 20 // 100)
        self.assertEqual(props["LibvirtUri"], self.connect_uri())
        self.assertTrue(props["LibvirtConnected"])
        self.assertEqual(props["LibvirtStatus"], "connected")
        self.assertEqual(props["DomainsActive"], 5)
        self.assertEqual(props["LastAction"], "stop")
        self.assertTrue(props["LastReason"].startswith("stop: committed 768.0 MiB"),
                        props["LastReason"])
        self.assertIn(props["LastReason"], self.daemon.output())
        self.assertGreaterEqual(props["LastDecisionTime"], self.started_us)
        self.assertLessEqual(props["LastDecisionTime"], time.time() * 1e6)
        self.assertEqual(props["Tuning"], DEFAULT_TUNING)
        # the fake procfs has no pressure/memory: no PSI trigger, no event
        self.assertEqual(props["PressureTrigger"], "")
        self.assertEqual(props["PressureLastTrigger"], "")

    def test_introspection_is_the_api_xml(self):
        node = ET.fromstring(self.client.introspect())
        interfaces = {i.get("name"): i for i in node.findall("interface")}
        self.assertEqual(describe_interface(interfaces[MANAGER]), api_interface(MANAGER))
        self.assertIn(OBJECT_MANAGER, interfaces)
        self.assertIn("domain", [n.get("name") for n in node.findall("node")])
        domain = ET.fromstring(self.client.introspect(domain_path(NODE_DOMAINS["plain"][0])))
        self.assertEqual([describe_interface(i) for i in domain.findall("interface")
                          if i.get("name") == DOMAIN], [api_interface(DOMAIN)])

    def test_domain_objects(self):
        objects = self.client.managed_objects()
        self.assertEqual(set(objects), {domain_path(d[0]) for d in NODE_DOMAINS.values()})
        domain_properties = set(api_interface(DOMAIN)["properties"])
        for name, (uuid, active, current, maximum, mergeable, reason) in NODE_DOMAINS.items():
            path = domain_path(uuid)
            self.assertEqual(list(objects[path]), [DOMAIN], path)
            props = objects[path][DOMAIN]
            self.assertEqual(set(props), domain_properties)
            self.assertEqual(self.client.get_all(DOMAIN, path), props)
            self.assertEqual(props["Name"], name)
            self.assertEqual(props["Uuid"], uuid)
            self.assertEqual(props["Active"], active, name)
            self.assertTrue(props["Persistent"])
            self.assertEqual(props["CurrentKiB"], current, name)
            self.assertEqual(props["MaximumKiB"], maximum, name)
            self.assertEqual(props["Mergeable"], mergeable, name)
            if reason is not None:
                self.assertEqual(props["UnmergeableReason"], reason, name)
            self.assertEqual(props["UnmergeableReason"] == "", mergeable, name)
            self.assertEqual(props["MemMerge"], name != "noshare", name)
            self.assertFalse(props["PendingRestart"])
            self.assertEqual(props["KsmMergeable"], "unknown")
        self.assertEqual(self.client.get("MemMerge", DOMAIN,
                                         domain_path(NODE_DOMAINS["noshare"][0])), False)

    def test_set_tuning_as_root(self):
        self.assertEqual(self.knob("run"), "0")
        self.set_tuning(thres_coef=100, scan_rate="classic",
                        npages_max=GLib.Variant("u", 2000),
                        npages_min=GLib.Variant("t", 100))
        expected = dict(DEFAULT_TUNING, thres_coef=100, scan_rate="classic", npages_max=2000,
                        npages_min=100)
        self.assertEqual(self.client.get("Tuning"), expected)
        # the retune that followed: threshold = MemTotal, so KSM runs and boosts
        self.assertEqual(self.knob("run"), "1")
        self.assertEqual(self.knob("pages_to_scan"), "400")
        self.assertEqual(self.client.get("Run"), 1)
        self.assertEqual(self.client.get("PagesToScan"), 400)
        self.assertEqual(self.client.get("ThresholdKiB"), MEM_TOTAL_KIB)
        self.assertEqual(self.client.get("LastAction"), "run")
        # kept, in samepaged.conf syntax
        self.assertEqual(self.read_overrides(), {
            ("tuning", "thres_coef"): "100", ("tuning", "scan_rate"): "classic",
            ("tuning", "npages_max"): "2000", ("tuning", "npages_min"): "100"})
        # logged with who asked
        self.daemon.wait_log("by uid 0 (%s)" % self.client.unique_name)
        self.assertIn("SetTuning", self.daemon.output())

    def test_set_mode_as_root(self):
        self.client.call("SetMode", "(s)", ("always",))
        self.assertEqual(self.client.get("Mode"), "always")
        self.assertEqual(self.knob("run"), "1")
        self.client.call("SetMode", "(s)", ("never",))
        self.assertEqual(self.client.get("Mode"), "never")
        self.assertEqual(self.knob("run"), "0")
        self.assertEqual(self.client.get("Run"), 0)
        self.assertEqual(self.client.get("LastReason"), "stop: mode is never")
        self.assertEqual(self.read_overrides(), {("daemon", "mode"): "never"})

    def test_retune_decides_before_replying_and_emits_tuned(self):
        self.settle()
        before = self.client.get("LastDecisionTime")
        # memory pressure appears: nothing notices before the next tick...
        self.set_available(1024 * 1024)
        self.client.pump(0.3)
        self.assertEqual(self.knob("run"), "0")
        # ...but Retune decides with fresh inputs before it replies
        self.client.call("Retune")
        self.assertEqual(self.knob("run"), "1")
        props = self.client.get_all()
        self.assertGreater(props["LastDecisionTime"], before)
        self.assertEqual(props["LastAction"], "run")
        self.assertEqual(props["MemAvailableKiB"], 1024 * 1024)
        tuned = self.client.wait_signal(lambda s: s[2] == "Tuned", what="Tuned")
        # the first is Retune's own decision, emitted before its reply; the
        # resync of the domain list Retune asks for refreshes at once and
        # may decide once more when it lands (the properties are then its)
        path, interface, _, args = tuned[0]
        self.assertEqual((path, interface), (PATH, MANAGER))
        self.assertEqual(args[0], "run")
        self.assertGreater(args[2], before)
        self.assertLessEqual(args[2], props["LastDecisionTime"])
        if args[2] == props["LastDecisionTime"]:
            self.assertEqual(args, (props["LastAction"], props["LastReason"],
                                    props["LastDecisionTime"]))
        self.client.pump(0.5)
        self.assertLessEqual(len([s for s in self.client.signals
                                  if s[2] == "Tuned" and s[3][2] > before]), 2)

    def test_properties_changed_once_per_change(self):
        self.settle()
        self.set_tuning(thres_coef=100, scan_rate="classic")
        self.client.pump(1.0)
        changes = [s for s in self.client.signals
                   if s[2] == "PropertiesChanged" and s[0] == PATH]
        self.assertEqual(len(changes), 1, changes)
        interface, changed, invalidated = changes[0][3]
        self.assertEqual(interface, MANAGER)
        self.assertEqual(invalidated, [])
        self.assertLessEqual({"Tuning", "ThresholdKiB", "Run", "PagesToScan", "LastAction",
                              "LastReason", "LastDecisionTime"}, set(changed))
        self.assertNotIn("Version", changed)
        for name, value in changed.items():
            self.assertEqual(self.client.get(name), value, name)

    def test_setters_denied_for_nobody(self):
        self.settle()
        before = self.state()
        calls = [
            (("org.samepage1.Manager.SetTuning", "{'thres_coef': <100>}"),
             "org.samepage1.configure"),
            (("org.samepage1.Manager.SetMode", "never"), "org.samepage1.configure"),
            (("org.samepage1.Manager.Retune",), "org.samepage1.configure"),
            (("org.samepage1.Manager.Unmerge",), "org.samepage1.configure"),
            (("org.samepage1.Manager.SetMemMerge", "plain", "false"),
             "org.samepage1.set-mem-merge"),
            (("org.samepage1.Manager.SetBalloon", "plain", "{'shares': <5>}"),
             "org.samepage1.set-balloon"),
        ]
        for args, action in calls:
            result = self.gdbus_as_nobody(*args)
            self.assertNotEqual(result.returncode, 0, args)
            self.assertIn(ERROR + "AccessDenied", result.stderr)
            self.assertIn("Not authorized: %s (authentication required)" % action,
                          result.stderr)
        # reads stay public
        result = self.gdbus_as_nobody(PROPERTIES + ".Get", MANAGER, "Mode")
        self.assertEqual((result.returncode, result.stdout.strip()), (0, "(<'auto'>,)"),
                         result.stderr)
        self.client.pump(0.3)
        self.assertEqual(self.state(), before)
        self.assertFalse([s for s in self.client.signals if s[2] == "Tuned"])
        self.assertEqual(self.daemon.output().count("to uid 65534"), len(calls))
        self.assertEqual(self.daemon.stop(), 0)

    def test_bad_arguments_change_nothing(self):
        self.settle()
        before = self.state()
        invalid = ERROR + "InvalidArgs"
        cases = [
            (invalid, "SetTuning", tuning(bogus=1), "Unknown tuning key 'bogus'"),
            (invalid, "SetTuning", tuning(npages_max=999999), "out of range (1..100000"),
            (invalid, "SetTuning", tuning(thres_coef="ten"), "expected an integer"),
            (invalid, "SetTuning", tuning(scan_rate=7), "expected a string"),
            (invalid, "SetTuning", tuning(scan_rate="fast"), "'fast'"),
            (invalid, "SetTuning", tuning(pressure_trigger="some 150000 100000"),
             "the window must be 500000..10000000"),
            (invalid, "SetTuning", tuning(free_source="arc"), "available+arc"),
            (invalid, "SetTuning", tuning(mode="never"), "Unknown tuning key 'mode'"),
            # one good key and one bad: the good one is not applied either
            (invalid, "SetTuning", tuning(thres_coef=100, bogus=1), "'bogus'"),
            # keys valid alone, contradicting each other
            (invalid, "SetTuning", tuning(npages_min=5000), "npages_max"),
        ]
        for name, method, settings, text in cases:
            message = self.assert_dbus_error(name, method, "(a{sv})", (settings,))
            self.assertIn(text, message)
        self.assertIn("'sometimes'",
                      self.assert_dbus_error(invalid, "SetMode", "(s)", ("sometimes",)))
        self.assertIn("'nope'", self.assert_dbus_error(ERROR + "UnknownDomain", "SetMemMerge",
                                                       "(sb)", ("nope", False)))
        self.assert_dbus_error(invalid, "SetMemMerge", "(sb)", ("", True))
        # a wrong signature is refused by GDBus itself
        self.assert_dbus_error("org.freedesktop.DBus.Error.InvalidArgs", "SetMode", "(u)", (1,))
        self.client.pump(0.3)
        self.assertEqual(self.state(), before)
        self.assertFalse([s for s in self.client.signals if s[2] == "Tuned"])
        self.assertEqual(self.daemon.stop(), 0)

    def test_set_mem_merge(self):
        path = domain_path(NODE_DOMAINS["plain"][0])
        domain = lambda name: self.client.get(name, interface=DOMAIN, path=path)
        # off on a running guest: the persistent config changes, the running
        # one cannot; the reply comes after the refresh, so the object says so
        self.client.call("SetMemMerge", "(sb)", ("plain", False))
        self.assertEqual(domain("MemMerge"), False)
        self.assertEqual(domain("MemMergeActive"), True)
        self.assertEqual(domain("PendingRestart"), True)
        # still merged until QEMU restarts: committed memory keeps counting it
        self.assertEqual(self.client.get("CommittedKiB"), NODE_COMMITTED_KIB)
        self.daemon.wait_log("plain")
        # on again, by UUID: nothing pending
        self.client.call("SetMemMerge", "(sb)", (NODE_DOMAINS["plain"][0], True))
        self.assertEqual(domain("MemMerge"), True)
        self.assertEqual(domain("PendingRestart"), False)
        # the value it already has: a no-op, no error
        self.client.call("SetMemMerge", "(sb)", ("off", True))
        # merging can never happen with hugepages: refused, nothing changes
        before = self.state()
        message = self.assert_dbus_error(ERROR + "Unmergeable", "SetMemMerge", "(sb)",
                                         ("huge", False))
        self.assertIn("hugepages", message)
        self.assertEqual(self.state(), before)

    def test_runtime_changes_survive_a_restart(self):
        self.write_config("[daemon]\nmonitor_interval=3600\n[tuning]\nthres_coef=30\n")
        self.restart_daemon()
        self.assertEqual(self.client.get("Tuning")["thres_coef"], 30)
        self.set_tuning(thres_coef=100, scan_rate="classic")
        self.client.call("SetMode", "(s)", ("always",))
        self.assertEqual(self.knob("run"), "1")
        # samepaged puts the knobs back on exit, and takes the changes up again
        self.restart_daemon()
        self.assertEqual(self.client.get("Mode"), "always")
        self.assertEqual(self.client.get("Tuning"),
                         dict(DEFAULT_TUNING, thres_coef=100, scan_rate="classic"))
        self.assertEqual(self.knob("run"), "1")
        self.daemon.wait_log("Runtime overrides from %s: " % self.overrides)
        # without the file, SIGHUP goes back to samepaged.conf
        os.unlink(self.overrides)
        self.daemon.signal(signal.SIGHUP)
        sptest.wait_for(lambda: self.client.get("Mode") == "auto", 10, what="mode auto")
        self.assertEqual(self.client.get("Tuning"), dict(DEFAULT_TUNING, thres_coef=30))
        self.assertEqual(self.knob("run"), "0")

    def test_bad_overrides_are_ignored(self):
        self.assertEqual(self.daemon.stop(), 0)
        os.makedirs(self.state_dir, exist_ok=True)
        for content, problem in (("[tuning]\nthres_coef=500\n", "out of range"),
                                 ("not a key file\n", "overrides.conf")):
            with open(self.overrides, "w") as f:
                f.write(content)
            self.daemon = self.start_daemon()
            self.daemon.wait_log("Ignoring the runtime overrides")
            self.assertIn(problem, self.daemon.output())
            self.assertEqual(self.client.get("Tuning"), DEFAULT_TUNING)
            self.assertEqual(self.daemon.stop(), 0)
        # the next change replaces the bad file
        self.daemon = self.start_daemon()
        self.client.call("SetMode", "(s)", ("never",))
        self.assertEqual(self.read_overrides(), {("daemon", "mode"): "never"})

    def test_exits_when_the_bus_goes_away(self):
        self.set_tuning(thres_coef=100)
        self.assertEqual(self.knob("run"), "1")
        self.bus.stop()
        self.assertEqual(self.daemon.proc.wait(10), 1)
        self.assertIn("Lost org.samepage1: the system bus connection closed",
                      self.daemon.output())
        # an orderly stop: the knobs are back as found
        self.assertEqual(self.knob("run"), "0")

    def test_second_instance_exits_without_tuning(self):
        second = self.start_daemon(wait=False)
        self.assertEqual(second.proc.wait(10), 1)
        self.assertIn("Cannot own org.samepage1 on the system bus", second.output())
        self.assertNotIn("samepaged-tuner", second.output())
        self.assertIsNone(self.daemon.proc.poll())
        self.assertEqual(self.client.get("Mode"), "auto")

    def test_only_root_may_own_the_name(self):
        self.assertEqual(self.daemon.stop(), 0)
        nobody = self.start_daemon(wait=False, prefix=sptest.AS_NOBODY)
        self.assertEqual(nobody.proc.wait(10), 1)
        self.assertIn("Cannot own org.samepage1 on the system bus", nobody.output())


def tree_state(root):
    """path -> (content, mtime_ns) of every file below root (absent: {})."""
    state = {}
    for parent, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(parent, name)
            with open(path, "rb") as f:
                state[path] = (f.read(), os.stat(path).st_mtime_ns)
    return state


class DryRunTest(DBusTestCase):
    """--dry-run: decisions and answers, but no file written or created."""

    def start_daemon(self, wait=True, env=None, prefix=None):
        self.metrics = os.path.join(self.dir, "metrics", "samepage.prom")
        os.makedirs(os.path.dirname(self.metrics), exist_ok=True)
        self.extra_args = ["--dry-run", "--metrics-textfile", self.metrics]
        self.before = {"sysfs": tree_state(self.sysfs), "procfs": tree_state(self.procfs)}
        return super().start_daemon(wait, env, prefix)

    def assert_nothing_written(self):
        self.assertEqual(tree_state(self.sysfs), self.before["sysfs"])
        self.assertEqual(tree_state(self.procfs), self.before["procfs"])
        self.assertFalse(os.path.exists(self.state_dir), "the state directory was created")
        self.assertFalse(os.path.exists(self.metrics), "the metrics file was written")
        self.assertEqual(os.listdir(os.path.dirname(self.metrics)), [])

    def test_dry_run_changes_no_file(self):
        self.assertEqual(self.client.get("DryRun"), True)
        # a decision that would start KSM: logged, not written
        self.client.call("SetMode", "(s)", ("always",))
        self.assertEqual(self.client.get("Mode"), "always")
        self.daemon.wait_log("dry run: would write run: 0 → 1")
        self.assertEqual(self.knob("run"), "0")
        # runtime changes are answered and apply to the running daemon, but
        # are not kept
        self.set_tuning(npages_max=2000, resync_interval=30)
        self.assertEqual(self.client.get("Tuning")["npages_max"], 2000)
        self.assertEqual(self.client.get("Tuning")["resync_interval"], 30)
        self.assertFalse(os.path.exists(self.state_dir), "runtime changes were saved")
        self.client.call("Retune")
        # SetMemMerge would define a domain: refused, the domain unchanged
        path = domain_path(NODE_DOMAINS["plain"][0])
        message = self.assert_dbus_error(ERROR + "Failed", "SetMemMerge", "(sb)",
                                         ("plain", False))
        self.assertTrue(message.endswith("Error.Failed: samepaged runs with --dry-run"), message)
        self.assertEqual(self.client.get("MemMerge", interface=DOMAIN, path=path), True)
        # several decisions later, and after SIGTERM (restore): nothing
        self.daemon.wait_log("dry run: would write", count=2)
        self.assert_nothing_written()
        self.assertEqual(self.daemon.stop(), 0)
        self.assert_nothing_written()


class NoPolkitTest(DBusTestCase):
    with_polkitd = False

    def test_only_root_without_polkit(self):
        self.client.call("SetMode", "(s)", ("never",))
        self.assertEqual(self.client.get("Mode"), "never")
        result = self.gdbus_as_nobody("org.samepage1.Manager.SetMode", "auto")
        self.assertIn(ERROR + "AccessDenied", result.stderr)
        self.assertIn("no polkit authority", result.stderr)
        self.assertEqual(self.client.get("Mode"), "never")
        self.client.call("Retune")
        self.set_tuning(thres_coef=50)
        self.assertEqual(self.client.get("Tuning")["thres_coef"], 50)
        self.assertEqual(self.daemon.output().count("No polkit authority is reachable"), 1)
        self.assertEqual(self.daemon.stop(), 0)


class FakeKsmKernel:
    """The kernel's part of run=2 on a temporary tree: pages_shared and
    pages_sharing drop to 0 delay seconds after run reads 2."""

    def __init__(self, ksm_dir, delay=0.5):
        self.ksm = ksm_dir
        self.delay = delay
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.wait(0.02):
            if (sptest.read_knob(self.ksm, "run") == "2"
                    and sptest.read_knob(self.ksm, "pages_shared") != "0"):
                time.sleep(self.delay)
                # atomically, as samepaged polls them meanwhile
                for name in ("pages_shared", "pages_sharing"):
                    sptest.replace_file(os.path.join(self.ksm, name), "0\n")

    def stop(self):
        self.stopping.set()
        self.thread.join()


class UnmergeTest(DBusTestCase):
    """Unmerge() and SetTuning merge_across_nodes (root: no polkitd needed)."""
    with_polkitd = False

    def setUp(self):
        super().setUp()
        self.kernel = FakeKsmKernel(self.ksm)
        self.addCleanup(self.kernel.stop)

    def make_shared(self, sharing, shared=50):
        self.write_knob("pages_shared", str(shared))
        self.write_knob("pages_sharing", str(sharing))

    def test_unmerge_refused_when_memory_cannot_absorb_it(self):
        # 3.5 M pages of 4 KiB (13.4 GiB) + threshold 3.2 GiB > MemAvailable 12 GiB
        self.make_shared(3500000)
        self.settle()
        before = self.state()
        message = self.assert_dbus_error(ERROR + "Failed", "Unmerge")
        self.assertIn("3500000 pages_sharing", message)
        self.assertIn("MemAvailable is 12.0 GiB", message)
        self.assertIn("threshold 3.2 GiB", message)
        self.assertEqual(self.state(), before)
        self.assertEqual(self.knob("pages_shared"), "50")

    def test_unmerge_splits_everything_then_mode_never(self):
        self.client.call("SetMode", "(s)", ("always",))
        sptest.wait_for(lambda: self.knob("run") == "1", 10, what="run=1")
        self.make_shared(3000)
        self.client.call("Unmerge")
        # returned only once the kernel had unmerged (0.5 s after run=2)
        self.assertEqual(self.knob("pages_shared"), "0")
        self.assertEqual(self.knob("pages_sharing"), "0")
        self.assertNotEqual(self.knob("run"), "1")
        self.assertEqual(self.client.get("Mode"), "never")
        self.assertEqual(self.read_overrides()[("daemon", "mode")], "never")
        self.daemon.wait_log("Unmerged every page KSM had merged (50 shared at the start)")
        # KSM stays off until the mode changes
        self.client.call("Retune")
        self.assertEqual(self.knob("run"), "0")

    def test_merge_across_nodes_unmerges_first_and_persists(self):
        self.client.call("SetMode", "(s)", ("always",))
        sptest.wait_for(lambda: self.knob("run") == "1", 10, what="run=1")
        self.make_shared(3000)
        self.set_tuning(merge_across_nodes=0)
        self.assertEqual(self.knob("merge_across_nodes"), "0")
        self.assertEqual(self.knob("pages_shared"), "0")
        self.assertEqual(self.knob("run"), "1")  # put back as it was
        self.assertEqual(self.client.get("Tuning")["merge_across_nodes"], 0)
        self.assertEqual(self.read_overrides()[("tuning", "merge_across_nodes")], "0")
        self.daemon.wait_log("merge_across_nodes set to 0 after unmerging 50 shared pages")

        # re-applied at start, unmerging again
        self.assertEqual(self.daemon.stop(), 0)
        self.write_knob("merge_across_nodes", "1")
        self.make_shared(3000)
        self.daemon = self.start_daemon()
        sptest.wait_for(lambda: self.knob("merge_across_nodes") == "0", 10,
                        what="merge_across_nodes re-applied at start")
        self.assertEqual(self.knob("pages_shared"), "0")

    def test_merge_across_nodes_refused_when_memory_short(self):
        self.make_shared(3500000)
        self.settle()
        before = self.state()
        message = self.assert_dbus_error(ERROR + "Failed", "SetTuning", "(a{sv})",
                                         (tuning(merge_across_nodes=0),))
        self.assertIn("3500000 pages_sharing", message)
        self.assertIn("MemAvailable", message)
        self.assertEqual(self.state(), before)
        self.assertEqual(self.knob("merge_across_nodes"), "1")

    def test_merge_across_nodes_not_supported_without_numa(self):
        os.unlink(os.path.join(self.ksm, "merge_across_nodes"))
        self.client.call("Retune")
        self.settle()
        before = (self.client.get_all(), os.path.exists(self.overrides))
        message = self.assert_dbus_error(ERROR + "NotSupported", "SetTuning", "(a{sv})",
                                         (tuning(merge_across_nodes=1),))
        self.assertIn("merge_across_nodes is not supported by this kernel", message)
        self.assertEqual((self.client.get_all(), os.path.exists(self.overrides)), before)


class NoBusTest(unittest.TestCase):
    def test_tunes_without_a_bus(self):
        self.dir = sptest.make_temp_dir("sp-nobus-")
        self.addCleanup(sptest.remove_tree, self.dir)
        ksm = sptest.make_ksm_tree(os.path.join(self.dir, "sys"), KSM_FILES)
        os.makedirs(os.path.join(self.dir, "proc"))
        with open(os.path.join(self.dir, "proc", "meminfo"), "w") as f:
            f.write(MEMINFO.format(total=MEM_TOTAL_KIB, free=1, available=1024, cached=1))
        config = os.path.join(self.dir, "samepaged.conf")
        with open(config, "w") as f:
            f.write("[tuning]\nscan_rate=classic\n")
        # sptest.Daemon points DBUS_SYSTEM_BUS_ADDRESS at a missing socket
        daemon = sptest.Daemon(["--sysfs-root", os.path.join(self.dir, "sys"), "--procfs-root",
                                os.path.join(self.dir, "proc"), "--config", config,
                                "--ksmtuned-config", "", "--state-dir",
                                os.path.join(self.dir, "state"), "--connect",
                                "test://" + NODE_XML], log_dir=self.dir)
        self.addCleanup(daemon.stop)
        daemon.wait_log("No system bus: D-Bus API unavailable")
        sptest.wait_for(lambda: sptest.read_knob(ksm, "run") == "1", 10, what="run=1")
        self.assertIsNone(daemon.proc.poll())
        self.assertEqual(daemon.stop(), 0)


class TestDriverLibvirtd:
    """libvirtd holding libvirt's test driver, shared by every client of
    test+unix:///default?socket=...: samepaged watches it while virsh defines
    and removes domains. No driver module is loaded (LIBVIRT_DRIVER_DIR is
    empty): no QEMU, nothing outside the directory."""

    def __init__(self, directory):
        run = os.path.join(directory, "libvirt-run")
        modules = os.path.join(directory, "libvirt-no-modules")
        os.makedirs(run)
        os.makedirs(modules)
        config = os.path.join(directory, "libvirtd.conf")
        with open(config, "w") as f:
            f.write('unix_sock_dir = "%s"\nunix_sock_ro_perms = "0777"\n'
                    'unix_sock_rw_perms = "0700"\nauth_unix_ro = "none"\n'
                    'auth_unix_rw = "none"\nlisten_tls = 0\nlisten_tcp = 0\n'
                    'log_outputs = "3:file:%s"\n' % (run, os.path.join(directory,
                                                                       "libvirtd.log")))
        self.socket = os.path.join(run, "libvirt-sock")
        self.uri = "test+unix:///default?socket=" + self.socket
        env = dict(os.environ, LIBVIRT_DRIVER_DIR=modules)
        self.proc = subprocess.Popen([shutil.which("libvirtd") or "/usr/sbin/libvirtd", "-f",
                                      config, "-p", os.path.join(directory, "libvirtd.pid")],
                                     env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        sptest.wait_for(lambda: os.path.exists(self.socket), 30, what="libvirtd's socket")
        self.virsh("version")

    def virsh(self, *args):
        return subprocess.run(["virsh", "-c", self.uri] + list(args), check=True,
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL).stdout

    def stop(self):
        return sptest.stop_process(self.proc)


NEW_DOMAIN = """<domain type="test">
  <name>newguest</name>
  <uuid>77777777-7777-4777-8777-777777777777</uuid>
  <memory unit="MiB">256</memory>
  <os><type arch="x86_64">hvm</type></os>
</domain>
"""
DEFAULT_TEST_DOMAIN = "6695eb01-f6a4-8304-79aa-97f2502e193f"  # "test" of test:///default


class DomainLifecycleTest(DBusTestCase):
    with_polkitd = False

    def setUp(self):
        # on CI's machine it is there (.ci/deps): a missing one fails, never skips
        self.assertIsNotNone(shutil.which("virsh"), "virsh is missing (libvirt-clients)")
        self.libvirtd = None
        super().setUp()

    def connect_uri(self):
        if self.libvirtd is None:
            self.libvirtd = TestDriverLibvirtd(self.dir)
            self.addCleanup(self.libvirtd.stop)
        return self.libvirtd.uri

    def is_ready(self):
        return self.client.get("LibvirtConnected") and len(self.client.managed_objects()) == 1

    def test_objects_follow_domains(self):
        self.assertEqual(set(self.client.managed_objects()), {domain_path(DEFAULT_TEST_DOMAIN)})
        self.settle()
        path = domain_path("77777777-7777-4777-8777-777777777777")
        xml = os.path.join(self.dir, "newguest.xml")
        with open(xml, "w") as f:
            f.write(NEW_DOMAIN)

        self.libvirtd.virsh("define", xml)
        added = self.client.wait_signal(lambda s: s[2] == "InterfacesAdded" and s[3][0] == path,
                                        what="InterfacesAdded for newguest")
        props = added[0][3][1][DOMAIN]
        self.assertEqual((props["Name"], props["Active"], props["MaximumKiB"]),
                         ("newguest", False, 262144))
        self.assertEqual(self.client.managed_objects()[path][DOMAIN], props)

        self.libvirtd.virsh("start", "newguest")
        self.client.wait_signal(lambda s: s[2] == "PropertiesChanged" and s[0] == path
                                and s[3][1].get("Active") is True, what="newguest active")
        self.assertTrue(self.client.get("Active", DOMAIN, path))

        self.libvirtd.virsh("destroy", "newguest")
        self.libvirtd.virsh("undefine", "newguest")
        self.client.wait_signal(lambda s: s[2] == "InterfacesRemoved" and s[3][0] == path,
                                what="InterfacesRemoved for newguest")
        self.assertEqual(set(self.client.managed_objects()), {domain_path(DEFAULT_TEST_DOMAIN)})


    def test_retune_and_sighup_resync_the_domain_list(self):
        # the test driver sends no event for a live memory change: only a
        # resync of the domain list (resync_interval is 600 s) sees it
        before = self.client.get("CommittedKiB")
        self.assertGreater(before, 1024 * 1024)
        self.libvirtd.virsh("setmem", "test", str(1024 * 1024), "--live")
        self.client.pump(1.5)
        self.assertEqual(self.client.get("CommittedKiB"), before)
        self.client.call("Retune")
        sptest.wait_for(lambda: self.client.get("CommittedKiB") == 1024 * 1024, 10,
                        what="committed memory resynced after Retune")
        self.libvirtd.virsh("setmem", "test", str(512 * 1024), "--live")
        self.client.pump(1.5)
        self.assertEqual(self.client.get("CommittedKiB"), 1024 * 1024)
        self.daemon.signal(signal.SIGHUP)
        sptest.wait_for(lambda: self.client.get("CommittedKiB") == 512 * 1024, 10,
                        what="committed memory resynced after SIGHUP")

if __name__ == "__main__":
    sptest.run_tap()
