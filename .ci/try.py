#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs the built samepaged in the foreground (see .ci/try).

When no libvirt daemon answers at qemu:///system and QEMU is installed, it
also starts a private libvirtd with two tiny TCG guests (tests/sptestbed.py)
and starts and stops them while printing `ksmctl status`, so there is
something real to watch: guests filling memory, KSM starting, pages merged.
"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import sptest  # noqa: E402


def system_bus_answers():
    if os.environ.get("DBUS_SYSTEM_BUS_ADDRESS"):
        return True
    return subprocess.run(["gdbus", "call", "--system", "--dest", "org.freedesktop.DBus",
                           "--object-path", "/org/freedesktop/DBus", "--method",
                           "org.freedesktop.DBus.GetId"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def system_libvirt_answers():
    return subprocess.run(["virsh", "-c", "qemu:///system", "version"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def meminfo_kib(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s in /proc/meminfo" % key)


def watch(ksmctl, env, stop):
    """Prints the lines of ksmctl status that move, every 3 s."""
    keep = ("KSM:", "Saved:", "Committed:", "Threshold:", "libvirt:", "Why:")
    while not stop.is_set():
        out = subprocess.run([ksmctl, "status"], env=env, capture_output=True, text=True).stdout
        lines = [l for l in out.splitlines() if l.startswith(keep)]
        print("---- ksmctl status (%s)\n%s" % (time.strftime("%H:%M:%S"), "\n".join(lines)),
              flush=True)
        stop.wait(3)


def demo(lv, stop):
    """Starts and stops the two guests while samepaged tunes."""
    steps = [("start", "g1", 25), ("start", "g2", 35), ("destroy", "g1", 15),
             ("destroy", "g2", 10)]
    for action, guest, pause in steps:
        if stop.is_set():
            return
        print("==== virsh %s %s" % (action, guest), flush=True)
        getattr(lv, action)(guest)
        stop.wait(pause)
    print("==== demo done: samepaged keeps running; Ctrl-C stops it", flush=True)


def main():
    builddir = sys.argv[1]
    samepaged = os.path.join(ROOT, builddir, "daemon", "samepaged")
    ksmctl = os.path.join(ROOT, builddir, "client", "ksmctl")
    env = dict(os.environ)
    bus = None
    state = tempfile.mkdtemp(prefix="samepage-try-")
    if not system_bus_answers():
        bus = sptest.SystemBus(state)
        env.update(bus.env())
        print("samepage: no system bus runs here; started a private one.\n"
              "  In another terminal, as root:\n"
              "    DBUS_SYSTEM_BUS_ADDRESS=%s %s status\n"
              "    DBUS_SYSTEM_BUS_ADDRESS=%s %s monitor"
              % (bus.address, ksmctl, bus.address, ksmctl), file=sys.stderr)
    else:
        print("samepage: in another terminal: %s status   (or: %s monitor)" % (ksmctl, ksmctl),
              file=sys.stderr)
    args = ["--state-dir", state]
    lv = None
    stop = threading.Event()
    threads = []
    if (not any(a.startswith("--connect") for a in sys.argv[2:]) and not system_libvirt_answers()
            and os.path.exists("/usr/bin/qemu-system-x86_64") and os.geteuid() == 0):
        import sptestbed
        print("samepage: no libvirt daemon answers at qemu:///system: starting a private one "
              "with two tiny guests (g1, g2) to watch", file=sys.stderr)
        lv = sptestbed.PrivateLibvirtd()
        lv.start_daemon()
        for name in ("g1", "g2"):
            lv.define_guest(name, memory_mib=256, fill_mib=160)
        # a threshold just under the memory available now: guests filling
        # memory push free memory below it and KSM starts, merging brings
        # it back (on a real host the defaults apply)
        thres = max(meminfo_kib("MemAvailable") - 200 * 1024, 2048)
        config = os.path.join(state, "demo.conf")
        with open(config, "w") as f:
            f.write("[daemon]\nmonitor_interval=3\n[tuning]\nthres_coef=0\nthres_const=%d\n"
                    "hysteresis=1\nscan_rate=classic\nnpages_boost=1000\nnpages_max=5000\n" % thres)
        args += ["--connect", lv.uri, "--config", config, "--ksmtuned-config", ""]
    print("samepage: samepaged runs in the foreground; Ctrl-C stops it.", file=sys.stderr)
    proc = subprocess.Popen([samepaged] + args + sys.argv[2:], env=env)
    signal.signal(signal.SIGINT, lambda *_: proc.send_signal(signal.SIGINT))
    signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
    if lv:
        time.sleep(2)
        threads = [threading.Thread(target=watch, args=(ksmctl, env, stop), daemon=True),
                   threading.Thread(target=demo, args=(lv, stop), daemon=True)]
        for t in threads:
            t.start()
    try:
        code = proc.wait()
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        if lv:
            lv.stop()
        if bus:
            bus.stop()
        sptest.remove_tree(state)
    return code


if __name__ == "__main__":
    sys.exit(main())
