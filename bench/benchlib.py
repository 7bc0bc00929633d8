# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers of the bench/ scripts (not part of the test run).

They reuse tests/sptest.py and tests/sptestbed.py. The build directory is
$BUILD (default /tmp/build-bench); set it up with
    meson setup /tmp/build-bench && meson compile -C /tmp/build-bench
"""
import datetime
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE, "tests"))
BUILD = os.environ.get("BUILD", "/tmp/build-bench")
os.environ.setdefault("SAMEPAGED", os.path.join(BUILD, "daemon", "samepaged"))
os.environ.setdefault("KSMCTL", os.path.join(BUILD, "client", "ksmctl"))

import sptest  # noqa: E402

SAMEPAGED = os.environ["SAMEPAGED"]
KSMCTL = os.environ["KSMCTL"]

# a 6.x kernel's KSM directory at boot (as tests/system-libvirt.py)
KSM_FILES = sptest.KSM_BOOT_FILES

LOG_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) (\w+): ([\w-]+): (.*)$", re.M)
REFRESHED = re.compile(r"Refreshed (\d+) domain\(s\), (\d+) active, committed (\d+) KiB")
# A build before issue 16 waited 100 ms after an event before it refreshed
# (SP_LIBVIRT_DEBOUNCE_MS); set SP_BENCH_DEBOUNCE_MS=100 to measure one. Now
# the first event after a quiet period refreshes at once.
DEBOUNCE_MS = int(os.environ.get("SP_BENCH_DEBOUNCE_MS", "0"))

MEMINFO = sptest.FIXED_MEMINFO


def make_sysfs(directory):
    """directory/sys/kernel/mm/ksm as at boot (sptest.make_ksm_tree); returns it."""
    return sptest.make_ksm_tree(os.path.join(directory, "sys"), KSM_FILES)


def log_lines(text):
    """[(ms since midnight, level, domain, message)] of samepaged's log."""
    out = []
    for m in LOG_LINE.finditer(text):
        h, mi, s, ms = (int(x) for x in m.groups()[:4])
        out.append((((h * 60 + mi) * 60 + s) * 1000 + ms, m.group(5), m.group(6), m.group(7)))
    return out


def is_decision(line):
    """A tuner's decision line (logged at debug or notice on every decision)."""
    return line[2] == "samepaged-tuner" and line[3].split(":")[0] in ("run", "stop", "none")


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def timed(argv, env=None, runs=50):
    """Wall-clock seconds of argv, runs times; raises on failure."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t)
        if r.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(argv), r.stderr.decode()))
    return times


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def med(values):
    return statistics.median(values) if values else float("nan")


def table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths)) + " |"
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def banner(argv):
    return ("%s, %s, kernel %s, %d CPUs\nreproduce: cd %s && BUILD=%s python3 %s"
            % (datetime.date.today().isoformat(), os.uname().nodename, os.uname().release,
               os.cpu_count(), SOURCE, BUILD, " ".join(os.path.relpath(a, SOURCE)
                                                      if i == 0 else a
                                                      for i, a in enumerate(argv))))
