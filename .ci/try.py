#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs the built samepaged in the foreground (see .ci/try)."""
import os
import signal
import subprocess
import sys
import tempfile

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
    print("samepage: samepaged runs in the foreground; Ctrl-C stops it.", file=sys.stderr)
    proc = subprocess.Popen([samepaged, "--verbose", "--state-dir", state] + sys.argv[2:],
                            env=env)
    signal.signal(signal.SIGINT, lambda *_: proc.send_signal(signal.SIGINT))
    signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
    code = proc.wait()
    if bus:
        bus.stop()
    sptest.remove_tree(state)
    return code


if __name__ == "__main__":
    sys.exit(main())
