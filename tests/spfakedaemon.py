# SPDX-License-Identifier: GPL-2.0-or-later
"""A fake samepaged for ksmctl's tests (integration-ksmctl.py).

It exports the objects of data/org.samepage1.Manager.xml itself on the
system bus of its environment, so every call a client makes is checked
against the contract's signatures. It serves the values of a JSON config
({"manager": {...}, "domains": [{...}], "errors": {method: [name, message]},
"retune": {...}}), records every call (with the D-Bus types of SetTuning's
values and the interactive flag) as JSON lines, answers with errors when
told to, emits Tuned on request ({"emit": [action, reason, time_us]}
on its stdin), and changes a domain's properties with their
PropertiesChanged ({"domain": [uuid, {property: value}]}).

FakeSamepaged runs it in a process of its own (this file run by an
interpreter with python3-gi) and stops it by its PID.
"""
import json
import os
import select
import signal
import subprocess
import sys

import sptest


FAKE_EXTRA_XML = """
<node>
  <interface name="org.freedesktop.DBus.ObjectManager">
    <method name="GetManagedObjects">
      <arg name="objects" type="a{oa{sa{sv}}}" direction="out"/>
    </method>
  </interface>
</node>
"""


def domain_path(uuid):
    return "/org/samepage1/domain/" + uuid.replace("-", "_")


def serve(config_path, log_path):
    """The fake itself (in its own process, with python3-gi): serves the
    config's objects on the system bus of its environment until SIGTERM,
    stdin's end or the loss of the name; one JSON command per stdin line."""
    from gi.repository import Gio, GLib

    with open(config_path) as f:
        config = json.load(f)
    manager = config["manager"]
    domains = config["domains"]
    errors = config.get("errors", {})
    with open(sptest.API_XML) as f:
        node = Gio.DBusNodeInfo.new_for_xml(f.read())
    manager_info = node.lookup_interface("org.samepage1.Manager")
    domain_info = node.lookup_interface("org.samepage1.Domain")
    om_info = Gio.DBusNodeInfo.new_for_xml(FAKE_EXTRA_XML).interfaces[0]
    log = open(log_path, "a")
    bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)

    def record(entry):
        log.write(json.dumps(entry) + "\n")
        log.flush()

    def typed(signature, value):
        if signature == "a{sv}":
            return GLib.Variant("a{sv}", {k: typed_any(v) for k, v in value.items()})
        return GLib.Variant(signature, value)

    def typed_any(value):
        if isinstance(value, bool):
            return GLib.Variant("b", value)
        if isinstance(value, int):
            return GLib.Variant("x", value)
        return GLib.Variant("s", value)

    def props_of(info, values):
        return {p.name: typed(p.signature, values[p.name]) for p in info.properties}

    def find_domain(name_or_uuid):
        for d in domains:
            if name_or_uuid in (d["Name"], d["Uuid"]):
                return d
        return None

    def emit_tuned(action, reason, time_us):
        bus.emit_signal(None, "/org/samepage1", "org.samepage1.Manager", "Tuned",
                        GLib.Variant("(sst)", (action, reason, time_us)))

    def change_domain(uuid, changes):
        d = find_domain(uuid)
        d.update(changes)
        changed = {name: typed(domain_info.lookup_property(name).signature, value)
                   for name, value in changes.items()}
        bus.emit_signal(None, domain_path(uuid), "org.freedesktop.DBus.Properties",
                        "PropertiesChanged",
                        GLib.Variant("(sa{sv}as)", ("org.samepage1.Domain", changed, [])))

    def manager_call(conn, sender, path, iface, method, params, invocation):
        flags = invocation.get_message().get_flags()
        entry = {"method": method,
                 "interactive": bool(flags & Gio.DBusMessageFlags.ALLOW_INTERACTIVE_AUTHORIZATION)}
        if method == "SetTuning":
            settings = params.get_child_value(0)
            entry["settings"] = {}
            for i in range(settings.n_children()):
                item = settings.get_child_value(i)
                value = item.get_child_value(1).get_variant()
                entry["settings"][item.get_child_value(0).get_string()] = [
                    value.get_type_string(), value.unpack()]
        else:
            entry["args"] = list(params.unpack())
        record(entry)
        if method in errors:
            invocation.return_dbus_error(errors[method][0], errors[method][1])
            return
        if method == "GetManagedObjects":
            objects = {"/org/samepage1": {"org.samepage1.Manager": props_of(manager_info, manager)}}
            for d in domains:
                objects[domain_path(d["Uuid"])] = {"org.samepage1.Domain": props_of(domain_info, d)}
            invocation.return_value(GLib.Variant("(a{oa{sa{sv}}})", (objects,)))
            return
        if method == "SetTuning":
            manager["Tuning"].update({k: v[1] for k, v in entry["settings"].items()})
        elif method == "SetMode":
            manager["Mode"] = entry["args"][0]
        elif method == "Retune":
            manager.update(config["retune"])
            emit_tuned(manager["LastAction"], manager["LastReason"], manager["LastDecisionTime"])
        elif method == "SetMemMerge":
            d = find_domain(entry["args"][0])
            if d is None:
                invocation.return_dbus_error("org.samepage1.Error.UnknownDomain",
                                             "no domain '%s'" % entry["args"][0])
                return
            d["MemMerge"] = entry["args"][1]
            if not d["Active"]:
                d["MemMergeActive"] = d["MemMerge"]
            d["PendingRestart"] = d["MemMerge"] != d["MemMergeActive"]
        invocation.return_value(None)

    def manager_get(conn, sender, path, iface, name):
        record({"method": "Get", "property": name})
        return typed(manager_info.lookup_property(name).signature, manager[name])

    def domain_get(conn, sender, path, iface, name):
        for d in domains:
            if domain_path(d["Uuid"]) == path:
                return typed(domain_info.lookup_property(name).signature, d[name])
        return None

    bus.register_object("/org/samepage1", manager_info, manager_call, manager_get, None)
    bus.register_object("/org/samepage1", om_info, manager_call, None, None)
    for d in domains:
        bus.register_object(domain_path(d["Uuid"]), domain_info, None, domain_get, None)

    pending = bytearray()

    def on_command(channel, condition):
        # one JSON command per line; several may arrive in one read
        data = os.read(sys.stdin.fileno(), 65536)
        if not data:
            loop.quit()
            return False
        pending.extend(data)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            command = json.loads(line)
            if "emit" in command:
                emit_tuned(*command["emit"])
            if "domain" in command:
                change_domain(*command["domain"])
        bus.flush_sync(None)
        return True

    def on_acquired(conn, name):
        print("READY", flush=True)

    def on_lost(conn, name):
        sys.stderr.write("fake samepaged: lost %s\n" % name)
        loop.quit()

    loop = GLib.MainLoop()
    GLib.io_add_watch(GLib.IOChannel.unix_new(sys.stdin.fileno()), GLib.PRIORITY_DEFAULT,
                      GLib.IOCondition.IN | GLib.IOCondition.HUP, on_command)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    Gio.bus_own_name_on_connection(bus, "org.samepage1", Gio.BusNameOwnerFlags.DO_NOT_QUEUE,
                                   on_acquired, on_lost)
    loop.run()


def find_gi_python():
    """An interpreter with python3-gi: this one, else Debian's."""
    for exe in (sys.executable, "/usr/bin/python3"):
        if exe and os.access(exe, os.X_OK):
            probe = subprocess.run([exe, "-c", "from gi.repository import Gio"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if probe.returncode == 0:
                return exe
    return None


GI_PYTHON = find_gi_python()



def read_calls(log_path, method=None):
    """The calls a fake logged to log_path, in order; those of method only if given."""
    with open(log_path) as f:
        entries = [json.loads(line) for line in f if line.strip()]
    return [e for e in entries if method is None or e["method"] == method]


class FakeSamepaged:
    """The fake in a process of its own on the bus of env, serving config;
    its calls are logged to log_path, its stderr to directory/fake.err.
    Returns once it owns org.samepage1."""

    def __init__(self, config, directory, log_path, env, timeout=15):
        self.log_path = log_path
        config_path = os.path.join(directory, "fake.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        open(self.log_path, "w").close()
        self.stderr = open(os.path.join(directory, "fake.err"), "w")
        self.proc = subprocess.Popen([GI_PYTHON, os.path.abspath(__file__), config_path,
                                      log_path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr,
                                     env=env, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "READY":
            self.stop()
            raise AssertionError("fake samepaged did not start")

    def command(self, command):
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def calls(self, method=None):
        return read_calls(self.log_path, method)

    def stop(self):
        self.proc.stdin.close()
        sptest.stop_process(self.proc)
        self.proc.stdout.close()
        self.stderr.close()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
