#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The built samepaged against temporary sysfs/procfs trees: it reads the
trees, decides on every tick, writes only the knobs that change, reloads on
SIGHUP, and restores the knobs on SIGTERM."""
import array
import fcntl
import os
import re
import signal
import subprocess
import termios
import unittest

import sptest

MEMINFO = """MemTotal:       16777216 kB
MemFree:         {free} kB
MemAvailable:    {avail} kB
Buffers:           10240 kB
Cached:           {cached} kB
SwapCached:            0 kB
Active:          1000000 kB
"""

# 6.18 files and their content at boot
KSM_FILES = sptest.KSM_BOOT_FILES
EMPTY_NODE = sptest.EMPTY_NODE
ADVISOR_FILES = [n for n in KSM_FILES if n.startswith("advisor_")]


def fifo_bytes(fd):
    """The bytes waiting in the FIFO fd (FIONREAD)."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]


class TickTest(unittest.TestCase):
    def setUp(self):
        self.dir = sptest.make_temp_dir("sp-tick-")
        self.sysfs = os.path.join(self.dir, "sys")
        self.procfs = os.path.join(self.dir, "proc")
        self.ksm = sptest.make_ksm_tree(self.sysfs, KSM_FILES)
        os.makedirs(self.procfs)
        self.set_available(12 * 1024 * 1024)
        self.config = os.path.join(self.dir, "samepaged.conf")
        self.write_config("[daemon]\nmonitor_interval=1\n")
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            self.daemon.stop()
        sptest.remove_tree(self.dir)

    def write_knob(self, name, value):
        sptest.write_knob(self.ksm, name, value)

    def knob(self, name):
        return sptest.read_knob(self.ksm, name)

    def set_available(self, kib):
        sptest.replace_file(os.path.join(self.procfs, "meminfo"),
                            MEMINFO.format(free=kib // 2, avail=kib, cached=kib // 2))

    def write_config(self, text):
        with open(self.config, "w") as f:
            f.write(text)

    def start(self, *extra, connect=EMPTY_NODE, prefix=None):
        # a libvirt node without domains keeps committed memory at 0
        args = ["--connect", connect] if connect else []
        self.daemon = sptest.Daemon(["--sysfs-root", self.sysfs, "--procfs-root", self.procfs,
                                     "--config", self.config, "--ksmtuned-config", "", "-v"]
                                    + args + list(extra), log_dir=self.dir, prefix=prefix)
        return self.daemon

    def test_knobs_follow_meminfo_on_next_tick(self):
        self.write_config("[daemon]\nmonitor_interval=1\n[tuning]\nscan_rate=classic\n")
        d = self.start()
        d.wait_log("stop: committed 0 KiB + threshold 3.2 GiB < total 16.0 GiB")
        self.assertEqual(self.knob("run"), "0")
        # memory pressure appears: the next tick starts KSM and boosts
        self.set_available(1024 * 1024)
        sptest.wait_for(lambda: self.knob("run") == "1", 5, what="run=1")
        self.assertEqual(self.knob("pages_to_scan"), "400")
        self.assertEqual(self.knob("sleep_millisecs"), "10")
        self.assertEqual(self.knob("advisor_mode"), "none")
        # stays under pressure: boost again on the following tick
        sptest.wait_for(lambda: self.knob("pages_to_scan") == "700", 5, what="boost to 700")
        # pressure goes away: stop
        self.set_available(12 * 1024 * 1024)
        sptest.wait_for(lambda: self.knob("run") == "0", 5, what="run=0")
        # SIGTERM puts back what it found at start
        self.assertEqual(d.stop(), 0)
        self.daemon = None
        self.assertEqual(self.knob("pages_to_scan"), "100")
        self.assertEqual(self.knob("sleep_millisecs"), "20")
        self.assertEqual(self.knob("run"), "0")

    def test_pressure_watch_between_ticks(self):
        # a 600 s tick: only the 5 s pressure watch can start and stop KSM
        self.write_config("[daemon]\nmonitor_interval=600\n[tuning]\nscan_rate=classic\n")
        d = self.start()
        d.wait_log("stop: committed 0 KiB + threshold 3.2 GiB < total 16.0 GiB")
        self.set_available(1024 * 1024)
        sptest.wait_for(lambda: self.knob("run") == "1", 8, what="run=1 from the watch")
        d.wait_log("Pressure watch: run: available 1.0 GiB < threshold 3.2 GiB")
        # one boost, not one per watch: the scan rate keeps the tick's pace
        self.assertEqual(self.knob("pages_to_scan"), "400")
        self.set_available(12 * 1024 * 1024)
        sptest.wait_for(lambda: self.knob("run") == "0", 8, what="run=0 from the watch")
        self.assertEqual(self.knob("pages_to_scan"), "400")
        d.wait_log("Pressure watch: stop:")

    def test_psi_trigger_retunes_at_once_at_the_top_rate(self):
        # pressure/memory is a FIFO: samepaged registers its trigger there and
        # watches it; pressure text written into it wakes samepaged as POLLPRI
        # does on the kernel's file. A 600 s tick and plenty of memory: only
        # the trigger can start KSM.
        os.makedirs(os.path.join(self.procfs, "pressure"))
        fifo = os.path.join(self.procfs, "pressure", "memory")
        os.mkfifo(fifo)
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        self.addCleanup(os.close, fd)
        self.write_config("[daemon]\nmonitor_interval=600\n"
                          "[tuning]\nscan_rate=classic\npressure_trigger=full 400000 2000000\n")
        d = self.start()
        d.wait_log("stop: committed 0 KiB + threshold 3.2 GiB < total 16.0 GiB")
        d.wait_log('Memory pressure trigger "full 400000 2000000" registered on')
        self.assertEqual(self.knob("run"), "0")
        # samepaged reads the trigger it wrote back from the FIFO (no event)
        sptest.wait_for(lambda: fifo_bytes(fd) == 0, 8, what="the trigger text read back")
        os.write(fd, b"some avg10=30.00 avg60=5.00 avg300=1.00 total=999\n"
                     b"full avg10=21.50 avg60=2.00 avg300=0.50 total=555\n")
        sptest.wait_for(lambda: self.knob("run") == "1", 8, what="run=1 from the trigger")
        self.assertEqual(self.knob("pages_to_scan"), "1250")
        d.wait_log("memory pressure: full >= 20 % over 2 s (avg10 21.50 %): retuning now, at the "
                   "top scan rate")
        d.wait_log("run: memory pressure: full >= 20 % over 2 s (avg10 21.50 %), available "
                   "12.0 GiB, threshold 3.2 GiB, pressure boost to 1250 pages")

    def test_advisor_steered_not_pages_to_scan(self):
        self.set_available(1024 * 1024)
        self.write_knob("full_scans", "7")
        self.write_knob("general_profit", str(512 << 20))  # KSM pays: no profit guard
        d = self.start()
        sptest.wait_for(lambda: self.knob("run") == "1", 5, what="run=1")
        # the warm-up: classic steering until KSM has done 2 full scans
        self.assertEqual(self.knob("advisor_mode"), "none")
        self.assertEqual(self.knob("pages_to_scan"), "400")
        self.assertIn("advisor warm-up (0 of 2 full scans done), boost to 400 pages",
                      d.output())
        self.write_knob("full_scans", "8")
        d.wait_log("advisor warm-up (1 of 2 full scans done)")
        self.assertEqual(self.knob("advisor_mode"), "none")
        # the second full scan: the advisor takes over, at the warm-up's intensity
        self.write_knob("full_scans", "9")
        sptest.wait_for(lambda: self.knob("advisor_mode") == "scan-time", 5,
                        what="the advisor after the warm-up")
        d.wait_log("advisor max_cpu")
        # the knobs the decision's reason names (its intensity is where the
        # warm-up's boosts left it)
        found = re.findall(r"advisor max_cpu (\d+) %, target scan time (\d+) s", d.output())
        self.assertEqual((self.knob("advisor_max_cpu"), self.knob("advisor_target_scan_time")),
                         found[-1])
        self.assertGreater(int(found[0][0]), 22, d.output()[-3000:])
        # pages_to_scan is not written once the advisor runs (a real kernel
        # resets it on the switch; this fake sysfs keeps the warm-up's last)
        last = self.knob("pages_to_scan")
        sptest.wait_for(lambda: d.output().count("advisor max_cpu") >= len(found) + 1, 5,
                        what="one more decision")
        self.assertEqual(self.knob("pages_to_scan"), last)
        self.assertEqual(d.stop(), 0)
        self.daemon = None
        self.assertEqual(self.knob("advisor_mode"), "none")
        self.assertEqual(self.knob("advisor_max_cpu"), "70")
        self.assertEqual(self.knob("run"), "0")

    def test_old_kernel_without_advisor(self):
        for name in ADVISOR_FILES + ["smart_scan", "general_profit", "ksm_zero_pages"]:
            os.unlink(os.path.join(self.ksm, name))
        self.set_available(1024 * 1024)
        d = self.start()
        sptest.wait_for(lambda: self.knob("run") == "1", 5, what="run=1")
        self.assertEqual(self.knob("pages_to_scan"), "400")
        for name in ADVISOR_FILES:
            self.assertFalse(os.path.exists(os.path.join(self.ksm, name)))
        self.assertNotIn("warning", d.output())

    def test_outside_change_is_noticed(self):
        self.write_config("[daemon]\nmonitor_interval=1\n[tuning]\nscan_rate=classic\n")
        self.set_available(1024 * 1024)
        d = self.start()
        sptest.wait_for(lambda: self.knob("run") == "1", 5, what="run=1")
        # another tool lowers pages_to_scan behind samepaged's back
        self.write_knob("pages_to_scan", "150")
        d.wait_log("changed outside samepaged (pages_to_scan")
        # the policy continued from the real value: 150 + 300
        sptest.wait_for(lambda: self.knob("pages_to_scan") in ("450", "750"), 5,
                        what="boost from the real value")
        # logged once, not on every tick
        sptest.wait_for(lambda: self.knob("pages_to_scan") == "1050", 5, what="next boosts")
        self.assertEqual(d.output().count("changed outside samepaged"), 1)

    def test_dry_run_writes_nothing(self):
        self.set_available(1024 * 1024)
        d = self.start("--dry-run")
        d.wait_log("dry run: would write run: 0 → 1", count=2)
        self.assertEqual(self.knob("run"), "0")
        self.assertEqual(self.knob("advisor_mode"), "none")

    def test_sighup_reload_good_and_bad(self):
        self.set_available(1024 * 1024)
        d = self.start()
        sptest.wait_for(lambda: self.knob("run") == "1", 5, what="run=1")
        # a bad reload keeps the old config and says why
        self.write_config("[daemon]\nmonitor_interval=1\nmode=sometimes\n")
        d.signal(signal.SIGHUP)
        d.wait_log("Keeping the previous configuration")
        self.assertIn("sometimes", d.output())
        self.assertEqual(self.knob("run"), "1")
        self.assertIsNone(d.proc.poll())
        # a good reload takes effect at once
        self.write_config("[daemon]\nmonitor_interval=1\nmode=never\n")
        d.signal(signal.SIGHUP)
        sptest.wait_for(lambda: self.knob("run") == "0", 5, what="run=0 after reload")
        d.wait_log("stop: mode is never")

    def test_bad_config_at_start(self):
        self.write_config("[tuning]\nnpages_max=99999999\n")
        d = self.start()
        self.assertEqual(d.proc.wait(10), 1)
        out = d.output()
        self.assertIn("npages_max", out)
        self.assertIn("99999999", out)
        self.assertIn("100000", out)
        self.assertEqual(self.knob("run"), "0")

    def test_ksm_absent_logs_once_and_idles(self):
        sptest.remove_tree(self.ksm)
        d = self.start()
        d.wait_log("KSM is not available: ")
        # three more ticks: no repeated message, no warnings, still alive
        import time
        time.sleep(3.2)
        self.assertIsNone(d.proc.poll())
        self.assertEqual(d.output().count("KSM is not available: "), 1)
        self.assertNotIn("warning", d.output())
        self.assertEqual(d.stop(), 0)
        self.daemon = None

    def test_unreadable_meminfo_logged_once(self):
        os.unlink(os.path.join(self.procfs, "meminfo"))
        d = self.start()
        d.wait_log("Cannot read memory information")
        import time
        time.sleep(2.2)
        self.assertEqual(d.output().count("Cannot read memory information"), 1)
        self.set_available(1024 * 1024)
        sptest.wait_for(lambda: self.knob("run") == "1", 5, what="recovery")
        d.wait_log("Memory information readable again")

    def test_ksmtuned_conf_import(self):
        ksmtuned = os.path.join(self.dir, "ksmtuned.conf")
        with open(ksmtuned, "w") as f:
            f.write("KSM_NPAGES_BOOST=1000\nKSM_BOGUS=1\n")
        self.write_config("[daemon]\nmonitor_interval=1\n[tuning]\nscan_rate=classic\n")
        self.set_available(1024 * 1024)
        self.daemon = sptest.Daemon(["--sysfs-root", self.sysfs, "--procfs-root", self.procfs,
                                     "--config", self.config, "--ksmtuned-config", ksmtuned,
                                     "--connect", EMPTY_NODE],
                                    log_dir=self.dir)
        sptest.wait_for(lambda: self.knob("run") == "1", 5, what="run=1")
        self.assertEqual(self.knob("pages_to_scan"), "1100")
        self.assertIn("ksmtuned.conf:2", self.daemon.output())

    def test_metrics_textfile_and_notify(self):
        import shutil
        import socket
        metrics = os.path.join(self.dir, "samepage.prom")
        notify_path = os.path.join(self.dir, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(10)
        self.addCleanup(notify.close)
        self.set_available(1024 * 1024)
        self.daemon = sptest.Daemon(["--sysfs-root", self.sysfs, "--procfs-root", self.procfs,
                                     "--config", self.config, "--ksmtuned-config", "",
                                     "--connect", EMPTY_NODE, "--metrics-textfile", metrics],
                                    env={"NOTIFY_SOCKET": notify_path}, log_dir=self.dir)
        # systemd hears READY=1 and the reason of each decision
        messages = set()
        while not ({"READY=1"} <= messages and any(m.startswith("STATUS=run:") for m in messages)):
            messages.add(notify.recv(4096).decode())
        sptest.wait_for(lambda: os.path.exists(metrics), 5, what="metrics file")
        with open(metrics) as f:
            text = f.read()
        self.assertIn('samepage_decision{action="run"} 1\n', text)
        self.assertIn("samepage_ksm_run 1\n", text)
        self.assertIn("samepage_memory_total_bytes 17179869184\n", text)
        promtool = shutil.which("promtool")
        if promtool:
            check = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                                   capture_output=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_embedded_default_without_libvirt_daemon(self):
        # no --connect, no connect key, and no libvirt daemon at
        # qemu:///system: samepaged runs in a mount namespace of its own
        # where /run/libvirt (and /var/run/libvirt) is an empty tmpfs, so
        # this runs on every host, one with a system libvirtd included; it
        # uses the embedded test driver and says so
        d = self.start(connect=None, prefix=without_system_libvirt())
        d.wait_log("using libvirt's embedded test driver test:///default")
        # its one running domain ("test", 2 GiB) is committed memory
        d.wait_log("Refreshed 1 domain(s), 1 active, committed 2097152 KiB")
        d.wait_log("stop: committed 2.0 GiB + threshold")
        self.assertNotIn("namespace:", d.output())


# The directories where a system libvirt daemon has its sockets.
LIBVIRT_RUN_DIRS = ["/run/libvirt", "/var/run/libvirt"]


def without_system_libvirt():
    """A command prefix that runs a program in a new mount namespace with an
    empty tmpfs over each libvirt socket directory of this host: there, no
    libvirt daemon answers at qemu:///system. Mounts made there never reach
    the host. As root: unshare --mount; otherwise in a user namespace of
    its own (unshare --user --map-root-user), where the user may mount."""
    namespace = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        namespace[1:1] = ["--user", "--map-root-user"]
    script = ('for d in "$@"; do [ "$d" = -- ] && break; '
              '[ -d "$d" ] && { mount -t tmpfs -o mode=0755 samepage-test "$d" || exit 125; }; '
              'done; '
              'while [ "$1" != -- ]; do shift; done; shift; '
              'for s in /run/libvirt/libvirt-sock /var/run/libvirt/libvirt-sock '
              '/run/libvirt/virtqemud-sock /var/run/libvirt/virtqemud-sock; do '
              '[ -e "$s" ] && { echo "namespace: $s still exists" >&2; exit 125; }; done; '
              'exec "$@"')
    return namespace + ["sh", "-c", script, "sh"] + LIBVIRT_RUN_DIRS + ["--"]

if __name__ == "__main__":
    sptest.run_tap()
