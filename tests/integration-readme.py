#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The README cannot drift: every `$ ksmctl ...` example in it is run through
the real samepaged and ksmctl, on a host set up like the one the examples
were taken from (23.5 GiB, the embedded test driver), and must print what
the README shows (only the decision's time differs)."""
import os
import re
import subprocess
import unittest

import sptest

README = os.path.join(sptest.SOURCE_ROOT, "README.md")

# The host of the README's examples: an idle 24 GiB VM, KSM at boot state.
MEMINFO = ("MemTotal:       24641536 kB\nMemFree:        23000000 kB\n"
           "MemAvailable:   23592960 kB\nBuffers:           10240 kB\n"
           "Cached:           400000 kB\n")
KSM = {"run": "0", "pages_to_scan": "100", "sleep_millisecs": "20", "pages_shared": "0",
       "pages_sharing": "0", "general_profit": "0", "advisor_mode": "[none] scan-time",
       "advisor_max_cpu": "70", "advisor_target_scan_time": "200"}
TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def examples():
    """(command, expected output lines) of each '$ ' line in README code blocks."""
    found = []
    with open(README) as f:
        lines = f.read().splitlines()
    current = None
    for line in lines:
        if line.startswith("    $ "):
            current = (line[6:], [])
            found.append(current)
        elif current is not None and line.startswith("    "):
            current[1].append(line[4:])
        else:
            current = None
    return found


class ReadmeTest(unittest.TestCase):
    def setUp(self):
        self.dir = sptest.make_temp_dir("sp-readme-")
        sysfs = os.path.join(self.dir, "sys")
        ksm = os.path.join(sysfs, "kernel", "mm", "ksm")
        procfs = os.path.join(self.dir, "proc")
        os.makedirs(ksm)
        os.makedirs(procfs)
        for name, value in KSM.items():
            with open(os.path.join(ksm, name), "w") as f:
                f.write(value + "\n")
        with open(os.path.join(procfs, "meminfo"), "w") as f:
            f.write(MEMINFO)
        config = os.path.join(self.dir, "samepaged.conf")
        with open(config, "w") as f:
            f.write("[daemon]\nmonitor_interval=3600\n")
        self.bus = sptest.SystemBus(self.dir)
        self.daemon = sptest.Daemon(["--sysfs-root", sysfs, "--procfs-root", procfs,
                                     "--config", config, "--ksmtuned-config", "",
                                     "--state-dir", self.dir, "--connect", "test:///default"],
                                    env=self.bus.env(), log_dir=self.dir)
        self.bus.wait_for_name("org.samepage1")
        self.daemon.wait_log("committed 2.0 GiB")

    def tearDown(self):
        self.daemon.stop()
        self.bus.stop()
        sptest.remove_tree(self.dir)

    def test_ksmctl_examples(self):
        found = examples()
        self.assertGreaterEqual(len(found), 3)
        for command, expected in found:
            argv = command.split()
            self.assertEqual(argv[0], "ksmctl", command)
            run = subprocess.run([sptest.KSMCTL] + argv[1:], capture_output=True, text=True,
                                 env=dict(os.environ, **self.bus.env()),
                                 stdin=subprocess.DEVNULL)
            output = (run.stdout + run.stderr).splitlines()
            normalize = lambda lines: [TIME.sub("<time>", l.rstrip()) for l in lines]
            self.assertEqual(normalize(output), normalize(expected), command)


if __name__ == "__main__":
    sptest.run_tap()
