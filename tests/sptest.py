# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers of samepage's Python integration and system tests.

Tests are unittest cases; run_tap() reports them as TAP so the suite's
summary counts each case. Every process a test starts is stopped by PID and
every KSM knob it touches is restored, even on failure.
"""
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SAMEPAGED = os.environ.get("SAMEPAGED", "")
KSMCTL = os.environ.get("KSMCTL", "")
SOURCE_ROOT = os.environ.get("SP_SOURCE_ROOT",
                             os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REAL_KSM = "/sys/kernel/mm/ksm"

# samepaged's D-Bus API (data/org.samepage1.Manager.xml) and polkit actions
NAME = "org.samepage1"
PATH = "/org/samepage1"
MANAGER = "org.samepage1.Manager"
DOMAIN = "org.samepage1.Domain"
PROPERTIES = "org.freedesktop.DBus.Properties"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
API_XML = os.path.join(SOURCE_ROOT, "data", "org.samepage1.Manager.xml")
POLICY = os.path.join(SOURCE_ROOT, "polkit", "org.samepage1.policy")

# libvirt test driver nodes: tests/data/libvirt/node.xml (six domains,
# NODE_COMMITTED_KIB of them counted) and empty.xml (none)
NODE_XML = os.path.join(SOURCE_ROOT, "tests", "data", "libvirt", "node.xml")
NODE_COMMITTED_KIB = 786432  # plain 512 MiB + small 256 MiB
EMPTY_NODE = "test://" + os.path.join(SOURCE_ROOT, "tests", "data", "libvirt", "empty.xml")

# A fixed /proc/meminfo for tests and benchmarks that bind it over the real
# one: MemFree = MemAvailable = {avail}, so samepaged and ksmtuned (MemFree +
# Buffers + Cached) see the same free memory, give or take 11 MiB.
FIXED_MEMINFO = """MemTotal:       {total} kB
MemFree:        {avail} kB
MemAvailable:   {avail} kB
Buffers:           1024 kB
Cached:           10240 kB
SwapCached:           0 kB
Active:           20480 kB
"""

# The KSM files of a 6.18 kernel (what tests/data/sysfs-6.18 mirrors), for
# temporary sysfs trees: as at boot, and with distinct counter values for
# tests that compare what samepaged reports with the files.
KSM_BOOT_FILES = {
    "run": "0", "pages_to_scan": "100", "sleep_millisecs": "20", "pages_shared": "0",
    "pages_sharing": "0", "pages_unshared": "0", "pages_volatile": "0", "full_scans": "0",
    "pages_scanned": "0", "pages_skipped": "0", "general_profit": "0", "ksm_zero_pages": "0",
    "max_page_sharing": "256", "merge_across_nodes": "1", "use_zero_pages": "0",
    "smart_scan": "1", "stable_node_chains": "0", "stable_node_dups": "0",
    "stable_node_chains_prune_millisecs": "2000", "advisor_mode": "[none] scan-time",
    "advisor_target_scan_time": "200", "advisor_max_cpu": "70",
    "advisor_min_pages_to_scan": "500", "advisor_max_pages_to_scan": "30000",
}
KSM_SAMPLE_FILES = {
    "run": "0", "pages_to_scan": "100", "sleep_millisecs": "20", "pages_shared": "50",
    "pages_sharing": "300", "pages_unshared": "7", "pages_volatile": "3", "full_scans": "2",
    "pages_scanned": "9000", "pages_skipped": "11", "general_profit": "123456",
    "ksm_zero_pages": "5", "max_page_sharing": "256", "merge_across_nodes": "1",
    "use_zero_pages": "0", "smart_scan": "1", "stable_node_chains": "0",
    "stable_node_dups": "0", "stable_node_chains_prune_millisecs": "2000",
    "advisor_mode": "[none] scan-time", "advisor_target_scan_time": "200",
    "advisor_max_cpu": "70", "advisor_min_pages_to_scan": "500",
    "advisor_max_pages_to_scan": "30000",
}

# Every knob a tuner may write, in an order that restores cleanly (advisor
# off before pages_to_scan, run last).
KSM_KNOBS = ["advisor_mode", "advisor_max_cpu", "advisor_target_scan_time",
             "advisor_min_pages_to_scan", "advisor_max_pages_to_scan",
             "pages_to_scan", "sleep_millisecs", "max_page_sharing",
             "use_zero_pages", "smart_scan", "stable_node_chains_prune_millisecs",
             "run"]


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            # what may be a callable: a message made at the timeout (a log's tail then)
            raise AssertionError("timed out after %.1f s waiting for %s"
                                 % (timeout, what() if callable(what) else what))
        time.sleep(interval)


def make_ksm_tree(sysfs, files):
    """sysfs/kernel/mm/ksm (created) with files {name: value}, each value
    written with a newline as the kernel shows it; returns the directory."""
    ksm = os.path.join(sysfs, "kernel", "mm", "ksm")
    os.makedirs(ksm)
    for name, value in files.items():
        write_knob(ksm, name, value)
    return ksm


def write_knob(ksm_dir, name, value):
    with open(os.path.join(ksm_dir, name), "w") as f:
        f.write(value + "\n")


def replace_file(path, text):
    """Writes path through a temporary file and a rename, so that a reader
    (samepaged reading /proc/meminfo) never sees it half written."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def read_knob(ksm_dir, name):
    with open(os.path.join(ksm_dir, name)) as f:
        value = f.read().strip()
    if name == "advisor_mode":
        # "[none] scan-time" -> "none"
        for word in value.split():
            if word.startswith("["):
                return word.strip("[]")
    return value


def save_real_knobs():
    saved = {}
    for name in KSM_KNOBS:
        path = os.path.join(REAL_KSM, name)
        if os.path.exists(path):
            saved[name] = read_knob(REAL_KSM, name)
    return saved


def restore_real_knobs(saved):
    """Puts every knob back; run=2 first unmerges what a test merged."""
    if not saved:
        return
    try:
        with open(os.path.join(REAL_KSM, "run"), "w") as f:
            f.write("2")
    except OSError:
        pass
    # the advisor off while pages_to_scan is written (EINVAL under it); its
    # saved mode comes back with the others, after pages_to_scan
    if "advisor_mode" in saved:
        try:
            with open(os.path.join(REAL_KSM, "advisor_mode"), "w") as f:
                f.write("none")
        except OSError:
            pass
    last = ["advisor_mode", "run"]
    for name in [k for k in KSM_KNOBS if k not in last] + last:
        if name not in saved:
            continue
        try:
            with open(os.path.join(REAL_KSM, name), "w") as f:
                f.write(saved[name])
        except OSError as e:
            sys.stderr.write("could not restore %s: %s\n" % (name, e))


class Daemon:
    """A samepaged process with its log captured to a file.

    Without DBUS_SYSTEM_BUS_ADDRESS in env, samepaged gets the address of a
    socket that does not exist: it tunes without a D-Bus API and never
    touches a system bus the machine may have (see SystemBus for one).
    prefix runs samepaged through another command (setpriv ...). Without
    --state-dir in args, samepaged keeps its state (overrides.conf,
    ksm-originals) in a directory next to its log, never in
    /var/lib/samepage."""

    def __init__(self, args, env=None, log_dir=None, prefix=None):
        self.log_path = os.path.join(log_dir or tempfile.gettempdir(),
                                     "samepaged-%d.log" % time.monotonic_ns())
        if "--state-dir" not in args and not any(a.startswith("--state-dir=") for a in args):
            args = args + ["--state-dir", self.log_path[:-len(".log")] + ".state"]
        self.log = open(self.log_path, "w+")
        full_env = dict(os.environ)
        full_env.pop("NOTIFY_SOCKET", None)
        full_env["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=" + os.path.join(
            os.path.dirname(self.log_path), "no-system-bus")
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen((prefix or []) + [SAMEPAGED] + args, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=full_env)
        self.pid = self.proc.pid

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, text, timeout=10.0, count=1):
        return wait_for(lambda: self.output().count(text) >= count, timeout,
                        what=lambda: "%r in samepaged's log:\n%s" % (text, self.output()[-3000:]))

    def wait_log_from(self, offset, text, timeout=10.0, interval=0.05):
        """text in the log after its first offset characters (a mark taken
        with len(output()) before what should log it)."""
        return wait_for(lambda: text in self.output()[offset:], timeout, interval,
                        what=lambda: "%r in samepaged's log:\n%s" % (text, self.output()[-3000:]))

    def signal(self, sig):
        os.kill(self.pid, sig)

    def stop(self, timeout=10.0):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def __del__(self):
        if getattr(self, "proc", None) and self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)


# Runs a command as nobody, with no supplementary groups.
AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

POLKITD = "/usr/lib/polkit-1/polkitd"
POLKIT_ACTIONS_DIR = "/usr/share/polkit-1/actions"

# A bus of the system type on a socket of a test's own; {policy} says who
# may do what on it.
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
{policy}</busconfig>
"""

# The policy of Debian's /usr/share/dbus-1/system.conf (default deny), the
# policies installed in /usr/share/dbus-1/system.d (polkitd's among them)
# and samepage's own data/org.samepage1.conf.
SYSTEM_BUS_POLICY = """  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <includedir>/usr/share/dbus-1/system.d</includedir>
  <include>{samepage_policy}</include>
"""

# Everything allowed to everyone: for a fake samepaged (spfakedaemon.py).
OPEN_BUS_POLICY = """  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
"""


def bus_connect(address):
    """A client connection to the message bus at address (Gio, python3-gi)."""
    from gi.repository import Gio
    return Gio.DBusConnection.new_for_address_sync(
        address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)


class SystemBus:
    """A private dbus-daemon set up like the system bus, in directory (made
    reachable by every user: polkitd and nobody connect to it). Clients and
    samepaged reach it through env(). policy: what BUS_CONFIG takes, the
    system bus's (SYSTEM_BUS_POLICY) unless given."""

    def __init__(self, directory, policy=None):
        if policy is None:
            policy = SYSTEM_BUS_POLICY.format(
                samepage_policy=os.path.join(SOURCE_ROOT, "data", "org.samepage1.conf"))
        os.chmod(directory, 0o755)
        self.config = os.path.join(directory, "system-bus.conf")
        with open(self.config, "w") as f:
            f.write(BUS_CONFIG.format(socket=os.path.join(directory, "system_bus_socket"),
                                      policy=policy))
        self.log = open(os.path.join(directory, "dbus-daemon.log"), "w")
        self.proc = subprocess.Popen(["dbus-daemon", "--config-file=" + self.config, "--nofork",
                                      "--print-address=1"], stdout=subprocess.PIPE,
                                     stderr=self.log, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.address = self.proc.stdout.readline().decode().strip()
        if not self.address:
            self.stop()
            raise RuntimeError("dbus-daemon --config-file=%s did not start" % self.config)

    def env(self):
        return {"DBUS_SYSTEM_BUS_ADDRESS": self.address}

    def wait_for_name(self, name, timeout=15):
        subprocess.run(["gdbus", "wait", "--address", self.address, "--timeout",
                        str(int(timeout)), name], check=True, stdin=subprocess.DEVNULL)

    def stop(self):
        code = stop_process(self.proc)
        self.proc.stdout.close()
        self.log.close()
        return code


class BusGuard:
    """A SystemBus (and the test's directory) for sptestbed's SIGTERM
    handler, which calls kill_now() on what its registry holds."""

    def __init__(self, bus, directory):
        self.bus = bus
        self.dir = directory

    def kill_now(self):
        stop_process(self.bus.proc)
        remove_tree(self.dir)


class Polkitd:
    """The real polkitd on bus, logging to a file in log_dir."""

    def __init__(self, bus, log_dir):
        self.log = open(os.path.join(log_dir, "polkitd.log"), "w")
        env = dict(os.environ)
        env.update(bus.env())
        self.proc = subprocess.Popen([POLKITD, "--no-debug"], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.pid = self.proc.pid
        try:
            bus.wait_for_name("org.freedesktop.PolicyKit1")
        except subprocess.CalledProcessError:
            self.stop()
            raise

    def stop(self):
        code = stop_process(self.proc)
        self.log.close()
        return code


class PlacedFile:
    """Puts a copy of source at target for a test (a polkit action file in
    /usr/share/polkit-1/actions) and restore() puts back what was there.

    Tests run in parallel (meson test -j 2), and several of them place the
    same action file: each holds a shared flock on a lock file in /run/lock
    (never removed, so every test locks the same inode) while it needs the
    file, and only the last one out (the one that gets the lock exclusively)
    puts back what the first one in found, kept beside the lock (an empty
    file: there was none)."""

    def __init__(self, source, target):
        self.target = target
        stem = os.path.join("/run/lock", "samepage-test-" + os.path.basename(target))
        self.saved_path = stem + ".saved"
        with open(source, "rb") as f:
            content = f.read()
        self.lock = open(stem + ".lock", "a+b")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        try:
            if not os.path.exists(self.saved_path):
                with open(self.saved_path, "wb") as f:
                    if os.path.exists(target):
                        with open(target, "rb") as old:
                            f.write(b"K" + old.read())
            with open(target, "wb") as f:
                f.write(content)
        finally:
            fcntl.flock(self.lock, fcntl.LOCK_SH)
        self.placed = True

    def restore(self):
        if not self.placed:
            return
        self.placed = False
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.lock.close()  # another test still needs the file: it restores
            return
        with open(self.saved_path, "rb") as f:
            saved = f.read()
        if saved.startswith(b"K"):
            with open(self.target, "wb") as f:
                f.write(saved[1:])
        elif os.path.exists(self.target):
            os.unlink(self.target)
        os.unlink(self.saved_path)
        self.lock.close()


def stop_process(proc, timeout=10.0):
    """SIGTERM (then SIGKILL) to one process we started, by its PID."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


class TapResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.n = 0

    def _line(self, ok, test, extra=""):
        self.n += 1
        print("%s %d - %s%s" % ("ok" if ok else "not ok", self.n, test.id(), extra), flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(True, test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(False, test)
        for line in self._exc_info_to_string(err, test).splitlines():
            print("# " + line)

    def addError(self, test, err):
        super().addError(test, err)
        self._line(False, test)
        for line in self._exc_info_to_string(err, test).splitlines():
            print("# " + line)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(True, test, " # SKIP " + reason)


def run_tap(module_name="__main__"):
    suite = unittest.defaultTestLoader.loadTestsFromName(module_name)
    print("1..%d" % suite.countTestCases(), flush=True)
    result = TapResult()
    suite.run(result)
    sys.exit(0 if result.wasSuccessful() else 1)


def make_temp_dir(prefix):
    path = tempfile.mkdtemp(prefix=prefix)
    return path


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
