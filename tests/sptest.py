# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers of samepage's Python integration and system tests.

Tests are unittest cases; run_tap() reports them as TAP so the suite's
summary counts each case. Every process a test starts is stopped by PID and
every KSM knob it touches is restored, even on failure.
"""
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
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


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
    for name in KSM_KNOBS:
        if name not in saved:
            continue
        try:
            with open(os.path.join(REAL_KSM, name), "w") as f:
                f.write(saved[name])
        except OSError as e:
            sys.stderr.write("could not restore %s: %s\n" % (name, e))


class Daemon:
    """A samepaged process with its log captured to a file."""

    def __init__(self, args, env=None, log_dir=None):
        self.log_path = os.path.join(log_dir or tempfile.gettempdir(),
                                     "samepaged-%d.log" % time.monotonic_ns())
        self.log = open(self.log_path, "w+")
        full_env = dict(os.environ)
        full_env.pop("NOTIFY_SOCKET", None)
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen([SAMEPAGED] + args, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env)
        self.pid = self.proc.pid

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, text, timeout=10.0, count=1):
        return wait_for(lambda: self.output().count(text) >= count, timeout,
                        what="%r in samepaged's log:\n%s" % (text, self.output()[-3000:]))

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
