#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""ksmctl as users polkit allows and denies, against the real samepaged
and the real polkitd on a private system bus (issue 14).

A system user is created for the test (and removed after). A rules file in
/etc/polkit-1/rules.d grants it org.samepage1.configure and
org.samepage1.set-mem-merge; polkitd is already running when the file
appears, and picks it up without a restart (it watches rules.d). Before
the file, that user is denied like any other (exit 3); with it, it runs
`ksmctl set` and `ksmctl merge` (on the libvirt test driver's domain
"plain"), and the changes show on the bus; uid 65534 stays denied
throughout (exit 3, "not authorised") and changes nothing.
"""
import os
import pwd
import subprocess
import time
import unittest

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

import sptest  # noqa: E402
from sptest import (AS_NOBODY, MANAGER, NAME, NODE_COMMITTED_KIB, NODE_XML,  # noqa: E402
                    OBJECT_MANAGER, PATH, POLICY, PROPERTIES)

RULES_DIR = "/etc/polkit-1/rules.d"
RULES = """// samepage's tests/system-polkit.py: removed when the test ends
polkit.addRule(function(action, subject) {
    if ((action.id == "org.samepage1.configure" ||
         action.id == "org.samepage1.set-mem-merge") && subject.user == "%s") {
        return polkit.Result.YES;
    }
});
"""
PLAIN_UUID = "11111111-1111-4111-8111-111111111111"

MEMINFO = """MemTotal:       16777216 kB
MemFree:         6291456 kB
MemAvailable:    12582912 kB
Buffers:           10240 kB
Cached:          6291456 kB
"""


class PolkitUsersTest(unittest.TestCase):
    def setUp(self):
        self.assertEqual(os.geteuid(), 0, "the system suite runs as root (CI does): it "
                         "creates a user and places polkit files")
        self.assertTrue(os.path.isdir(RULES_DIR), RULES_DIR + " is missing (polkitd)")
        self.dir = sptest.make_temp_dir("sp-polkit-")
        self.addCleanup(sptest.remove_tree, self.dir)
        os.chmod(self.dir, 0o755)
        sysfs = os.path.join(self.dir, "sys")
        procfs = os.path.join(self.dir, "proc")
        self.state_dir = os.path.join(self.dir, "state")
        self.ksm = sptest.make_ksm_tree(sysfs, sptest.KSM_SAMPLE_FILES)
        os.makedirs(procfs)
        with open(os.path.join(procfs, "meminfo"), "w") as f:
            f.write(MEMINFO)
        config = os.path.join(self.dir, "samepaged.conf")
        with open(config, "w") as f:
            f.write("[daemon]\nmonitor_interval=3600\n")

        # the user polkit will allow, made for this test
        self.user = "sp-pk-%d" % os.getpid()
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "--user-group", self.user], check=True,
                       stdin=subprocess.DEVNULL)
        self.addCleanup(subprocess.run, ["userdel", self.user], stdin=subprocess.DEVNULL)
        entry = pwd.getpwnam(self.user)
        self.as_user = ["setpriv", "--reuid=%d" % entry.pw_uid, "--regid=%d" % entry.pw_gid,
                        "--clear-groups"]
        self.rules = os.path.join(RULES_DIR, "49-samepage-test-%d.rules" % os.getpid())
        self.addCleanup(self.remove_rules)

        self.bus = sptest.SystemBus(self.dir)
        self.addCleanup(self.bus.stop)
        action_file = sptest.PlacedFile(
            POLICY, os.path.join(sptest.POLKIT_ACTIONS_DIR, "org.samepage1.policy"))
        self.addCleanup(action_file.restore)
        self.polkitd = sptest.Polkitd(self.bus, self.dir)
        self.addCleanup(self.polkitd.stop)
        self.daemon = sptest.Daemon(
            ["--sysfs-root", sysfs, "--procfs-root", procfs, "--config", config,
             "--ksmtuned-config", "", "--state-dir", self.state_dir, "--connect",
             "test://" + NODE_XML], env=self.bus.env(), log_dir=self.dir)
        self.addCleanup(self.daemon.stop)
        self.conn = sptest.bus_connect(self.bus.address)
        self.addCleanup(self.conn.close_sync, None)

        def ready():
            try:
                return self.manager()["CommittedKiB"] == NODE_COMMITTED_KIB
            except GLib.Error:
                return False
        sptest.wait_for(ready, 20, 0.1, "samepaged on the bus with its domains:\n"
                        + self.daemon.output())

    def remove_rules(self):
        if os.path.exists(self.rules):
            os.unlink(self.rules)

    def call(self, path, interface, method, params=None):
        r = self.conn.call_sync(NAME, path, interface, method, params, None,
                                Gio.DBusCallFlags.NONE, 30000, None)
        return r.unpack() if r is not None else None

    def manager(self):
        return self.call(PATH, PROPERTIES, "GetAll", GLib.Variant("(s)", (MANAGER,)))[0]

    def plain_mem_merge(self):
        objects = self.call(PATH, OBJECT_MANAGER, "GetManagedObjects")[0]
        path = "/org/samepage1/domain/" + PLAIN_UUID.replace("-", "_")
        return objects[path]["org.samepage1.Domain"]["MemMerge"]

    def ksmctl(self, prefix, *args):
        env = dict(os.environ)
        env.update(self.bus.env())
        return subprocess.run(prefix + [sptest.KSMCTL] + list(args), env=env, cwd="/",
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=60)

    def assert_denied(self, prefix, *args):
        result = self.ksmctl(prefix, *args)
        self.assertEqual(result.returncode, 3, "ksmctl %s: %s%s" % (" ".join(args),
                                                                    result.stdout, result.stderr))
        self.assertIn("ksmctl: not authorised: Not authorized: org.samepage1.", result.stderr)
        self.assertIn("(authentication required)", result.stderr)

    def assert_ok(self, prefix, *args):
        result = self.ksmctl(prefix, *args)
        self.assertEqual(result.returncode, 0, "ksmctl %s: %s%s" % (" ".join(args),
                                                                    result.stdout, result.stderr))
        return result

    def test_allowed_user_sets_and_merges_denied_user_exits_3(self):
        npages_max = self.manager()["Tuning"]["npages_max"]
        self.assertNotEqual(npages_max, 2000)
        self.assertTrue(self.plain_mem_merge())

        # no rule yet: the test user is denied like anybody (auth_admin_keep,
        # no agent), and so is nobody
        self.assert_denied(self.as_user, "set", "npages_max=2000")
        self.assert_denied(self.as_user, "merge", "plain", "off")
        self.assert_denied(AS_NOBODY, "set", "npages_max=2000")

        # the rule appears while polkitd runs: it reloads its rules by itself
        with open(self.rules + ".tmp", "w") as f:
            f.write(RULES % self.user)
        os.chmod(self.rules + ".tmp", 0o644)
        os.rename(self.rules + ".tmp", self.rules)
        began = time.monotonic()
        sptest.wait_for(lambda: self.ksmctl(self.as_user, "retune").returncode == 0, 15, 0.2,
                        "polkitd to take the new rule:\n" + self.polkitd_log())
        sys_note("polkitd took the rules file in %.1f s, no restart"
                 % (time.monotonic() - began))

        result = self.assert_ok(self.as_user, "set", "npages_max=2000")
        self.assertEqual(self.manager()["Tuning"]["npages_max"], 2000, result.stdout)
        with open(os.path.join(self.state_dir, "overrides.conf")) as f:
            self.assertIn("npages_max=2000", f.read().replace(" ", ""))
        self.assert_ok(self.as_user, "merge", "plain", "off")
        self.assertFalse(self.plain_mem_merge())

        # nobody is still denied, for both actions, and changes nothing
        before = (self.manager()["Tuning"], self.manager()["Mode"], self.plain_mem_merge())
        self.assert_denied(AS_NOBODY, "set", "npages_max=3000")
        self.assert_denied(AS_NOBODY, "mode", "never")
        self.assert_denied(AS_NOBODY, "merge", "plain", "on")
        result = self.ksmctl(AS_NOBODY, "--json", "merge", "plain", "on")
        self.assertEqual(result.returncode, 3, result.stderr)
        self.assertIn('"org.samepage1.Error.AccessDenied"', result.stdout)
        self.assertEqual((self.manager()["Tuning"], self.manager()["Mode"],
                          self.plain_mem_merge()), before)

        # the changes were made as the test user, and logged so
        uid = pwd.getpwnam(self.user).pw_uid
        out = self.daemon.output()
        self.assertIn("by uid %d (" % uid, out)
        self.assertEqual(self.daemon.stop(), 0)

    def polkitd_log(self):
        with open(os.path.join(self.dir, "polkitd.log")) as f:
            return f.read()[-3000:]


def sys_note(text):
    print("# " + text, flush=True)


if __name__ == "__main__":
    sptest.run_tap()
