#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""samepage's Cockpit page (cockpit/) in a real browser, against the built
samepaged on a private system-type bus and a private libvirtd with TCG
guests (issue 17).

The whole test runs in a private network namespace of its own (it re-runs
itself under `unshare -n` and brings up its loopback), so the cockpit-ws
sessions it starts on 127.0.0.1 can be reached by nobody else. cockpit-ws
runs with --local-session (no login), its cockpit-bridge talks to the
private bus (DBUS_SYSTEM_BUS_ADDRESS) and finds the page in this source tree
through XDG_DATA_DIRS (a symlink <tmp>/share/cockpit/samepage -> cockpit/),
so nothing is installed. Chromium headless is driven by Selenium through
chromedriver; every wait is an explicit WebDriverWait with a message.

Asserted: the page shows the values of `ksmctl status --json` and `ksmctl
domains --json` (the data-sp/data-value attributes of the page); defining
and starting a guest adds its row and moves the committed figure without a
reload; the merge switch (clicked as root, whom samepaged lets do anything
when no polkit authority runs) writes <nosharepages/> into the persistent
domain XML and back; the same click in a session of user nobody shows
polkit's refusal (AccessDenied) and changes nothing; the empty states for
samepaged stopped, no libvirt and no KSM; and the browser console has no
errors. Screenshots of each state go to <build>/tests/browser-artifacts/;
with SP_README_SCREENSHOT=1 the whole page is also copied to
docs/cockpit-samepage.png, the README's picture.

The KSM knobs are a temporary tree (--sysfs-root) and the host's memory a
fixed /proc/meminfo: the real /sys/kernel/mm/ksm is never written.
cockpit-ws, chromedriver, Chromium, samepaged, the bus, libvirtd and the
guests are stopped by PID, even on failure.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest
import xml.etree.ElementTree as ET

if os.environ.get("SP_BROWSER_NETNS") != "1":
    # the guest kernel is downloaded (once) before the network goes away
    import sptestbed
    sptestbed.ensure_guest_assets()
    # a network namespace of our own: cockpit-ws and Chromium on a loopback
    # nobody else shares
    os.environ["SP_BROWSER_NETNS"] = "1"
    os.execvp("unshare", ["unshare", "--net", "--", sys.executable] + sys.argv)

import sptest  # noqa: E402
import sptestbed  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

COCKPIT_WS = "/usr/lib/cockpit/cockpit-ws"
COCKPIT_BRIDGE = "/usr/bin/cockpit-bridge"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
ROOT_PORT = 9191
NOBODY_PORT = 9192
PAGE = "/cockpit/@localhost/samepage/index.html"
WAIT_S = 60  # a loaded 2-core machine: generous, every wait says what it waited for

GUEST_KIB = 256 * 1024
MEM_TOTAL_KIB = 16 * 1024 * 1024
CONFIG = "[daemon]\nmonitor_interval=600\n"

ARTIFACTS = os.path.join(os.environ.get("MESON_BUILD_ROOT")
                         or os.environ.get("G_TEST_BUILDDIR") or "/tmp", "browser-artifacts")
README_SHOT = os.path.join(sptest.SOURCE_ROOT, "docs", "cockpit-samepage.png")


def nosharepages(xml):
    return ET.fromstring(xml).find("./memoryBacking/nosharepages") is not None


class Process:
    """A helper process with its output in a log file, stopped by PID."""

    def __init__(self, argv, log_path, env=None, prefix=None):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen((prefix or []) + argv, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        sptestbed._live.add(self)

    def output(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-3000:]

    def kill_now(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        sptestbed._live.discard(self)
        sptest.stop_process(self.proc)
        self.log.close()


class BusGuard:
    """The private bus, as sptestbed's SIGTERM handler stops things."""

    def __init__(self, bus):
        self.bus = bus

    def kill_now(self):
        sptest.stop_process(self.bus.proc)


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def children_of(pid):
    """Every descendant of pid (Chromium's processes under chromedriver)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
                parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                pass
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found += kids
        todo += kids
    return found


class Browser:
    """Chromium headless under chromedriver; quit() ends both by PID."""

    def __init__(self, directory):
        self.dir = directory
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,800", "--no-first-run", "--disable-extensions",
                    "--user-data-dir=" + os.path.join(directory, "chromium-profile")):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.service = Service(CHROMEDRIVER, log_path=os.path.join(directory, "chromedriver.log"))
        self.driver = webdriver.Chrome(service=self.service, options=options)
        self.driver_pid = self.service.process.pid
        sptestbed._live.add(self)
        self.console = []

    def logs(self):
        """The console messages since the last call (kept in self.console)."""
        entries = self.driver.get_log("browser")
        self.console += entries
        return entries

    def kill_now(self):
        for pid in children_of(self.driver_pid) + [self.driver_pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def quit(self):
        sptestbed._live.discard(self)
        leftovers = children_of(self.driver_pid)
        try:
            self.driver.quit()
        except WebDriverException as e:
            sptestbed.log("chromedriver quit: %s" % e)
        if self.service.process.poll() is None:
            sptest.stop_process(self.service.process)
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class CockpitPageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        os.makedirs(ARTIFACTS, exist_ok=True)
        for name in os.listdir(ARTIFACTS):  # this run's pictures only
            if name.startswith("cockpit-") and name.endswith(".png"):
                os.unlink(os.path.join(ARTIFACTS, name))
        cls.assets = sptestbed.ensure_guest_assets()
        cls.lv = sptestbed.PrivateLibvirtd(cls.assets)
        cls.addClassCleanup(cls.lv.stop)
        cls.lv.start_daemon()
        cls.lv.define_guest("g1", memory_mib=256, fill_mib=32)

    def setUp(self):
        self.dir = sptest.make_temp_dir("sp-cockpit-")
        self.addCleanup(sptest.remove_tree, self.dir)
        os.chmod(self.dir, 0o755)
        self.sysfs = os.path.join(self.dir, "sys")
        sptest.make_ksm_tree(self.sysfs, sptest.KSM_BOOT_FILES)
        self.no_ksm_sysfs = os.path.join(self.dir, "sys-no-ksm")
        os.makedirs(os.path.join(self.no_ksm_sysfs, "kernel", "mm"))
        self.meminfo = os.path.join(self.dir, "meminfo")
        with open(self.meminfo, "w") as f:
            f.write(sptest.FIXED_MEMINFO.format(total=MEM_TOTAL_KIB, avail=MEM_TOTAL_KIB * 9 // 10))
        self.config = os.path.join(self.dir, "samepaged.conf")
        with open(self.config, "w") as f:
            f.write(CONFIG)

        # cleanups run last-in first-out: browser, cockpit-ws, samepaged, bus, guests
        self.addCleanup(self.lv.destroy_running, start=False)
        self.bus = sptest.SystemBus(self.dir)
        self.addCleanup(self.bus.stop)
        # a SIGTERM (meson's timeout) skips the cleanups: sptestbed's handler
        # stops what is in its registry
        guard = BusGuard(self.bus)
        sptestbed._live.add(guard)
        self.addCleanup(sptestbed._live.discard, guard)
        self.env = dict(os.environ)
        self.env.update(self.bus.env())
        self.daemon = None
        self.addCleanup(self.stop_daemon)
        self.start_daemon(self.sysfs, self.lv.uri)

        # the page, found by cockpit-bridge through XDG_DATA_DIRS
        share = os.path.join(self.dir, "share")
        os.makedirs(os.path.join(share, "cockpit"))
        os.symlink(os.path.join(sptest.SOURCE_ROOT, "cockpit"),
                   os.path.join(share, "cockpit", "samepage"))
        home = os.path.join(self.dir, "home")
        os.makedirs(home)
        os.chmod(home, 0o777)
        ws_env = dict(self.env)
        ws_env.update({"XDG_DATA_DIRS": share + ":/usr/local/share:/usr/share", "HOME": home,
                       "XDG_CONFIG_DIRS": os.path.join(self.dir, "etc")})
        ws_env.pop("XDG_RUNTIME_DIR", None)
        self.ws = {}
        for user, port, prefix in (("root", ROOT_PORT, None),
                                   ("nobody", NOBODY_PORT, sptest.AS_NOBODY)):
            ws = Process([COCKPIT_WS, "--port", str(port), "--address", "127.0.0.1",
                          "--local-session=" + COCKPIT_BRIDGE],
                         os.path.join(self.dir, "cockpit-ws-%s.log" % user), env=ws_env,
                         prefix=prefix)
            self.addCleanup(ws.stop)
            self.ws[user] = ws
        for user, port in (("root", ROOT_PORT), ("nobody", NOBODY_PORT)):
            sptest.wait_for(lambda: listening(port), WAIT_S, 0.1,
                            "cockpit-ws (%s) listening on 127.0.0.1:%d:\n%s"
                            % (user, port, self.ws[user].output()))

        self.browser = Browser(self.dir)
        self.addCleanup(self.browser.quit)
        self.driver = self.browser.driver
        self.viewport(1280, 800)

    # -- samepaged --

    def start_daemon(self, sysfs, uri):
        binds = [(self.meminfo, "/proc/meminfo"), (self.lv.pid_dir(), "/run/libvirt")]
        self.daemon = sptestbed.NamespacedDaemon(
            ["--sysfs-root", sysfs, "--config", self.config, "--ksmtuned-config", "",
             "--state-dir", os.path.join(self.dir, "state"), "--connect", uri, "-v"],
            binds, env=self.bus.env(), log_dir=self.dir)
        self.bus.wait_for_name("org.samepage1")

    def stop_daemon(self):
        if self.daemon is not None:
            sptestbed._live.discard(self.daemon)
            self.daemon.stop()
            self.daemon = None

    def ksmctl(self, *args):
        r = subprocess.run([sptest.KSMCTL] + list(args), stdin=subprocess.DEVNULL,
                           capture_output=True, env=self.env, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, "ksmctl %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return json.loads(r.stdout)

    # -- the page --

    def open_page(self, port=ROOT_PORT, state="ready"):
        url = "http://127.0.0.1:%d%s" % (port, PAGE)
        self.driver.get(url)
        self.wait_state(state)

    def wait(self, condition, what, timeout=WAIT_S):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(
                lambda d: condition())
        except TimeoutException:
            self.shot("failed")
            raise AssertionError("%s: not within %d s\npage: %s\nconsole: %s\nsamepaged:\n%s"
                                 % (what, timeout, self.page_text()[-3000:],
                                    self.browser.logs(),
                                    self.daemon.output()[-3000:] if self.daemon else "stopped"))

    def viewport(self, width, height):
        """The page's viewport exactly (the window also holds the browser's own bars)."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def page_text(self):
        try:
            return self.driver.find_element(By.ID, "samepage").text
        except WebDriverException as e:
            return "(no page: %s)" % e

    def wait_state(self, state):
        self.wait(lambda: self.js("return document.getElementById('samepage') && "
                                  "document.getElementById('samepage').dataset.state") == state,
                  "the page in state %r" % state)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def shown(self):
        """{data-sp: data-value} of the host facts."""
        return self.js("""
            const out = {};
            for (const e of document.querySelectorAll('#sp-host [data-sp]'))
                out[e.dataset.sp] = e.dataset.value;
            return out;""")

    def rows(self):
        """{domain: {data-sp: data-value}} of the guest table."""
        return self.js("""
            const out = {};
            for (const row of document.querySelectorAll('#sp-guests tr[data-domain]')) {
                const cells = {};
                for (const e of row.querySelectorAll('[data-sp]'))
                    cells[e.dataset.sp] = e.dataset.value;
                out[row.dataset.domain] = cells;
            }
            return out;""")

    def row_order(self):
        return self.js("return Array.from(document.querySelectorAll('#sp-guests tr[data-domain]'),"
                       " row => row.dataset.domain)")

    def shot(self, name):
        path = os.path.join(ARTIFACTS, "cockpit-%s.png" % name)
        try:
            self.driver.save_screenshot(path)
        except WebDriverException as e:
            sptestbed.log("screenshot %s failed: %s" % (name, e))
        return path

    def assert_no_console_errors(self):
        self.browser.logs()
        errors = [e for e in self.browser.console if e.get("level") == "SEVERE"]
        self.assertEqual(errors, [], "the browser console has errors")

    @staticmethod
    def expected_host(status):
        return {
            "mode": status["mode"],
            "last-action": status["decision"]["action"],
            "ksm-run": str(status["ksm"]["run"]),
            "saved-kib": str(status["ksm"]["saved_kib"]),
            "profit-guard": status["ksm"]["profit_guard"],
            "committed-kib": str(status["memory"]["committed_kib"]),
            "available-kib": str(status["memory"]["available_kib"]),
            "threshold-kib": str(status["memory"]["threshold_kib"]),
            "libvirt-status": status["libvirt"]["status"],
        }

    @staticmethod
    def expected_row(d):
        return {
            "name": d["name"],
            "active": str(d["active"]).lower(),
            "current-kib": str(d["current_kib"]),
            "mem-merge": str(d["mem_merge"]).lower(),
            "pending-restart": str(d["pending_restart"]).lower(),
            "merging-pages": str(d["merging_pages"]),
            "unmergeable-reason": d["unmergeable_reason"] or "",
        }

    def assert_page_matches_ksmctl(self):
        """The page and ksmctl agree (waited for: a change may be in flight)."""
        seen = {}

        def same():
            want_host = self.expected_host(self.ksmctl("status", "--json"))
            shown = self.shown()
            host = {k: shown.get(k) for k in want_host}
            want_rows = {d["name"]: self.expected_row(d) for d in self.ksmctl("domains", "--json")}
            rows = {name: {k: r.get(k) for k in want_rows.get(name, {})}
                    for name, r in self.rows().items()}
            seen.update(host=host, want_host=want_host, rows=rows, want_rows=want_rows)
            return host == want_host and rows == want_rows
        try:
            self.wait(same, "the page showing ksmctl's values")
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, json.dumps(seen, indent=1, sort_keys=True)))

    def page_committed(self):
        return int(self.shown().get("committed-kib", -1))

    def click_merge(self, name):
        switch = self.driver.find_element(
            By.CSS_SELECTOR, "tr[data-domain='%s'] input[data-sp='mem-merge']" % name)
        # the input is visually hidden by PatternFly: the keyboard way, focus + space
        self.js("arguments[0].focus()", switch)
        switch.send_keys(" ")

    # -- the test --

    def test_page(self):
        began = time.monotonic()
        self.lv.start("g1")
        self.open_page()
        self.wait(lambda: self.rows().get("g1", {}).get("active") == "true", "g1 running")
        self.assert_page_matches_ksmctl()
        committed_one = self.ksmctl("status", "--json")["memory"]["committed_kib"]
        self.assertEqual(committed_one, GUEST_KIB)
        self.assertEqual(self.page_committed(), GUEST_KIB)
        sptestbed.log("page ready and matching ksmctl after %.1f s" % (time.monotonic() - began))

        # a guest defined and started while the page is open: its row, then
        # the committed figure, without a reload
        self.js("window.spNoReload = 1")
        self.lv.define_guest("g2", memory_mib=256, fill_mib=0)
        self.wait(lambda: "g2" in self.rows(), "g2's row after virsh define")
        self.assertEqual(self.rows()["g2"]["active"], "false")
        self.lv.start("g2")
        self.wait(lambda: self.page_committed() == 2 * GUEST_KIB,
                  "committed moving to 2 guests after virsh start g2")
        self.assertEqual(self.js("return window.spNoReload"), 1, "the page was reloaded")
        self.assert_page_matches_ksmctl()
        samples = int(self.js("return document.querySelector('.sp-chart').dataset.samples"))
        self.assertGreaterEqual(samples, 2, "the chart kept the samples")
        marks = self.js("return document.querySelectorAll('[data-sp-mark]').length")
        self.assertGreaterEqual(marks, 1, "the chart marks samepaged's decision")
        self.wait(lambda: self.lv.wait_ready("g2", timeout=90) is not None, "g2 booted", 120)
        self.shot("main")
        # the whole page at 1280 px: the README's picture (copied to docs/
        # with SP_README_SCREENSHOT=1 only, so a test run changes no tracked file)
        self.viewport(1280, self.js("return document.documentElement.scrollHeight"))
        full = self.shot("main-full")
        if os.environ.get("SP_README_SCREENSHOT") == "1":
            shutil.copyfile(full, README_SHOT)
        self.viewport(1280, 800)

        # sortable from the keyboard: Enter on a column header, focus kept
        def press_enter(button_id):
            self.js("document.getElementById(arguments[0]).focus()", button_id)
            self.driver.switch_to.active_element.send_keys(Keys.ENTER)

        def sort_of(button_id):
            return self.js("return document.getElementById(arguments[0])"
                           ".closest('th').getAttribute('aria-sort')", button_id)
        press_enter("sp-sort-memory")
        self.wait(lambda: sort_of("sp-sort-memory") == "ascending", "the table sorted by memory")
        self.assertEqual(self.js("return document.activeElement.id"), "sp-sort-memory",
                         "the focus stays on the header after the table is drawn again")
        press_enter("sp-sort-name")
        self.wait(lambda: sort_of("sp-sort-name") == "ascending"
                  and self.row_order() == ["g1", "g2"], "rows sorted by name")
        press_enter("sp-sort-name")
        self.wait(lambda: sort_of("sp-sort-name") == "descending", "the table sorted by name, descending")
        self.wait(lambda: self.row_order() == ["g2", "g1"], "rows sorted by name, descending")
        # narrow: the table turns into labelled rows, nothing runs off
        self.viewport(420, 800)
        self.wait(lambda: self.js("return document.documentElement.scrollWidth") <= 420,
                  "no horizontal scrolling at 420 px")
        self.shot("narrow")
        self.viewport(1280, 800)

        # the merge switch, as root: nosharepages in the persistent XML
        self.assertFalse(nosharepages(self.lv.virsh("dumpxml", "--inactive", "g1")))
        self.click_merge("g1")
        self.wait(lambda: nosharepages(self.lv.virsh("dumpxml", "--inactive", "g1")),
                  "<nosharepages/> in g1's persistent XML after the switch")
        self.assertFalse(nosharepages(self.lv.virsh("dumpxml", "g1")), "the live XML changed")
        self.wait(lambda: self.rows()["g1"].get("pending-restart") == "true"
                  and self.rows()["g1"].get("mem-merge") == "false", "g1 pending restart")
        self.assert_page_matches_ksmctl()
        self.shot("merge-off")
        self.click_merge("g1")
        self.wait(lambda: not nosharepages(self.lv.virsh("dumpxml", "--inactive", "g1")),
                  "<nosharepages/> gone from g1's persistent XML after the switch")
        self.wait(lambda: self.rows()["g1"].get("pending-restart") == "false", "g1 as it was")
        self.assert_no_console_errors()

        # as nobody: polkit's refusal, shown, and nothing changed
        self.open_page(NOBODY_PORT)
        self.wait(lambda: self.rows().get("g1", {}).get("mem-merge") == "true", "g1 as nobody")
        self.click_merge("g1")
        alert = self.wait(lambda: self.driver.find_elements(
            By.CSS_SELECTOR, "[data-sp-alert='danger']"), "the refusal shown to nobody")
        text = alert[0].text
        self.assertIn("Not allowed to change memory merging of g1", text)
        self.assertIn("polkit refused", text)
        self.assertIn("only root", text)
        self.wait(lambda: self.rows()["g1"].get("mem-merge") == "true"
                  and self.driver.find_element(
                      By.CSS_SELECTOR, "tr[data-domain='g1'] input[data-sp='mem-merge']"
                  ).is_selected(), "the switch back on")
        self.assertFalse(nosharepages(self.lv.virsh("dumpxml", "--inactive", "g1")))
        self.shot("denied")
        self.assert_no_console_errors()

        # samepaged stops: the page says so
        self.open_page()
        self.stop_daemon()
        self.wait_state("not-running")
        self.assertIn("samepaged is not running", self.page_text())
        self.shot("not-running")

        # samepaged back, without libvirt (a socket nobody listens on) and
        # without KSM (a sysfs without kernel/mm/ksm): the page follows it
        # without a reload
        self.js("window.spNoReload = 2")
        self.start_daemon(self.no_ksm_sysfs,
                          "qemu+unix:///system?socket=" + os.path.join(self.dir, "no-libvirt"))
        self.wait_state("ready")
        self.assertEqual(self.js("return window.spNoReload"), 2, "the page was reloaded")
        self.wait(lambda: self.driver.find_elements(By.CSS_SELECTOR, "[data-sp-empty='no-libvirt']"),
                  "the no-libvirt empty state")
        self.wait(lambda: self.driver.find_elements(By.CSS_SELECTOR, "[data-sp-empty='no-ksm']"),
                  "the no-KSM empty state")
        self.assertIn("Not connected to libvirt", self.page_text())
        self.assertIn("No KSM on this kernel", self.page_text())
        self.shot("no-libvirt-no-ksm")

        self.assert_no_console_errors()
        sptestbed.log("browser test done in %.1f s" % (time.monotonic() - began))


if __name__ == "__main__":
    sptest.run_tap()
