# SPDX-License-Identifier: GPL-2.0-or-later
"""GuestDaemonCase: the built samepaged (in its own mount namespace) and
ksmctl on a private system-type bus, against the class's private libvirtd
with TCG guests (sptestbed), as system-mem-merge and
system-balloon-reporting use them.

The KSM knobs are a temporary tree (--sysfs-root) and the host's memory a
fixed /proc/meminfo bound over the real one in samepaged's private mount
namespace, while /proc/<pid> stays real. The real /sys/kernel/mm/ksm is
never written. A subclass sets cls.lv in setUpClass; setUp starts the bus
and samepaged, and the cleanups stop samepaged, the bus and the guests
(by PID), even on failure.
"""
import json
import os
import subprocess
import time
import unittest

import sptest
import sptestbed

SETTLE_S = 20.0  # for samepaged to see a libvirt event (it reacts within a second)
MEM_TOTAL_KIB = 16 * 1024 * 1024


class GuestDaemonCase(unittest.TestCase):
    CONFIG = "[daemon]\nmonitor_interval=600\n"
    KSM_FILES = sptest.KSM_BOOT_FILES
    TEMP_PREFIX = "sp-guests-"

    @classmethod
    def start_libvirtd(cls, *guests):
        """The class's private libvirtd (cls.lv), stopped with the class,
        with guests defined: (name, fill MiB) pairs of 256 MiB guests."""
        began = time.monotonic()
        cls.assets = sptestbed.ensure_guest_assets()
        cls.lv = sptestbed.PrivateLibvirtd(cls.assets)
        cls.addClassCleanup(cls.lv.stop)
        cls.lv.start_daemon()
        for name, fill_mib in guests:
            cls.lv.define_guest(name, memory_mib=256, fill_mib=fill_mib)
        sptestbed.log("assets and libvirtd ready after %.1f s" % (time.monotonic() - began))

    def setUp(self):
        self.dir = sptest.make_temp_dir(self.TEMP_PREFIX)
        self.addCleanup(sptest.remove_tree, self.dir)
        self.sysfs = os.path.join(self.dir, "sys")
        self.ksm = sptest.make_ksm_tree(self.sysfs, self.KSM_FILES)
        self.meminfo = os.path.join(self.dir, "meminfo")
        with open(self.meminfo, "w") as f:
            f.write(sptest.FIXED_MEMINFO.format(total=MEM_TOTAL_KIB,
                                                avail=MEM_TOTAL_KIB * 9 // 10))
        self.config = os.path.join(self.dir, "samepaged.conf")
        with open(self.config, "w") as f:
            f.write(self.CONFIG)
        self.state_dir = os.path.join(self.dir, "state")

        # cleanups run last-in first-out: samepaged, then the bus, then the guests
        self.addCleanup(self.lv.destroy_running, start=False)
        self.bus = sptest.SystemBus(self.dir)
        self.addCleanup(self.bus.stop)
        # a SIGTERM (meson's timeout) skips the cleanups: sptestbed's handler
        # stops what is in its registry, the bus included then
        self.bus_guard = sptest.BusGuard(self.bus, self.dir)
        sptestbed._live.add(self.bus_guard)
        self.addCleanup(sptestbed._live.discard, self.bus_guard)
        self.env = dict(os.environ)
        self.env.update(self.bus.env())
        binds = [(self.meminfo, "/proc/meminfo"), (self.lv.pid_dir(), "/run/libvirt")]
        self.daemon = sptestbed.NamespacedDaemon(
            ["--sysfs-root", self.sysfs, "--config", self.config, "--ksmtuned-config", "",
             "--state-dir", self.state_dir, "--connect", self.lv.uri, "-v"],
            binds, env=self.bus.env(), log_dir=self.dir)
        self.addCleanup(self.daemon.stop)
        self.daemon.wait_log("Connected to libvirt at %s" % self.lv.uri, timeout=20)
        self.bus.wait_for_name("org.samepage1")

    def run_ksmctl(self, *args):
        return subprocess.run([sptest.KSMCTL] + list(args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
                              text=True, timeout=60)

    def ksmctl(self, *args):
        """ksmctl's standard output; it must exit with 0."""
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

    def wait_domain(self, name, timeout=SETTLE_S, **expected):
        """ksmctl domains --json shows name with these members; returns it."""
        last = {}

        def matches():
            last.update(self.domain(name))
            return all(last.get(k) == v for k, v in expected.items()) and dict(last)
        try:
            return sptest.wait_for(matches, timeout, 0.2, "%s with %r" % (name, expected))
        except AssertionError as e:
            raise AssertionError("%s; ksmctl domains --json shows %s:\n%s\nsamepaged:\n%s"
                                 % (e, name, json.dumps(last, indent=1),
                                    self.daemon.output()[-3000:]))

    def inactive_xml(self, name):
        return self.lv.virsh("dumpxml", "--inactive", "--security-info", name)

    def live_xml(self, name):
        return self.lv.virsh("dumpxml", name)

    def cold_restart(self, name):
        """virsh destroy + start; returns the new QEMU's PID."""
        old = self.lv.qemu_pid(name)
        began = time.monotonic()
        self.lv.destroy(name)
        self.lv.start(name)
        pid = sptest.wait_for(lambda: (self.lv.qemu_pid(name) not in (None, old)
                                       and self.lv.qemu_pid(name)), 10, 0.1,
                              "a new QEMU pid for %s" % name)
        sptestbed.log("%s destroyed and started again in %.2f s: QEMU %d (was %s)"
                      % (name, time.monotonic() - began, pid, old))
        return pid
