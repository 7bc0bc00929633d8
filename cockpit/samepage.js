/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * samepage's Cockpit page: samepaged's D-Bus API (org.samepage1 on the
 * system bus) through Cockpit's own cockpit.js. Everything shown comes from
 * the proxies' property caches, kept current by PropertiesChanged and the
 * ObjectManager signals; the page never polls and spawns nothing. The chart
 * keeps its samples in the page (the last hour).
 *
 * Every value the page shows from the bus carries data-sp (its name) and
 * data-value (the raw number or string), which tests/browser-cockpit.py
 * compares with ksmctl --json.
 */
"use strict";

(function () {
    const _ = cockpit.gettext;

    const BUS_NAME = "org.samepage1";
    const MANAGER_PATH = "/org/samepage1";
    const MANAGER_IFACE = "org.samepage1.Manager";
    const DOMAIN_IFACE = "org.samepage1.Domain";
    const ACCESS_DENIED = "org.samepage1.Error.AccessDenied";
    const CHART_SPAN_MS = 3600 * 1000;
    const SAMPLE_EVERY_MS = 10 * 1000; /* carries the last values on between changes */

    const view = {
        owner: undefined, /* the bus name's owner: undefined unknown yet, null none */
        closed: null, /* the D-Bus channel closed: its problem */
        samples: [], /* {t, saved, committed, available} */
        decisions: [], /* {t, action, reason} */
        lastDecisionTime: 0,
        sort: { key: "name", ascending: true },
        alerts: [], /* {id, variant, title, text} */
        pending: {}, /* domain name -> true while SetMemMerge runs */
        nextAlertId: 1,
    };

    /* the connection and its proxies: made again when samepaged comes back */
    let client = null;
    let manager = { valid: false };
    let domains = {};

    /* ---- formatting ---------------------------------------------------- */

    /* as samepage's sp_format_kib(): "512 KiB", "1.5 MiB", "3.2 GiB" */
    function formatKib(kib) {
        const units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        let value = Math.abs(kib);
        let unit = 0;
        if (value < 1024)
            return kib + " KiB";
        while (value >= 1023.95 && unit + 1 < units.length) {
            value /= 1024;
            unit++;
        }
        return (kib < 0 ? "-" : "") + value.toFixed(1) + " " + units[unit];
    }

    function formatTime(us) {
        if (!us)
            return _("none yet");
        return new Date(us / 1000).toLocaleString();
    }

    function ksmState(run) {
        return [_("stopped"), _("merging"), _("unmerging")][run] || String(run);
    }

    /* ---- DOM helpers (text only: names from the bus never become markup) */

    function el(tag, attrs, ...children) {
        const node = document.createElement(tag);
        for (const [key, value] of Object.entries(attrs || {})) {
            if (value === undefined || value === null || value === false)
                continue;
            if (key.startsWith("on"))
                node.addEventListener(key.substring(2), value);
            else
                node.setAttribute(key, value === true ? "" : String(value));
        }
        for (const child of children.flat(Infinity)) {
            if (child === null || child === undefined || child === false)
                continue;
            node.append(child instanceof Node ? child : document.createTextNode(String(child)));
        }
        return node;
    }

    function svg(tag, attrs, ...children) {
        const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
        for (const [key, value] of Object.entries(attrs || {}))
            node.setAttribute(key, String(value));
        for (const child of children.flat(Infinity)) {
            if (child !== null && child !== undefined)
                node.append(child instanceof Node ? child : document.createTextNode(String(child)));
        }
        return node;
    }

    /* a value from the bus: data-sp names it, data-value holds it raw */
    function value(name, raw, text) {
        return el("span", { "data-sp": name, "data-value": String(raw) }, text === undefined ? String(raw) : text);
    }

    function card(id, title, ...body) {
        return el("section", { class: "pf-c-card sp-card", id, "aria-labelledby": id + "-title" },
                  el("div", { class: "pf-c-card__title" },
                     el("h2", { class: "pf-c-title pf-m-lg", id: id + "-title" }, title)),
                  el("div", { class: "pf-c-card__body" }, body));
    }

    function emptyState(id, title, ...body) {
        return el("div", { class: "pf-c-empty-state sp-empty", id, "data-sp-empty": id },
                  el("div", { class: "pf-c-empty-state__content" },
                     el("h2", { class: "pf-c-title pf-m-lg" }, title),
                     el("div", { class: "pf-c-empty-state__body" }, body)));
    }

    function facts(rows) {
        return el("dl", { class: "pf-c-description-list pf-m-compact sp-facts" },
                  rows.filter(Boolean).map(([term, ...description]) =>
                      el("div", { class: "pf-c-description-list__group" + (term === _("Decision") || term === _("libvirt") ? " sp-fact-wide" : "") },
                         el("dt", { class: "pf-c-description-list__term" },
                            el("span", { class: "pf-c-description-list__text" }, term)),
                         el("dd", { class: "pf-c-description-list__description" },
                            el("div", { class: "pf-c-description-list__text" }, description)))));
    }

    /* ---- alerts ---------------------------------------------------------- */

    function addAlert(variant, title, text) {
        view.alerts.push({ id: view.nextAlertId++, variant, title, text });
        scheduleRender();
    }

    function renderAlerts() {
        return el("ul", { class: "pf-c-alert-group sp-alerts", "aria-live": "polite" },
                  view.alerts.map(alert =>
                      el("li", { class: "pf-c-alert-group__item" },
                         el("div", {
                             class: "pf-c-alert pf-m-inline pf-m-" + alert.variant,
                             role: alert.variant === "danger" ? "alert" : "status",
                             "data-sp-alert": alert.variant,
                         },
                            el("p", { class: "pf-c-alert__title" }, alert.title),
                            el("div", { class: "pf-c-alert__action" },
                               el("button", {
                                   class: "pf-c-button pf-m-plain",
                                   type: "button",
                                   id: "sp-alert-close-" + alert.id,
                                   "aria-label": _("Close"),
                                   onclick: () => {
                                       view.alerts = view.alerts.filter(a => a.id !== alert.id);
                                       scheduleRender();
                                   },
                               }, "×")),
                            el("div", { class: "pf-c-alert__description" }, alert.text)))));
    }

    /* ---- samples for the chart ------------------------------------------ */

    function sample() {
        if (!manager.valid || view.owner === null)
            return;
        const now = Date.now();
        view.samples.push({
            t: now,
            saved: manager.SavedKiB,
            committed: manager.CommittedKiB,
            available: manager.MemAvailableKiB,
        });
        while (view.samples.length > 0 && view.samples[0].t < now - CHART_SPAN_MS)
            view.samples.shift();
        while (view.decisions.length > 0 && view.decisions[0].t < now - CHART_SPAN_MS)
            view.decisions.shift();
    }

    function noteDecision(action, reason, timeUs) {
        if (!timeUs || timeUs === view.lastDecisionTime)
            return;
        view.lastDecisionTime = timeUs;
        const t = timeUs / 1000;
        if (t >= Date.now() - CHART_SPAN_MS)
            view.decisions.push({ t, action, reason });
    }

    const SERIES = [
        { key: "available", label: _("Available"), cls: "sp-line-available" },
        { key: "committed", label: _("Committed"), cls: "sp-line-committed" },
        { key: "saved", label: _("Saved by KSM"), cls: "sp-line-saved" },
    ];

    function renderChart() {
        const W = 1000;
        const H = 180;
        const left = 78;
        const right = 10;
        const top = 10;
        const bottom = 26;
        const now = Date.now();
        const start = now - CHART_SPAN_MS;
        const x = t => left + (W - left - right) * (t - start) / CHART_SPAN_MS;
        let max = 1024;
        for (const s of view.samples)
            max = Math.max(max, s.saved, s.committed, s.available);
        max *= 1.1;
        const y = v => top + (H - top - bottom) * (1 - v / max);

        const grid = [];
        for (let i = 0; i <= 4; i++) {
            const v = max * i / 4;
            grid.push(svg("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), class: "sp-grid" }));
            grid.push(svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "sp-axis" },
                          formatKib(Math.round(v))));
        }
        for (let m = 0; m <= 60; m += 15) {
            const t = start + m * 60000;
            grid.push(svg("text", { x: x(t), y: H - 6, "text-anchor": m === 0 ? "start" : m === 60 ? "end" : "middle", class: "sp-axis" },
                          m === 60 ? _("now") : "−" + (60 - m) + " min"));
        }

        const marks = view.decisions.map(d =>
            svg("line", {
                x1: x(d.t), x2: x(d.t), y1: top, y2: H - bottom,
                class: "sp-mark sp-mark-" + d.action,
                "data-sp-mark": d.action,
            }, svg("title", {}, new Date(d.t).toLocaleTimeString() + " " + d.action + ": " + d.reason)));

        const lines = SERIES.map(series => {
            const points = view.samples.map(s => x(s.t).toFixed(1) + "," + y(s[series.key]).toFixed(1));
            if (points.length === 1)
                points.push(x(now).toFixed(1) + "," + y(view.samples[0][series.key]).toFixed(1));
            return svg("polyline", { points: points.join(" "), class: "sp-line " + series.cls, "data-sp-series": series.key });
        });

        const chart = svg("svg", {
            viewBox: "0 0 " + W + " " + H,
            class: "sp-chart",
            role: "img",
            "aria-label": _("Memory saved, committed and available over the last hour; marks show KSM decisions"),
            "data-samples": view.samples.length,
        }, grid, marks, lines);

        const legend = el("ul", { class: "sp-legend" },
                          SERIES.map(series => el("li", {}, el("span", { class: "sp-swatch " + series.cls }), series.label)),
                          el("li", {}, el("span", { class: "sp-swatch sp-mark-run" }), _("decision: run")),
                          el("li", {}, el("span", { class: "sp-swatch sp-mark-stop" }), _("decision: stop")));
        return [chart, legend];
    }

    /* ---- host ------------------------------------------------------------ */

    function renderHost() {
        const m = manager;
        const ksmRows = m.KsmAvailable
            ? [
                [_("KSM"), value("ksm-run", m.Run, ksmState(m.Run)),
                    el("div", { class: "sp-muted" }, cockpit.format(_("$0 pages every $1 ms"), m.PagesToScan, m.SleepMillisecs))],
                [_("Memory saved"), value("saved-kib", m.SavedKiB, formatKib(m.SavedKiB)),
                    el("div", { class: "sp-muted" }, cockpit.format(_("$0 pages sharing, $1 shared"), m.PagesSharing, m.PagesShared))],
                ("general_profit" in (m.KsmFiles || {}))
                    ? [_("KSM profit"), value("general-profit", m.GeneralProfit, formatKib(Math.trunc(m.GeneralProfit / 1024))),
                        el("div", { class: "sp-muted" }, _("saved less ksmd's metadata"))]
                    : null,
                /* what KSM costs (ksmd's CPU, from the daemon's decision windows) */
                [_("KSM cost"),
                    value("ksmd-cpu", m.KsmdCpuPercent,
                          m.KsmdCpuPercent < 0 ? _("not measured yet") : cockpit.format(_("ksmd $0 % of a core"), m.KsmdCpuPercent.toFixed(1))),
                    el("div", { class: "sp-muted" },
                       m.SavedKiBPerCpuSecond >= 0 ? cockpit.format(_("$0 saved per CPU-second, "), formatKib(Math.round(m.SavedKiBPerCpuSecond))) : "",
                       cockpit.format(_("profit guard $0"), ""), value("profit-guard", m.ProfitGuard))],
            ]
            : [];

        const body = [
            facts([
                [_("Decision"),
                    el("span", { class: "pf-c-label pf-m-compact sp-action-" + m.LastAction },
                       el("span", { class: "pf-c-label__content" }, value("last-action", m.LastAction))),
                    " ", value("last-reason", m.LastReason, m.LastReason.replace(/^(run|stop|none): /, "")),
                    el("div", { class: "sp-muted" }, formatTime(m.LastDecisionTime))],
                [_("Mode"), value("mode", m.Mode), m.DryRun ? " " + _("(dry run: decides, writes nothing)") : ""],
                ...ksmRows,
                [_("Committed"), value("committed-kib", m.CommittedKiB, formatKib(m.CommittedKiB)),
                    el("div", { class: "sp-muted" }, cockpit.format(_("$0 guests running"), m.DomainsActive))],
                [_("Available"), value("available-kib", m.MemAvailableKiB, formatKib(m.MemAvailableKiB)),
                    el("div", { class: "sp-muted" }, cockpit.format(_("of $0"), formatKib(m.MemTotalKiB)))],
                [_("Threshold"), value("threshold-kib", m.ThresholdKiB, formatKib(m.ThresholdKiB)),
                    el("div", { class: "sp-muted" }, _("KSM runs when available falls below"))],
                [_("Balloons"), value("balloon-mode", m.BalloonMode),
                    m.BalloonMode !== "off" ? el("div", { class: "sp-muted" }, value("balloon-reason", m.BalloonReason)) : ""],
                [_("libvirt"), value("libvirt-status", m.LibvirtStatus || _("not connected")),
                    m.LibvirtUri ? el("div", { class: "sp-muted sp-wrap" }, m.LibvirtUri) : ""],
            ]),
        ];
        if (!m.KsmAvailable) {
            body.unshift(emptyState("no-ksm", _("No KSM on this kernel"),
                                    _("This kernel has no /sys/kernel/mm/ksm (built without CONFIG_KSM): samepaged keeps watching the guests but cannot merge memory.")));
        }
        return card("sp-host", _("Host"), body);
    }

    /* ---- guests ---------------------------------------------------------- */

    const COLUMNS = [
        { key: "name", label: _("Name"), get: d => d.Name },
        { key: "state", label: _("State"), get: d => d.Active ? 1 : 0 },
        { key: "memory", label: _("Memory"), get: d => d.CurrentKiB },
        { key: "merge", label: _("Merging"), get: d => d.MemMerge ? 1 : 0 },
        { key: "pending", label: _("Pending restart"), get: d => d.PendingRestart ? 1 : 0 },
        { key: "merged", label: _("Merged pages"), get: d => d.MergingPages },
        { key: "unmergeable", label: _("Unmergeable"), get: d => d.UnmergeableReason },
        { key: "balloon", label: _("Balloon"), get: d => d.BalloonState || "" },
    ];

    function domainList() {
        const list = Object.keys(domains).map(path => domains[path]).filter(d => d.valid && d.Name);
        const column = COLUMNS.find(c => c.key === view.sort.key) || COLUMNS[0];
        list.sort((a, b) => {
            const va = column.get(a);
            const vb = column.get(b);
            let order = typeof va === "string" ? va.localeCompare(vb) : va - vb;
            if (order === 0)
                order = a.Name.localeCompare(b.Name);
            return view.sort.ascending ? order : -order;
        });
        return list;
    }

    function setMemMerge(d, enabled) {
        const name = d.Name;
        view.pending[name] = true;
        scheduleRender();
        client.call(MANAGER_PATH, MANAGER_IFACE, "SetMemMerge", [name, enabled])
                .then(() => {
                    if (d.Active) {
                        addAlert("info", cockpit.format(_("Memory merging of $0 turned $1"), name, enabled ? _("on") : _("off")),
                                 _("The change takes effect when the guest is next started; a guest reboot is not enough."));
                    }
                })
                .catch(error => {
                    if (error.name === ACCESS_DENIED) {
                        addAlert("danger", cockpit.format(_("Not allowed to change memory merging of $0"), name),
                                 cockpit.format(_("polkit refused: $0. Turn on administrative access, or ask an administrator."),
                                                error.message));
                    } else {
                        addAlert("danger", cockpit.format(_("Could not change memory merging of $0"), name),
                                 error.message || String(error));
                    }
                })
                .finally(() => {
                    delete view.pending[name];
                    scheduleRender();
                });
    }

    function mergeSwitch(d) {
        const id = "sp-merge-" + d.Uuid;
        const disabled = view.pending[d.Name] || !d.Persistent;
        return el("label", { class: "pf-c-switch", for: id },
                  el("input", {
                      class: "pf-c-switch__input",
                      type: "checkbox",
                      role: "switch",
                      id,
                      "data-sp": "mem-merge",
                      "data-value": String(d.MemMerge),
                      checked: d.MemMerge,
                      disabled,
                      "aria-label": cockpit.format(_("Memory merging of $0"), d.Name),
                      onchange: event => setMemMerge(d, event.target.checked),
                  }),
                  el("span", { class: "pf-c-switch__toggle" }),
                  el("span", { class: "pf-c-switch__label pf-m-on", "aria-hidden": "true" }, _("On")),
                  el("span", { class: "pf-c-switch__label pf-m-off", "aria-hidden": "true" }, _("Off")));
    }

    function balloonCell(d) {
        if (!d.BalloonModel || d.BalloonModel === "none")
            return value("balloon-state", "", _("no balloon"));
        if (manager.BalloonMode === "off")
            return value("balloon-state", d.BalloonState || "none", _("off"));
        if (!d.BalloonManaged)
            return value("balloon-state", d.BalloonState || "none", _("opted out"));
        const parts = [value("balloon-state", d.BalloonState || "none")];
        if (d.BalloonState && d.BalloonState !== "none" && d.BalloonTargetKiB)
            parts.push(" → ", value("balloon-target-kib", d.BalloonTargetKiB, formatKib(d.BalloonTargetKiB)));
        if (d.BalloonReason)
            parts.push(el("div", { class: "sp-muted" }, d.BalloonReason));
        return parts;
    }

    function domainRow(d) {
        const cell = (label, ...content) => el("td", { "data-label": label }, content);
        return el("tr", { "data-domain": d.Name },
                  cell(_("Name"), value("name", d.Name)),
                  cell(_("State"), value("active", d.Active, d.Active ? _("running") : _("shut off"))),
                  cell(_("Memory"), value("current-kib", d.CurrentKiB, formatKib(d.CurrentKiB))),
                  cell(_("Merging"), mergeSwitch(d)),
                  cell(_("Pending restart"), value("pending-restart", d.PendingRestart,
                                                   d.PendingRestart ? _("yes: takes effect at the next cold start") : _("no"))),
                  cell(_("Merged pages"), value("merging-pages", d.MergingPages)),
                  cell(_("Unmergeable"), value("unmergeable-reason", d.UnmergeableReason, d.UnmergeableReason || "—"),
                       d.UnmergeablePart ? el("div", { class: "sp-muted" }, d.UnmergeablePart) : ""),
                  cell(_("Balloon"), balloonCell(d)));
    }

    function sortHeader(column) {
        const selected = view.sort.key === column.key;
        const direction = view.sort.ascending ? "ascending" : "descending";
        return el("th", {
            class: "pf-c-table__sort" + (selected ? " pf-m-selected" : ""),
            scope: "col",
            "aria-sort": selected ? direction : "none",
        },
                  el("button", {
                      class: "pf-c-table__button",
                      type: "button",
                      id: "sp-sort-" + column.key,
                      onclick: () => {
                          if (view.sort.key === column.key)
                              view.sort.ascending = !view.sort.ascending;
                          else
                              view.sort = { key: column.key, ascending: true };
                          scheduleRender();
                      },
                  },
                     el("div", { class: "pf-c-table__button-content" },
                        el("span", { class: "pf-c-table__text" }, column.label),
                        el("span", { class: "pf-c-table__sort-indicator", "aria-hidden": "true" },
                           selected ? (view.sort.ascending ? "▲" : "▼") : "⇅"))));
    }

    function renderGuests() {
        const list = domainList();
        const body = [];
        if (!manager.LibvirtConnected) {
            body.push(emptyState("no-libvirt", _("Not connected to libvirt"),
                                 manager.LibvirtStatus || _("samepaged has no libvirt connection."),
                                 el("p", {}, _("samepaged retries by itself; guests appear here once libvirtd answers."))));
        } else if (list.length === 0) {
            body.push(emptyState("no-guests", _("No guests"), _("libvirt has no domains defined.")));
        }
        if (list.length > 0) {
            body.push(el("table", { class: "pf-c-table pf-m-grid-md pf-m-compact sp-guests", role: "grid", "aria-label": _("Guests") },
                         el("thead", {}, el("tr", {}, COLUMNS.map(sortHeader))),
                         el("tbody", {}, list.map(domainRow))));
        }
        return card("sp-guests", _("Guests"), body);
    }

    /* ---- the page -------------------------------------------------------- */

    function renderPage() {
        const main = [el("h1", { class: "pf-c-title pf-m-2xl sp-heading" }, _("Memory sharing"),
                         manager.valid && manager.Version ? el("small", { class: "sp-muted" }, " samepaged " + manager.Version) : ""),
        renderAlerts()];
        if (view.closed) {
            main.push(emptyState("bus-closed", _("Cannot reach the system bus"), cockpit.message(view.closed)));
            return main;
        }
        if (view.owner === null) {
            main.push(emptyState("not-running", _("samepaged is not running"),
                                 el("p", {}, _("Nothing owns org.samepage1 on the system bus.")),
                                 el("p", {}, _("Start it with "), el("code", {}, "systemctl start samepaged"),
                                    _("; this page follows as soon as it is up."))));
            return main;
        }
        if (!manager.valid) {
            main.push(el("p", { class: "sp-loading" }, _("Connecting to samepaged…")));
            return main;
        }
        main.push(renderHost());
        main.push(card("sp-chart", _("Last hour"), renderChart()));
        main.push(renderGuests());
        return main;
    }

    let renderQueued = false;

    function render() {
        renderQueued = false;
        const root = document.getElementById("samepage");
        const focused = document.activeElement && document.activeElement.id;
        root.replaceChildren(...renderPage());
        root.setAttribute("aria-busy", String(view.owner === undefined && !manager.valid && !view.closed));
        root.setAttribute("data-state", view.closed ? "closed" : view.owner === null ? "not-running" : manager.valid ? "ready" : "loading");
        if (focused) {
            const again = document.getElementById(focused);
            if (again)
                again.focus();
        }
    }

    function scheduleRender() {
        if (!renderQueued) {
            renderQueued = true;
            window.setTimeout(render, 0);
        }
    }

    /* ---- wiring ---------------------------------------------------------- */

    function connect() {
        const me = cockpit.dbus(BUS_NAME, { bus: "system", superuser: "try" });
        const proxy = me.proxy(MANAGER_IFACE, MANAGER_PATH);
        const objects = me.proxies(DOMAIN_IFACE, MANAGER_PATH);
        client = me;
        manager = proxy;
        domains = objects;

        me.addEventListener("owner", (event, owner) => {
            if (me !== client)
                return;
            const back = view.owner === null && owner;
            view.owner = owner;
            if (owner === null)
                view.samples = [];
            if (back) {
                /* a new samepaged: fresh proxies, read from it afresh */
                client = null;
                me.close();
                connect();
            }
            scheduleRender();
        });
        me.addEventListener("close", (event, options) => {
            if (me !== client)
                return;
            view.closed = options || { problem: "disconnected" };
            scheduleRender();
        });
        proxy.addEventListener("changed", () => {
            if (proxy.valid && proxy === manager) {
                noteDecision(proxy.LastAction, proxy.LastReason, proxy.LastDecisionTime);
                sample();
            }
            scheduleRender();
        });
        proxy.addEventListener("Tuned", (event, action, reason, time) => {
            noteDecision(action, reason, time);
            scheduleRender();
        });
        proxy.wait().catch(() => {}).finally(scheduleRender);
        objects.addEventListener("added", scheduleRender);
        objects.addEventListener("changed", scheduleRender);
        objects.addEventListener("removed", scheduleRender);
        objects.wait().catch(() => {}).finally(scheduleRender);
    }

    connect();

    window.setInterval(() => {
        sample();
        if (manager.valid)
            scheduleRender();
    }, SAMPLE_EVERY_MS);

    scheduleRender();
}());
