#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The built ksmctl against a fake org.samepage1 on a private system bus.

The fake (spfakedaemon.py) exports the objects of
data/org.samepage1.Manager.xml itself, so every call ksmctl makes is checked
against the contract's signatures. It serves fixed values, records every call
(with the D-Bus types of SetTuning's values and the interactive flag) as JSON
lines, answers with errors when told to, and emits Tuned on request. Tests
check ksmctl's output field by field against the served values, and its exit
codes: 0 ok, 1 daemon error, 2 usage, 3 not authorised, 4 daemon absent.
"""
import json
import os
import pty
import queue
import re
import shutil
import signal
import subprocess
import threading
import unittest

import sptest
from spfakedaemon import GI_PYTHON, FakeSamepaged, domain_path, read_calls

MAN_PAGE = os.path.join(sptest.SOURCE_ROOT, "data", "ksmctl.1")
COMPLETION = os.path.join(sptest.SOURCE_ROOT, "data", "ksmctl.bash-completion")
DEFAULT_CONF = os.path.join(sptest.SOURCE_ROOT, "data", "samepaged.conf")

DECISION_US = 1763889071123456  # 2025-11-23T09:11:11.123456Z
REASON = "run: available 1.0 GiB < threshold 3.2 GiB, boost to 400 pages"

MANAGER = {
    "Version": "0.1.0",
    "ApiVersion": 1,
    "Mode": "auto",
    "DryRun": False,
    "KsmAvailable": True,
    "Run": 1,
    "PagesToScan": 400,
    "SleepMillisecs": 20,
    "PagesShared": 1024,
    "PagesSharing": 314573,
    "GeneralProfit": 1234567890,
    "SavedKiB": 1258292,             # 1.2 GiB
    "KsmZeroPages": 0,
    "KsmdCpuPercent": 4.2,
    "FullScanSeconds": 12.5,
    "SavedKiBPerCpuSecond": 153600.0,  # 150 MiB
    "ProfitRatio": 3.5,
    "ProfitGuard": "watching",
    "AdvisorMode": "none",
    "KsmFiles": {"run": 1, "pages_to_scan": 400, "advisor_mode": 0},
    "MemTotalKiB": 16777216,         # 16.0 GiB
    "MemAvailableKiB": 1048576,      # 1.0 GiB
    "FreeKiB": 1048576,
    "CommittedKiB": 8388608,         # 8.0 GiB
    "ThresholdKiB": 3355443,         # 3.2 GiB
    "LibvirtUri": "qemu:///system",
    "LibvirtConnected": True,
    "LibvirtStatus": "connected",
    "DomainsActive": 2,
    "LastAction": "run",
    "LastReason": REASON,
    "LastDecisionTime": DECISION_US,
    "Tuning": {"monitor_interval": 60, "resync_interval": 600, "npages_boost": 300, "npages_decay": -50,
               "npages_min": 64, "npages_max": 1250, "sleep_msec": 10, "thres_coef": 20,
               "thres_const": 2048, "hysteresis": 10, "scan_rate": "auto",
               "free_source": "available", "pressure_trigger": "some 150000 1000000",
               "advisor_max_cpu_min": 10,
               "advisor_max_cpu_max": 70, "advisor_scan_time_min": 30,
               "advisor_scan_time_max": 200, "merge_across_nodes": -1, "use_zero_pages": -1, "profit_guard": "on",
    "profit_guard_unmerge": "false", "profit_min_scans": 2, "profit_min_kib_per_cpu_second": 1024,
    "profit_retry_interval": 1800, "profit_retry_committed_change": 20, "balloon": "off",
               "balloon_threshold": 20, "balloon_critical": 5, "guest_free_percent": 20,
               "max_step_percent": 5, "critical_step_percent": 10, "min_percent": 50,
               "shares": 1000, "stats_period": 5, "target_timeout": 60},
    "BalloonMode": "off",
    "BalloonPressure": False,
    "BalloonGuestsManaged": 0,
    "BalloonReclaimedKiB": 0,
    "BalloonReason": "balloon off",
    "PressureTrigger": "",
    "PressureLastTrigger": "",
}


def domain(name, uuid, active, mem_merge=True, mem_merge_active=None, current_kib=2097152,
           reason="", merging_pages=0, pid=0, unmergeable_kib=0, unmergeable_part="",
           balloon_state="none", balloon_target_kib=0, balloon_floor_kib=0, balloon_reason="",
           guest_available_kib=0):
    if mem_merge_active is None:
        mem_merge_active = mem_merge
    return {
        "Name": name, "Uuid": uuid, "Active": active, "Persistent": True,
        "CurrentKiB": current_kib, "MaximumKiB": current_kib * 2,
        "MemorySource": "balloon" if active else "xml",
        "MemMerge": mem_merge, "MemMergeActive": mem_merge_active,
        "PendingRestart": active and mem_merge != mem_merge_active,
        "Mergeable": reason == "", "UnmergeableReason": reason,
        "UnmergeableKiB": unmergeable_kib, "UnmergeablePart": unmergeable_part,
        "Pid": pid, "MergingPages": merging_pages, "ZeroPages": 3,
        "ProcessProfit": -4096 if merging_pages == 0 else merging_pages * 4096,
        "KsmMergeable": "yes" if reason == "" else "no",
        "BalloonModel": "virtio", "BalloonManaged": True, "BalloonMinKiB": 0, "BalloonShares": 0,
        "BalloonConfigKiB": current_kib, "GuestUsableKiB": 0, "GuestUnusedKiB": 0,
        "GuestStatsUpdated": 0, "StatsPeriod": 0, "FreePageReporting": False,
        "FreePageReportingActive": False,
        "AutoDeflate": False, "GuestAvailableKiB": guest_available_kib,
        "BalloonTargetKiB": balloon_target_kib, "BalloonFloorKiB": balloon_floor_kib,
        "BalloonState": balloon_state, "BalloonReason": balloon_reason,
    }


DOMAINS = [
    domain("web", "6695eb01-f6a4-8304-79aa-97f2502e193f", True, merging_pages=131072, pid=4242),
    domain("db", "0b3c2a49-5f0e-4d2b-9d1c-0a9f3c1e2b77", False, mem_merge=False,
           current_kib=4194304, reason="nosharepages"),
    domain("big-hugepages-guest", "a1b2c3d4-0000-4000-8000-000000000001", True,
           current_kib=8388608, reason="hugepages", pid=4343),
]

# ---------------------------------------------------------------------------
# Test helpers
# ---------------------------------------------------------------------------

class LineReader:
    """Collects the lines of a pipe in a thread, so a test can wait for one."""

    def __init__(self, pipe):
        self.lines = queue.Queue()
        self.all = []
        self.thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.thread.start()

    def _run(self, pipe):
        for line in iter(pipe.readline, ""):
            self.lines.put(line.rstrip("\n"))
        pipe.close()

    def next(self, timeout=10.0):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no line within %.1f s (got %r)" % (timeout, self.all))
        self.all.append(line)
        return line


class KsmctlTestCase(unittest.TestCase):
    """A private system bus for the class, a fake samepaged per test (started on demand)."""

    @classmethod
    def setUpClass(cls):
        # all there on CI's machine (meson's test environment, .ci/deps): a
        # missing one fails the tests, never skips them
        for ok, what in ((sptest.KSMCTL, "KSMCTL is not set (run through meson test)"),
                         (shutil.which("dbus-daemon"), "dbus-daemon is missing (dbus)"),
                         (GI_PYTHON, "python3-gi is missing")):
            if not ok:
                raise AssertionError(what)
        cls.dir = sptest.make_temp_dir("sp-ksmctl-")
        try:
            cls.bus = sptest.SystemBus(cls.dir, policy=sptest.OPEN_BUS_POLICY)
        except BaseException:
            sptest.remove_tree(cls.dir)
            raise
        cls.address = cls.bus.address

    @classmethod
    def tearDownClass(cls):
        cls.bus.stop()
        sptest.remove_tree(cls.dir)

    def setUp(self):
        self.fake = None
        self.processes = []
        self.log_path = os.path.join(self.dir, "calls-%s.jsonl" % self.id().split(".")[-1])
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address, LC_ALL="C.UTF-8",
                        TZ="UTC")

    def tearDown(self):
        for proc in self.processes:
            sptest.stop_process(proc)
        self.stop_fake()

    # -- the fake --

    def start_fake(self, manager=None, domains=None, errors=None):
        config = {"manager": dict(MANAGER, **(manager or {})),
                  "domains": domains if domains is not None else DOMAINS,
                  "errors": errors or {},
                  "retune": {"LastAction": "stop",
                             "LastReason": "stop: available 12.0 GiB > threshold 3.2 GiB + 10%",
                             "LastDecisionTime": DECISION_US + 60000000}}
        self.fake = FakeSamepaged(config, self.dir, self.log_path, self.env)

    def stop_fake(self):
        if self.fake is None:
            return
        self.fake.stop()
        self.fake = None

    def fake_command(self, command):
        self.fake.command(command)

    def calls(self, method=None):
        return read_calls(self.log_path, method)

    # -- ksmctl --

    def ksmctl(self, *args, env=None, stdin=subprocess.DEVNULL):
        return subprocess.run([sptest.KSMCTL] + list(args), stdin=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env or self.env, text=True,
                              timeout=30)

    def ksmctl_json(self, *args, code=0, env=None):
        result = self.ksmctl(*args, env=env)
        self.assertEqual(result.returncode, code, result.stdout + result.stderr)
        return json.loads(result.stdout)

    def spawn_ksmctl(self, *args):
        proc = subprocess.Popen([sptest.KSMCTL] + list(args), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
                                text=True)
        self.processes.append(proc)
        return proc

    def assertJsonError(self, output, name, message_part=""):
        error = json.loads(output)["error"]
        self.assertEqual(set(error), {"name", "message"})
        self.assertEqual(error["name"], name)
        self.assertIn(message_part, error["message"])
        return error


# ---------------------------------------------------------------------------
# Read commands
# ---------------------------------------------------------------------------

class StatusTest(KsmctlTestCase):
    def test_status_json_matches_the_daemon_field_by_field(self):
        self.start_fake()
        status = self.ksmctl_json("status", "--json")
        m = MANAGER
        self.assertEqual(status["version"], m["Version"])
        self.assertEqual(status["mode"], m["Mode"])
        self.assertEqual(status["ksm"]["available"], True)
        for member, prop in [("run", "Run"), ("pages_to_scan", "PagesToScan"),
                             ("sleep_millisecs", "SleepMillisecs"),
                             ("pages_shared", "PagesShared"), ("pages_sharing", "PagesSharing"),
                             ("general_profit", "GeneralProfit"), ("saved_kib", "SavedKiB"),
                             ("zero_pages", "KsmZeroPages"), ("cpu_percent", "KsmdCpuPercent"),
                             ("full_scan_seconds", "FullScanSeconds"),
                             ("saved_kib_per_cpu_second", "SavedKiBPerCpuSecond"),
                             ("profit_ratio", "ProfitRatio")]:
            self.assertEqual(status["ksm"][member], m[prop], member)
        for member, prop in [("total_kib", "MemTotalKiB"), ("available_kib", "MemAvailableKiB"),
                             ("committed_kib", "CommittedKiB"),
                             ("threshold_kib", "ThresholdKiB")]:
            self.assertEqual(status["memory"][member], m[prop], member)
        self.assertEqual(status["libvirt"], {"uri": "qemu:///system", "connected": True,
                                             "status": "connected", "domains_active": 2})
        self.assertEqual(status["decision"], {"action": "run", "reason": REASON,
                                              "time": "2025-11-23T09:11:11.123456Z",
                                              "time_us": DECISION_US})
        self.assertEqual(status["tuning"], m["Tuning"])
        self.assertEqual(status["ksm"]["files"], m["KsmFiles"])

    def test_status_cost(self):
        self.start_fake()
        out = self.ksmctl("status").stdout
        self.assertIn("Cost:       ksmd 4 % of a core, 1.2 GiB saved, 150.0 MiB per CPU-second\n",
                      out)
        self.assertIn("Scans:      full scan 12.5 s, 3.5 rmap items per saved page\n", out)

    def test_status_zero_pages_in_the_saving(self):
        self.start_fake(manager={"KsmZeroPages": 2048})
        out = self.ksmctl("status").stdout
        self.assertIn("shared pages, 2048 empty pages merged with the zero page)\n", out)
        self.assertEqual(self.ksmctl_json("status", "--json")["ksm"]["zero_pages"], 2048)

    def test_status_cost_unknown(self):
        self.start_fake(manager={"KsmdCpuPercent": -1.0, "SavedKiBPerCpuSecond": -1.0,
                                 "FullScanSeconds": -1.0, "ProfitRatio": -1.0})
        out = self.ksmctl("status").stdout
        self.assertIn("Cost:       ksmd's CPU not measured yet, 1.2 GiB saved, per CPU-second not "
                      "measured yet (no full scan timed)\n", out)
        self.assertNotIn("Scans:", out)
        self.assertNotIn("zero page", out)
        status = self.ksmctl_json("status", "--json")
        self.assertEqual(status["ksm"]["cpu_percent"], -1)
        self.assertEqual(status["ksm"]["profit_ratio"], -1)

    def test_status_balloons(self):
        self.start_fake(manager={"BalloonMode": "auto", "BalloonGuestsManaged": 3,
                                 "BalloonReclaimedKiB": 1258291, "BalloonPressure": True,
                                 "BalloonReason": "pressure: available 1.0 GiB < threshold 3.2 GiB"})
        out = self.ksmctl("status").stdout
        self.assertIn("Balloons:   auto, 3 guests managed, 1.2 GiB returned to the host\n", out)
        self.assertIn("Balloon why: pressure: available 1.0 GiB < threshold 3.2 GiB\n", out)
        status = self.ksmctl_json("status", "--json")
        self.assertEqual(status["balloon"], {"mode": "auto", "pressure": True, "managed": 3,
                                             "reclaimed_kib": 1258291,
                                             "reason": "pressure: available 1.0 GiB < "
                                                       "threshold 3.2 GiB"})

    def test_status_pressure(self):
        last = "memory pressure: some >= 15 % over 2 s (avg10 18.00 %)"
        self.start_fake(manager={"PressureTrigger": "some 300000 2000000",
                                 "PressureLastTrigger": last})
        out = self.ksmctl("status").stdout
        self.assertIn("Pressure:   trigger some 300000 2000000, last: " + last + "\n", out)
        status = self.ksmctl_json("status", "--json")
        self.assertEqual(status["pressure"], {"trigger": "some 300000 2000000", "last": last})

    def test_status_pressure_unavailable(self):
        self.start_fake()
        self.assertIn("Pressure:   no trigger (the 5 s meminfo watch alone), last: never\n",
                      self.ksmctl("status").stdout)
        self.assertEqual(self.ksmctl_json("status", "--json")["pressure"],
                         {"trigger": "", "last": ""})

    def test_status_balloons_off(self):
        self.start_fake()
        self.assertIn("Balloons:   off\n", self.ksmctl("status").stdout)

    def test_balloon_settings(self):
        self.start_fake()
        result = self.ksmctl("balloon", "web", "min=512M", "shares=300", "off")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.calls("SetBalloon")[0]["args"],
                         ["web", {"min": 524288, "shares": 300, "managed": False}])
        self.assertEqual(result.stdout, "web: balloon settings saved in its domain XML.\n")
        for args in (["balloon", "web", "min=lots"], ["balloon", "web", "sometimes"],
                     ["balloon", "web"]):
            self.assertEqual(self.ksmctl(*args).returncode, 2, args)
        self.assertEqual(len(self.calls("SetBalloon")), 1)

    def test_balloon_reporting_says_when_it_takes_effect(self):
        running = domain("web", "44444444-2222-4333-8444-555555555555", True)
        stopped = domain("db", "55555555-2222-4333-8444-555555555555", False)
        self.start_fake(domains=[running, stopped])
        result = self.ksmctl("balloon", "web", "reporting", "on")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.calls("SetBalloon")[0]["args"], ["web", {"reporting": True}])
        # the running QEMU has it off (FreePageReportingActive): pending until a cold start
        self.assertEqual(result.stdout,
                         "web: free page reporting on in the persistent config.\n"
                         "The guest is running: this takes effect when the guest is next "
                         "started; a guest reboot is not enough\n")
        # off is what it runs with: now; metadata and reporting in one call
        result = self.ksmctl("balloon", "web", "shares=5", "reporting", "off")
        self.assertEqual(self.calls("SetBalloon")[1]["args"],
                         ["web", {"shares": 5, "reporting": False}])
        self.assertEqual(result.stdout, "web: balloon settings saved in its domain XML.\n"
                         "web: free page reporting off, in effect now\n")
        result = self.ksmctl_json("--json", "balloon", "db", "reporting", "on")
        self.assertEqual((result["domain"], result["free_page_reporting"],
                          result["takes_effect"], result["state"]["name"]),
                         ("db", True, "at-start", "db"))
        for args in (["balloon", "web", "reporting"], ["balloon", "web", "reporting", "yes"]):
            self.assertEqual(self.ksmctl(*args).returncode, 2, args)
        self.assertEqual(len(self.calls("SetBalloon")), 3)

    def test_domains_balloon_keys_and_notes(self):
        shrunk = domain("shrunk", "33333333-2222-4333-8444-555555555555", True)
        shrunk.update({"CurrentKiB": 1048576, "BalloonConfigKiB": 2097152, "BalloonManaged": False,
                       "FreePageReporting": True, "BalloonMinKiB": 524288})
        self.start_fake(domains=[shrunk])
        d = self.ksmctl_json("domains", "--json")[0]
        self.assertEqual((d["balloon_managed"], d["balloon_min_kib"], d["free_page_reporting"],
                          d["balloon_config_kib"]), (False, 524288, True, 2097152))
        row = self.ksmctl("domains").stdout.splitlines()[1]
        self.assertIn("balloon opted out; free page reporting; balloon holds 1.0 GiB", row)

    def test_domains_balloon_decision(self):
        shrinking = domain("shrinking", "44444444-2222-4333-8444-555555555555", True,
                           current_kib=262144, balloon_state="shrink", balloon_target_kib=235930,
                           balloon_floor_kib=131072, guest_available_kib=250000,
                           balloon_reason="pressure: shrink to 230.4 MiB")
        held = domain("held", "55555555-2222-4333-8444-555555555555", True, current_kib=262144,
                      balloon_state="hold", balloon_target_kib=262144,
                      balloon_floor_kib=262144, balloon_reason="at its floor 256.0 MiB")
        late = domain("late", "66666666-2222-4333-8444-555555555555", True, current_kib=250000,
                      balloon_state="timed-out", balloon_target_kib=235930,
                      balloon_reason="pressure: shrink to 230.4 MiB")
        off = domain("off", "77777777-2222-4333-8444-555555555555", False)
        self.start_fake(domains=[shrinking, held, late, off])
        got = {d["name"]: d for d in self.ksmctl_json("domains", "--json")}
        self.assertEqual({k: got["shrinking"][k] for k in (
            "balloon_target_kib", "balloon_floor_kib", "balloon_state", "balloon_reason",
            "guest_available_kib")}, {
            "balloon_target_kib": 235930, "balloon_floor_kib": 131072, "balloon_state": "shrink",
            "balloon_reason": "pressure: shrink to 230.4 MiB", "guest_available_kib": 250000})
        self.assertEqual(got["late"]["balloon_state"], "timed-out")
        self.assertEqual((got["off"]["balloon_state"], got["off"]["balloon_target_kib"],
                          got["off"]["balloon_reason"]), ("none", 0, ""))
        lines = self.ksmctl("domains").stdout.splitlines()
        column = lines[0].index("BALLOON")
        cells = {line.split()[0]: line[column:].split("  ")[0] for line in lines[1:]}
        self.assertEqual(cells, {"shrinking": "256.0 MiB→230.4 MiB shrink", "held": "hold",
                                 "late": "244.1 MiB→230.4 MiB timed-out", "off": "-"})

    def test_status_json_without_a_decision_has_null_time(self):
        self.start_fake(manager={"LastAction": "none", "LastReason": "", "LastDecisionTime": 0})
        decision = self.ksmctl_json("--json", "status")["decision"]
        self.assertEqual(decision, {"action": "none", "reason": "", "time": None, "time_us": 0})

    def test_status_human_shows_units_savings_reason_and_libvirt(self):
        self.start_fake()
        result = self.ksmctl("status")
        self.assertEqual(result.returncode, 0, result.stderr)
        out = result.stdout
        self.assertRegex(out, r"(?m)^Mode:\s+auto$")
        self.assertRegex(out, r"(?m)^KSM:\s+on \(merging\), run=1$")
        self.assertRegex(out, r"(?m)^Scan rate:\s+400 pages every 20 ms$")
        self.assertRegex(out, r"(?m)^Saved:\s+1\.2 GiB \(314573 pages sharing 1024 shared")
        self.assertRegex(out, r"(?m)^Memory:\s+16\.0 GiB total, 1\.0 GiB available")
        self.assertRegex(out, r"(?m)^Committed:\s+8\.0 GiB")
        self.assertRegex(out, r"(?m)^Threshold:\s+3\.2 GiB")
        self.assertRegex(out, r"(?m)^libvirt:\s+qemu:///system, connected, 2 domains running$")
        self.assertRegex(out, r"(?m)^Decision:\s+run at 2025-11-23 09:11:11$")
        self.assertIn("Why:        " + REASON + "\n", out)

    def test_status_human_says_why_ksm_is_off(self):
        reason = "stop: available 12.0 GiB > threshold 3.2 GiB + 10%"
        self.start_fake(manager={"Run": 0, "LastAction": "stop", "LastReason": reason,
                                 "LibvirtConnected": False,
                                 "LibvirtStatus": "reconnecting in 4.0 s: Failed to connect",
                                 "AdvisorMode": "scan-time", "SavedKiB": 512})
        out = self.ksmctl("status").stdout
        self.assertRegex(out, r"(?m)^KSM:\s+off \(stopped\), run=0$")
        self.assertRegex(out, r"(?m)^Scan rate:\s+steered by the kernel's KSM advisor")
        self.assertRegex(out, r"(?m)^Saved:\s+512 KiB ")
        self.assertIn("Why:        " + reason + "\n", out)
        self.assertRegex(out, r"(?m)^libvirt:\s+qemu:///system, not connected "
                              r"\(reconnecting in 4\.0 s: Failed to connect\)$")

    def test_status_human_without_ksm(self):
        self.start_fake(manager={"KsmAvailable": False})
        out = self.ksmctl("status").stdout
        self.assertRegex(out, r"(?m)^KSM:\s+not available")
        self.assertNotIn("Saved:", out)


class DomainsTest(KsmctlTestCase):
    def test_domains_json_matches_the_daemon_field_by_field(self):
        self.start_fake()
        domains = self.ksmctl_json("domains", "--json")
        self.assertEqual([d["name"] for d in domains], sorted(d["Name"] for d in DOMAINS))
        served = {d["Name"]: d for d in DOMAINS}
        contract = {"name": "Name", "uuid": "Uuid", "active": "Active", "mem_merge": "MemMerge",
                    "mem_merge_active": "MemMergeActive", "pending_restart": "PendingRestart",
                    "current_kib": "CurrentKiB", "mergeable": "Mergeable",
                    "merging_pages": "MergingPages"}
        for d in domains:
            src = served[d["name"]]
            for member, prop in contract.items():
                self.assertEqual(d[member], src[prop], "%s.%s" % (d["name"], member))
            self.assertEqual(d["unmergeable_reason"],
                             None if src["Mergeable"] else src["UnmergeableReason"])
            self.assertEqual(d["path"], domain_path(src["Uuid"]))
            self.assertEqual(d["pid"], src["Pid"])
        self.assertIsNone(next(d for d in domains if d["name"] == "web")["unmergeable_reason"])
        self.assertEqual(next(d for d in domains if d["name"] == "db")["unmergeable_reason"],
                         "nosharepages")
        for d in domains:
            self.assertEqual(d["unmergeable_kib"], 0)
            self.assertIsNone(d["unmergeable_part"])
        # one ListDomains call, not GetManagedObjects nor a GetAll per domain
        methods = [c["method"] for c in self.fake.calls()]
        self.assertEqual(methods.count("ListDomains"), 1, methods)
        self.assertNotIn("GetManagedObjects", methods)

    def test_domains_partly_mergeable(self):
        part = "hugepages (NUMA cell 1), file-backed memory module (nvdimm module of 1.0 GiB)"
        numa = domain("numa", "22222222-3333-4444-8555-666666666666", True, current_kib=6291456,
                      unmergeable_kib=3145728, unmergeable_part=part, pid=4545)
        self.start_fake(domains=[numa])
        d = self.ksmctl_json("domains", "--json")[0]
        self.assertTrue(d["mergeable"])
        self.assertIsNone(d["unmergeable_reason"])
        self.assertEqual(d["unmergeable_kib"], 3145728)
        self.assertEqual(d["unmergeable_part"], part)
        row = self.ksmctl("domains").stdout.splitlines()[1]
        self.assertIn("6.0 GiB", row)
        self.assertIn("3.0 GiB not mergeable: " + part, row)

    def test_domains_json_empty(self):
        self.start_fake(domains=[])
        self.assertEqual(self.ksmctl_json("--json", "domains"), [])

    def test_domains_table_is_aligned_with_units_and_reasons(self):
        pending = domain("pending", "11111111-2222-4333-8444-555555555555", True,
                         mem_merge=False, mem_merge_active=True, current_kib=1536000)
        self.start_fake(domains=DOMAINS + [pending])
        result = self.ksmctl("domains")
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertEqual(len(lines), 5)
        header = lines[0]
        self.assertTrue(header.startswith("NAME "))
        columns = [header.index(h) for h in ("STATE", "MEMORY", "MERGE", "MERGED", "NOTE")]
        rows = {line.split()[0]: line for line in lines[1:]}
        for line in lines[1:]:
            # every cell starts under its header (an empty NOTE is trimmed away)
            for col in columns if len(line) > columns[-1] else columns[:-1]:
                self.assertNotEqual(line[col], " ", "column at %d in %r" % (col, line))
                self.assertEqual(line[col - 1], " ", "column at %d in %r" % (col, line))
        self.assertEqual(rows["web"], rows["web"].rstrip())
        self.assertIn("running", rows["web"])
        self.assertIn("2.0 GiB", rows["web"])
        self.assertIn("512.0 MiB", rows["web"])  # 131072 pages of 4 KiB
        self.assertIn("shut off", rows["db"])
        self.assertIn("4.0 GiB", rows["db"])
        self.assertIn("not mergeable: nosharepages", rows["db"])
        self.assertIn("not mergeable: hugepages", rows["big-hugepages-guest"])
        self.assertNotIn("not mergeable", rows["web"])
        self.assertIn("1.5 GiB", rows["pending"])
        self.assertIn("merge off from the next cold start", rows["pending"])


# ---------------------------------------------------------------------------
# Commands that change something
# ---------------------------------------------------------------------------

class SetTest(KsmctlTestCase):
    def test_set_sends_one_call_typed_like_tuning(self):
        self.start_fake()
        result = self.ksmctl("set", "npages_boost=400", "npages_decay=-20", "scan_rate=advisor",
                             "thres_const=4194304", "free_source=5", "new_key=7")
        self.assertEqual(result.returncode, 0, result.stderr)
        calls = self.calls("SetTuning")
        self.assertEqual(len(calls), 1)
        self.assertEqual(calls[0]["settings"], {
            "npages_boost": ["x", 400], "npages_decay": ["x", -20],
            "scan_rate": ["s", "advisor"], "thres_const": ["x", 4194304],
            # a string key keeps a number a string; an unknown key goes as int64
            "free_source": ["s", "5"], "new_key": ["x", 7]})
        self.assertFalse(calls[0]["interactive"])
        self.assertIn("npages_boost = 400\n", result.stdout)

    def test_set_non_integer_value_of_integer_key_goes_as_string(self):
        self.start_fake()
        self.assertEqual(self.ksmctl("set", "npages_max=lots").returncode, 0)
        self.assertEqual(self.calls("SetTuning")[0]["settings"], {"npages_max": ["s", "lots"]})

    def test_set_json_echoes_the_typed_settings(self):
        self.start_fake()
        out = self.ksmctl_json("--json", "set", "npages_min=100", "scan_rate=classic")
        self.assertEqual(out, {"npages_min": 100, "scan_rate": "classic"})

    def test_set_usage_errors_send_nothing(self):
        self.start_fake()
        for args in (["set"], ["set", "npages_boost"], ["set", "=5"],
                     ["set", "npages_boost=1", "npages_boost=2"]):
            result = self.ksmctl(*args)
            self.assertEqual(result.returncode, 2, "%s: %s" % (args, result.stderr))
            self.assertTrue(result.stderr.startswith("ksmctl: "), result.stderr)
        self.assertEqual(self.calls("SetTuning"), [])

    def test_invalid_args_from_daemon_exit_1_with_its_message(self):
        message = "npages_boost: 200000 is out of range 0..100000 pages"
        self.start_fake(errors={"SetTuning": ["org.samepage1.Error.InvalidArgs", message]})
        result = self.ksmctl("set", "npages_boost=200000")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stderr, "ksmctl: %s\n" % message)
        result = self.ksmctl("--json", "set", "npages_boost=200000")
        self.assertEqual(result.returncode, 1)
        self.assertJsonError(result.stdout, "org.samepage1.Error.InvalidArgs", message)
        self.assertEqual(json.loads(result.stdout)["error"]["message"], message)


class ModeTest(KsmctlTestCase):
    def test_start_stop_and_mode_call_set_mode(self):
        self.start_fake()
        for args, mode in ((["start"], "always"), (["stop"], "never"), (["mode", "auto"], "auto"),
                           (["mode", "always"], "always"), (["mode", "never"], "never")):
            result = self.ksmctl(*args)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(self.calls("SetMode")[-1]["args"], [mode], args)
            self.assertIn("Mode: " + mode, result.stdout)
        self.assertEqual(len(self.calls("SetMode")), 5)
        self.assertEqual(self.ksmctl_json("--json", "stop"), {"mode": "never"})

    def test_bad_mode_is_a_usage_error(self):
        self.start_fake()
        result = self.ksmctl("mode", "sometimes")
        self.assertEqual(result.returncode, 2)
        self.assertIn("unknown mode 'sometimes'", result.stderr)
        self.assertEqual(self.calls("SetMode"), [])

    def test_access_denied_exits_3(self):
        for name in ("org.samepage1.Error.AccessDenied", "org.freedesktop.DBus.Error.AccessDenied"):
            self.start_fake(errors={"SetMode": [name, "Not authorized to configure samepaged"]})
            result = self.ksmctl("stop")
            self.assertEqual(result.returncode, 3, result.stderr)
            self.assertIn("not authorised: Not authorized to configure samepaged", result.stderr)
            result = self.ksmctl("--json", "start")
            self.assertEqual(result.returncode, 3)
            self.assertJsonError(result.stdout, name, "Not authorized")
            self.stop_fake()

    def test_interactive_authorisation_only_from_a_tty(self):
        self.start_fake()
        self.assertEqual(self.ksmctl("retune").returncode, 0)
        self.assertFalse(self.calls("Retune")[-1]["interactive"])
        primary, secondary = pty.openpty()
        try:
            result = self.ksmctl("retune", stdin=secondary)
        finally:
            os.close(primary)
            os.close(secondary)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(self.calls("Retune")[-1]["interactive"])

    def test_retune_prints_the_new_decision(self):
        self.start_fake()
        result = self.ksmctl("retune")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(len(self.calls("Retune")), 1)
        self.assertIn("Decision: stop\n", result.stdout)
        self.assertIn("stop: available 12.0 GiB > threshold 3.2 GiB + 10%", result.stdout)
        decision = self.ksmctl_json("--json", "retune")
        self.assertEqual(decision["action"], "stop")
        self.assertEqual(decision["time"], "2025-11-23T09:12:11.123456Z")

    def test_unmerge_calls_unmerge_and_reports_mode_never(self):
        self.start_fake()
        result = self.ksmctl("unmerge")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(len(self.calls("Unmerge")), 1)
        self.assertIn("Unmerged: no page is shared any more\n", result.stdout)
        self.assertIn("Mode: never", result.stdout)
        self.assertEqual(self.ksmctl_json("--json", "unmerge"),
                         {"unmerged": True, "mode": "never"})
        self.stop_fake()

        message = ("Refusing to unmerge: splitting the 3500000 merged pages needs 13.4 GiB "
                   "(3500000 pages_sharing × 4 KiB) plus the threshold 3.2 GiB = 16.6 GiB, "
                   "but MemAvailable is 12.0 GiB")
        self.start_fake(errors={"Unmerge": ["org.samepage1.Error.Failed", message]})
        result = self.ksmctl("unmerge")
        self.assertEqual(result.returncode, 1)
        self.assertIn(message, result.stderr)
        self.assertEqual(self.ksmctl("unmerge", "extra").returncode, 2)


class MergeTest(KsmctlTestCase):
    def test_merge_off_on_running_guest_explains_cold_start(self):
        self.start_fake()
        result = self.ksmctl("merge", "web", "off")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.calls("SetMemMerge")[0]["args"], ["web", False])
        self.assertIn("takes effect when the guest is next started; a guest reboot is not enough",
                      result.stdout)

    def test_merge_on_shut_off_guest_by_uuid(self):
        self.start_fake()
        uuid = DOMAINS[1]["Uuid"]
        result = self.ksmctl("merge", uuid, "on")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.calls("SetMemMerge")[0]["args"], [uuid, True])
        self.assertEqual(result.stdout, "db: memory merging on; takes effect when the guest starts\n")

    def test_merge_json_reports_the_domain_after_the_call(self):
        self.start_fake()
        out = self.ksmctl_json("--json", "merge", "web", "off")
        self.assertEqual(out["takes_effect"], "next-start")
        self.assertEqual(out["mem_merge"], False)
        self.assertEqual(out["state"]["mem_merge"], False)
        self.assertEqual(out["state"]["mem_merge_active"], True)
        self.assertEqual(out["state"]["pending_restart"], True)

    def test_merge_errors(self):
        self.start_fake()
        result = self.ksmctl("merge", "nosuch", "on")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stderr, "ksmctl: no domain 'nosuch'\n")
        result = self.ksmctl("--json", "merge", "nosuch", "on")
        self.assertJsonError(result.stdout, "org.samepage1.Error.UnknownDomain", "nosuch")
        for args in (["merge", "web", "maybe"], ["merge", "web"], ["merge", "web", "on", "x"]):
            self.assertEqual(self.ksmctl(*args).returncode, 2, args)
        self.assertEqual(len(self.calls("SetMemMerge")), 2)


class MonitorTest(KsmctlTestCase):
    def start_monitor(self, *args):
        proc = self.spawn_ksmctl("monitor", *args)
        # ksmctl reads Mode and the domains after subscribing: from then on no Tuned or
        # domain change is missed
        sptest.wait_for(lambda: self.calls("ListDomains"),
                        what="ksmctl monitor to read the domains")
        return proc, LineReader(proc.stdout), LineReader(proc.stderr)

    def test_monitor_prints_balloon_moves(self):
        self.start_fake()
        proc, out, _ = self.start_monitor()
        web = DOMAINS[0]["Uuid"]
        self.fake_command({"domain": [web, {
            "BalloonState": "shrink", "BalloonTargetKiB": 1887437,
            "BalloonReason": "pressure: shrink to 1.8 GiB"}]})
        # the balloon moving towards its target, then the next step down
        self.fake_command({"domain": [web, {"CurrentKiB": 1990000}]})
        self.fake_command({"domain": [web, {"BalloonTargetKiB": 1782579,
                                            "BalloonReason": "pressure: shrink to 1.7 GiB"}]})
        self.fake_command({"domain": [web, {"BalloonState": "timed-out"}]})
        # hold and none are no moves
        self.fake_command({"domain": [web, {"BalloonState": "hold", "BalloonTargetKiB": 1990000,
                                            "BalloonReason": "at its floor 1.9 GiB"}]})
        self.fake_command({"domain": [web, {"BalloonState": "grow", "BalloonTargetKiB": 2097152,
                                            "BalloonReason": "no pressure: grow to 2.0 GiB"}]})
        self.fake_command({"emit": ["stop", "stop: memory is plentiful", DECISION_US]})
        lines = [out.next() for _ in range(5)]
        # each line starts with the local time
        self.assertEqual([line[21:] for line in lines], [
            "balloon  web: balloon shrink 2.0 GiB → 1.8 GiB (pressure: shrink to 1.8 GiB)",
            "balloon  web: balloon shrink 1.9 GiB → 1.7 GiB (pressure: shrink to 1.7 GiB)",
            "balloon  web: balloon timed-out 1.9 GiB → 1.7 GiB (pressure: shrink to 1.7 GiB)",
            "balloon  web: balloon grow 1.9 GiB → 2.0 GiB (no pressure: grow to 2.0 GiB)",
            "stop  stop: memory is plentiful"])
        self.assertEqual(sptest.stop_process(proc), 0)

    def test_monitor_json_balloon_moves(self):
        self.start_fake()
        proc, out, _ = self.start_monitor("--json")
        web = DOMAINS[0]["Uuid"]
        self.fake_command({"domain": [web, {
            "BalloonState": "shrink", "BalloonTargetKiB": 1887437,
            "BalloonReason": "pressure: shrink to 1.8 GiB"}]})
        self.assertEqual(json.loads(out.next()), {
            "domain": "web", "uuid": web, "balloon_state": "shrink", "current_kib": 2097152,
            "balloon_target_kib": 1887437, "balloon_reason": "pressure: shrink to 1.8 GiB"})
        self.assertEqual(sptest.stop_process(proc), 0)

    def test_monitor_prints_a_line_per_decision_until_sigterm(self):
        self.start_fake()
        proc, out, _ = self.start_monitor()
        self.fake_command({"emit": ["run", REASON, DECISION_US]})
        self.fake_command({"emit": ["stop", "stop: memory is plentiful", DECISION_US + 60000000]})
        self.assertEqual(out.next(), "2025-11-23 09:11:11  run   " + REASON)
        self.assertEqual(out.next(), "2025-11-23 09:12:11  stop  stop: memory is plentiful")
        self.assertEqual(sptest.stop_process(proc), 0)

    def test_monitor_json_prints_one_object_per_line(self):
        self.start_fake()
        proc, out, _ = self.start_monitor("--json")
        self.fake_command({"emit": ["run", REASON, DECISION_US]})
        self.assertEqual(json.loads(out.next()), {"action": "run", "reason": REASON,
                                                  "time": "2025-11-23T09:11:11.123456Z",
                                                  "time_us": DECISION_US})
        os.kill(proc.pid, signal.SIGINT)
        self.assertEqual(proc.wait(10), 0)

    def test_monitor_says_when_samepaged_leaves(self):
        self.start_fake()
        proc, _, err = self.start_monitor()
        self.stop_fake()
        self.assertEqual(err.next(), "ksmctl: samepaged left the bus; waiting for it to come back")
        self.assertIsNone(proc.poll())
        self.assertEqual(sptest.stop_process(proc), 0)


# ---------------------------------------------------------------------------
# Exit codes without a daemon, usage
# ---------------------------------------------------------------------------

class AbsentTest(KsmctlTestCase):
    def test_no_daemon_on_the_bus_exits_4(self):
        for args in (["status"], ["domains"], ["monitor"], ["stop"], ["set", "npages_min=1"],
                     ["merge", "web", "on"], ["retune"]):
            result = self.ksmctl("--json", *args)
            self.assertEqual(result.returncode, 4, args)
            self.assertJsonError(result.stdout, "org.freedesktop.DBus.Error.ServiceUnknown",
                                 "org.samepage1")
            result = self.ksmctl(*args)
            self.assertEqual(result.returncode, 4, args)
            self.assertTrue(result.stderr.startswith("ksmctl: samepaged is not reachable: "),
                            result.stderr)
            self.assertEqual(result.stdout, "")

    def test_no_bus_exits_4(self):
        env = dict(self.env, DBUS_SYSTEM_BUS_ADDRESS="unix:path=" + os.path.join(self.dir, "none"))
        for args in (["status", "--json"], ["domains", "--json"], ["monitor", "--json"]):
            result = self.ksmctl(*args, env=env)
            self.assertEqual(result.returncode, 4, args)
            self.assertJsonError(result.stdout, "org.freedesktop.DBus.Error.NoServer",
                                 "cannot connect to the system bus")


class UsageTest(KsmctlTestCase):
    def test_usage_errors_exit_2(self):
        for args in ([], ["frobnicate"], ["--frobnicate"], ["status", "extra"],
                     ["status", "--frobnicate"], ["monitor", "now"], ["mode"],
                     ["mode", "auto", "always"]):
            result = self.ksmctl(*args)
            self.assertEqual(result.returncode, 2, args)
            self.assertEqual(result.stdout, "")
            self.assertIn("Try 'ksmctl --help'", result.stderr)
        result = self.ksmctl("--json", "frobnicate")
        self.assertEqual(result.returncode, 2)
        self.assertJsonError(result.stdout, "org.samepage1.Error.InvalidArgs",
                             "unknown command 'frobnicate'")

    def test_version_and_help(self):
        result = self.ksmctl("--version")
        self.assertEqual(result.returncode, 0)
        self.assertRegex(result.stdout, r"^ksmctl \d+\.\d+\.\d+\n$")
        out = self.ksmctl("--help").stdout
        for name in help_commands(out):
            self.assertEqual(self.ksmctl(name, "--help").returncode, 0, name)
        for code in range(5):
            self.assertRegex(out, r"(?m)^  %d  \S" % code)

    def test_man_page_documents_every_command_option_exit_code_and_field(self):
        with open(MAN_PAGE) as f:
            man = f.read()
        commands = help_commands(self.ksmctl("--help").stdout)
        self.assertEqual(len(commands), 11)
        for name in commands:
            self.assertRegex(man, r"(?m)^\.B %s\b" % name, name)
        for option in ("json", "help", "version"):
            self.assertIn(r"\-\-" + option, man)
        for code in range(5):
            self.assertRegex(man, r"(?m)^\.B %d$" % code)
        for field in ("version", "mode", "available", "run", "pages_to_scan", "sleep_millisecs",
                      "pages_shared", "pages_sharing", "general_profit", "saved_kib",
                      "total_kib", "available_kib", "committed_kib", "threshold_kib", "uri",
                      "connected", "domains_active", "action", "reason", "time", "name", "uuid",
                      "active", "mem_merge", "mem_merge_active", "pending_restart",
                      "current_kib", "mergeable", "unmergeable_reason", "merging_pages",
                      "reclaimed_kib", "balloon_min_kib", "balloon_managed",
                      "free_page_reporting", "autodeflate", "guest_usable_kib", "balloon_target_kib",
                      "balloon_floor_kib", "balloon_state", "balloon_reason",
                      "guest_available_kib"):
            self.assertRegex(man, r"(?m)^\.B (\w+\.)?%s$" % field, field)

    def test_man_page_renders_without_warnings(self):
        self.assertIsNotNone(shutil.which("groff"), "groff is missing (groff-base, .ci/deps)")
        result = subprocess.run(["groff", "-man", "-ww", "-z", MAN_PAGE], stderr=subprocess.PIPE,
                                text=True)
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stderr, "")


def help_commands(help_text):
    section = help_text.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in section.splitlines()]


class CompletionTest(KsmctlTestCase):
    def complete(self, *words):
        """COMPREPLY of the completion function for the command line words (last: current)."""
        script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
                  'COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; '
                  'fn=$(complete -p ksmctl | sed -E "s/.*-F ([^ ]+).*/\\1/"); '
                  '"$fn" ksmctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"; '
                  'printf "%s\\n" "${COMPREPLY[@]}"')
        result = subprocess.run(["bash", "-c", script, "bash", COMPLETION] + list(words),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env)
        self.assertEqual(result.stderr, "")
        return sorted(w for w in result.stdout.split("\n") if w)

    def test_completes_commands_modes_switches_and_keys(self):
        commands = help_commands(self.ksmctl("--help").stdout)
        self.assertEqual(self.complete("ksmctl", ""), sorted(commands))
        self.assertEqual(self.complete("ksmctl", "mo"), ["mode", "monitor"])
        self.assertEqual(self.complete("ksmctl", "--j"), ["--json"])
        self.assertEqual(self.complete("ksmctl", "mode", ""), ["always", "auto", "never"])
        self.assertEqual(self.complete("ksmctl", "merge", "web", ""), ["off", "on"])
        self.assertEqual(self.complete("ksmctl", "set", "npages_b"), ["npages_boost="])
        # bash splits "key=value" at '=' (COMP_WORDBREAKS)...
        self.assertEqual(self.complete("ksmctl", "set", "scan_rate", "="),
                         ["advisor", "auto", "classic"])
        self.assertEqual(self.complete("ksmctl", "set", "free_source", "=", "k"), ["ksmtuned"])
        # ... unless '=' was taken out of it
        self.assertEqual(self.complete("ksmctl", "set", "scan_rate=cl"), ["scan_rate=classic"])
        self.assertEqual(self.complete("ksmctl", "status", "--"), ["--help", "--json"])

    def test_completes_domain_names_from_samepaged(self):
        self.start_fake()
        self.env["PATH"] = os.path.dirname(os.path.abspath(sptest.KSMCTL)) + ":" + self.env["PATH"]
        self.assertEqual(self.complete("ksmctl", "merge", ""),
                         sorted(d["Name"] for d in DOMAINS))
        self.assertEqual(self.complete("ksmctl", "merge", "b"), ["big-hugepages-guest"])

    def test_completes_every_runtime_tuning_key(self):
        # the runtime keys: [tuning] of the default config, monitor_interval
        # and resync_interval
        with open(DEFAULT_CONF) as f:
            conf = f.read()
        tuning = conf.split("\n[tuning]\n", 1)[1]
        keys = set(re.findall(r"(?m)^#([a-z_]+)=", tuning)) | {"monitor_interval", "resync_interval"}
        self.assertEqual(set(MANAGER["Tuning"]), keys)
        completed = self.complete("ksmctl", "set", "npages_boost=1", "")
        self.assertEqual({w.rstrip("=") for w in completed}, keys)


if __name__ == "__main__":
    sptest.run_tap()
