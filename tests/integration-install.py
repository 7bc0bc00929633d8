#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""meson install --destdir: the installed tree, its files' syntax, and the
man pages rendering."""
import configparser
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ET

import sptest

BUILD_ROOT = os.path.dirname(os.environ.get("G_TEST_BUILDDIR", ""))

EXPECTED = {
    "usr/sbin/samepaged", "usr/bin/ksmctl",
    "etc/samepage/samepaged.conf",
    "usr/lib/systemd/system/samepaged.service",
    "usr/share/dbus-1/system-services/org.samepage1.service",
    "usr/share/dbus-1/system.d/org.samepage1.conf",
    "usr/share/dbus-1/interfaces/org.samepage1.Manager.xml",
    "usr/share/polkit-1/actions/org.samepage1.policy",
    "usr/share/man/man8/samepaged.8", "usr/share/man/man5/samepaged.conf.5",
    "usr/share/man/man1/ksmctl.1",
    "usr/share/bash-completion/completions/ksmctl",
    "usr/share/samepage/prometheus/samepage.rules.yml",
    # the Cockpit page (meson option cockpit, on by default)
    "usr/share/cockpit/samepage/manifest.json", "usr/share/cockpit/samepage/index.html",
    "usr/share/cockpit/samepage/samepage.js", "usr/share/cockpit/samepage/samepage.css",
}


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dest = tempfile.mkdtemp(prefix="sp-install-")
        subprocess.run(["meson", "install", "-C", BUILD_ROOT, "--destdir", cls.dest,
                        "--no-rebuild", "--quiet"], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dest, ignore_errors=True)

    def path(self, relative):
        return os.path.join(self.dest, relative)

    def test_cockpit_page(self):
        """Cockpit finds the page by its manifest; it loads Cockpit's own
        cockpit.js and its own script, nothing else (no bundle)."""
        import json
        with open(self.path("usr/share/cockpit/samepage/manifest.json")) as f:
            manifest = json.load(f)
        self.assertIn("index", manifest["menu"])
        with open(self.path("usr/share/cockpit/samepage/index.html")) as f:
            scripts = re.findall(r'<script src="([^"]+)"', f.read())
        self.assertEqual(scripts, ["../base1/cockpit.js", "samepage.js"])

    def test_tree(self):
        installed = set()
        for top, _, files in os.walk(self.dest):
            for name in files:
                installed.add(os.path.relpath(os.path.join(top, name), self.dest))
        self.assertEqual(installed, EXPECTED)
        for binary in ("usr/sbin/samepaged", "usr/bin/ksmctl"):
            self.assertTrue(os.access(self.path(binary), os.X_OK))
        out = subprocess.run([self.path("usr/sbin/samepaged"), "--version"],
                             capture_output=True, text=True, check=True).stdout
        self.assertRegex(out, r"^samepaged \d+\.\d+\.\d+\n$")

    def test_xml_files_are_valid(self):
        for relative in ("usr/share/dbus-1/system.d/org.samepage1.conf",
                         "usr/share/dbus-1/interfaces/org.samepage1.Manager.xml",
                         "usr/share/polkit-1/actions/org.samepage1.policy"):
            check = subprocess.run(["xmllint", "--noout", "--nonet", self.path(relative)],
                                   capture_output=True, text=True)
            self.assertEqual(check.returncode, 0, relative + ": " + check.stderr)
        policy = ET.parse(self.path("usr/share/polkit-1/actions/org.samepage1.policy"))
        actions = {a.get("id"): a for a in policy.getroot().findall("action")}
        self.assertEqual(set(actions), {"org.samepage1.configure", "org.samepage1.set-mem-merge",
                                        "org.samepage1.set-balloon"})
        for action in actions.values():
            for key in ("allow_any", "allow_inactive", "allow_active"):
                self.assertEqual(action.find("defaults/" + key).text, "auth_admin_keep")
        bus = ET.parse(self.path("usr/share/dbus-1/system.d/org.samepage1.conf")).getroot()
        owners = [(p.attrib, a.attrib) for p in bus.findall("policy")
                  for a in p.findall("allow") if a.get("own") == "org.samepage1"]
        self.assertEqual(owners, [({"user": "root"}, {"own": "org.samepage1"})])

    @unittest.skipUnless(shutil.which("promtool"), "promtool not installed (Debian: prometheus)")
    def test_prometheus_rules(self):
        # the installed copy is one Prometheus loads
        check = subprocess.run(["promtool", "check", "rules",
                                self.path("usr/share/samepage/prometheus/samepage.rules.yml")],
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertRegex(check.stdout, r"SUCCESS: \d+ rules found")

    def test_systemd_and_dbus_activation(self):
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.optionxform = str
        unit.read(self.path("usr/lib/systemd/system/samepaged.service"))
        service = unit["Service"]
        self.assertEqual(service["Type"], "dbus")
        self.assertEqual(service["BusName"], "org.samepage1")
        self.assertEqual(service["ExecStart"], "/usr/sbin/samepaged")
        with open(self.path("usr/lib/systemd/system/samepaged.service")) as f:
            lines = f.read().splitlines()
        # the KSM knobs, and the documented metrics directory when it exists
        self.assertIn("ReadWritePaths=/sys/kernel/mm/ksm", lines)
        self.assertIn("ReadWritePaths=-/var/lib/prometheus/node-exporter", lines)
        # one capability: reading /proc/<pid>/ksm_stat of QEMU run as another user
        self.assertIn("CapabilityBoundingSet=CAP_DAC_READ_SEARCH", lines)
        self.assertEqual(service["ProtectSystem"], "strict")
        self.assertEqual(service["RestrictAddressFamilies"], "AF_UNIX")
        self.assertEqual(unit["Unit"]["ConditionPathExists"], "/sys/kernel/mm/ksm")
        self.assertIn("ksmtuned.service", unit["Unit"]["Conflicts"])
        activation = configparser.ConfigParser(interpolation=None)
        activation.optionxform = str
        activation.read(self.path("usr/share/dbus-1/system-services/org.samepage1.service"))
        self.assertEqual(dict(activation["D-BUS Service"]),
                         {"Name": "org.samepage1", "Exec": "/usr/sbin/samepaged", "User": "root",
                          "SystemdService": "samepaged.service"})
        analyze = shutil.which("systemd-analyze")
        if analyze:
            check = subprocess.run([analyze, "verify",
                                    self.path("usr/lib/systemd/system/samepaged.service")],
                                   capture_output=True, text=True)
            self.assertNotIn("Unknown key", check.stderr)

    def test_man_pages_render(self):
        for page in ("usr/share/man/man8/samepaged.8", "usr/share/man/man5/samepaged.conf.5",
                     "usr/share/man/man1/ksmctl.1"):
            render = subprocess.run(["man", "-l", "-Tutf8", self.path(page)],
                                    capture_output=True, text=True,
                                    env=dict(os.environ, MANWIDTH="100", MAN_KEEP_STDERR="1"))
            self.assertEqual(render.returncode, 0, page)
            text = re.sub(".\x08", "", render.stdout)  # bold/underline overstrikes
            self.assertIn("SYNOPSIS", text, page)
            self.assertIn("SEE ALSO", text, page)
            self.assertNotIn("warning", render.stderr, page)

    def test_help_lists_every_option_of_the_man_page(self):
        out = subprocess.run([self.path("usr/sbin/samepaged"), "--help"], capture_output=True,
                             text=True, check=True).stdout
        with open(self.path("usr/share/man/man8/samepaged.8")) as f:
            page = f.read().replace("\\-", "-")
        for option in ("--config", "--ksmtuned-config", "--sysfs-root", "--procfs-root",
                       "--connect", "--state-dir", "--metrics-textfile", "--dry-run",
                       "--verbose", "--version"):
            self.assertIn(option, out)
            self.assertIn(option, page)


if __name__ == "__main__":
    sptest.run_tap()
