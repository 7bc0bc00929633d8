#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The Prometheus rules (data/prometheus/samepage.rules.yml) are valid, pass
their unit test (tests/prometheus/samepage.rules.test.yml), and use only
metric names samepaged writes.

The names samepaged writes are those of tests/metrics-sample (its first
argument): daemon/sp-metrics.c's output for a snapshot with every part
present. A metric renamed there, or a rule or test series with a name or a
label samepaged does not write, fails; so does an alert without a test in
which it fires and one in which it does not, and a recording rule no test
evaluates. Usage: check-prometheus-rules.py METRICS_SAMPLE
"""
import os
import re
import shutil
import subprocess
import sys
import unittest

import yaml

import sptest

RULES = os.path.join(sptest.SOURCE_ROOT, "data", "prometheus", "samepage.rules.yml")
RULES_TEST = os.path.join(sptest.SOURCE_ROOT, "tests", "prometheus", "samepage.rules.test.yml")
METRICS_SAMPLE = sys.argv[1] if len(sys.argv) > 1 else ""
PROMTOOL = shutil.which("promtool")

# Names the rules may use that node_exporter, not samepaged, writes.
NODE_EXPORTER = {"node_textfile_mtime_seconds"}
# Labels of every series scraped from node_exporter.
TARGET_LABELS = {"instance", "job"}

IDENTIFIER = re.compile(r"(?<![\w:.])[a-zA-Z_:][\w:]*")
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "atan2"}
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
SERIES = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?$")
LABEL = re.compile(r'\s*([a-zA-Z_]\w*)\s*=~?\s*"(?:[^"\\]|\\.)*"\s*,?')


def metric_names(expr):
    """The metric names a PromQL expression selects: identifiers that are
    not strings, label names (in {} or a grouping list), functions,
    keywords or durations."""
    expr = STRING.sub('""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = GROUPING.sub(" ", expr)
    names = set()
    for m in IDENTIFIER.finditer(expr):
        if m.group(0) in KEYWORDS or re.match(r"\s*\(", expr[m.end():]):
            continue
        names.add(m.group(0))
    return names


def parse_series(text):
    """(name, {label names}) of a series selector 'name{a="x",b="y"}'."""
    m = SERIES.match(text.strip())
    if not m:
        raise ValueError("not a series: %r" % text)
    labels = set()
    rest = m.group(2) or ""
    while rest.strip():
        label = LABEL.match(rest)
        if not label:
            raise ValueError("bad labels in %r" % text)
        labels.add(label.group(1))
        rest = rest[label.end():]
    return m.group(1), labels


def written_metrics():
    """{family name: set of label names} of what samepaged writes."""
    run = subprocess.run([METRICS_SAMPLE], capture_output=True, text=True, check=True)
    families = {}
    for line in run.stdout.splitlines():
        if line.startswith("# TYPE "):
            families.setdefault(line.split()[2], set())
        elif line and not line.startswith("#"):
            name, labels = parse_series(line.rsplit(" ", 1)[0])
            families.setdefault(name, set()).update(labels)
    return families, run.stdout


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def rules():
    return [r for g in load(RULES)["groups"] for r in g["rules"]]


@unittest.skipUnless(PROMTOOL, "promtool not installed (Debian: prometheus)")
class PromtoolTest(unittest.TestCase):
    def promtool(self, *args):
        run = subprocess.run([PROMTOOL] + list(args), capture_output=True, text=True,
                             stdin=subprocess.DEVNULL)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        return run.stdout

    def test_check_rules(self):
        out = self.promtool("check", "rules", RULES)
        self.assertIn("SUCCESS: %d rules found" % len(rules()), out)

    def test_rules_unit_test(self):
        self.assertIn("SUCCESS", self.promtool("test", "rules", RULES_TEST))

    def test_sample_metrics_lint(self):
        _, text = written_metrics()
        run = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                             text=True)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)


class NamesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.written, _ = written_metrics()
        cls.recorded = {r["record"] for r in rules() if "record" in r}
        cls.known = set(cls.written) | cls.recorded | NODE_EXPORTER

    def test_tokenizer(self):
        # what the checks below rely on: strings, labels, functions and
        # durations are not metric names
        self.assertEqual(metric_names(
            'time() - max without (file) (node_x{file=~"a_b:c"}) > 900 or '
            'rate(samepage_y_total[5m:1m]) / ignoring (domain) group_left () '
            '(sum by (instance) (a:b:c) > bool 0)'),
            {"node_x", "samepage_y_total", "a:b:c"})

    def test_sample_has_every_part(self):
        # the sample shows the parts the rules read; without them the checks
        # below would pass against too few names
        for name in ("samepage_ksm_general_profit_bytes", "samepage_libvirt_connected",
                     "samepage_domain_merging_pages", "samepage_domain_balloon_target_bytes",
                     "samepage_ksm_pages_skipped_total"):
            self.assertTrue(name in self.written, "metrics-sample writes no " + name)
        self.assertEqual(self.written["samepage_domain_merging_pages"], {"domain", "uuid"})

    def test_rules_use_written_names(self):
        for rule in rules():
            what = rule.get("record") or rule.get("alert")
            names = metric_names(rule["expr"])
            self.assertTrue(names, what)
            self.assertEqual(names - self.known, set(),
                             "%s uses names samepaged does not write" % what)
            if "record" in rule:
                self.assertEqual(rule["record"].count(":"), 2, what)

    def test_test_series_are_written(self):
        for group in load(RULES_TEST)["tests"]:
            for series in group["input_series"]:
                name, labels = parse_series(series["series"])
                if name in NODE_EXPORTER:
                    continue
                self.assertTrue(name in self.written,
                                "samepaged writes no %s" % series["series"])
                self.assertEqual(labels - self.written[name] - TARGET_LABELS, set(),
                                 series["series"])
            for case in group.get("promql_expr_test", []):
                self.assertEqual(metric_names(case["expr"]) - self.known, set(), case["expr"])

    def test_every_rule_is_tested(self):
        alerts = {r["alert"] for r in rules() if "alert" in r}
        fires, quiet, evaluated = set(), set(), set()
        for group in load(RULES_TEST)["tests"]:
            for case in group.get("alert_rule_test", []):
                self.assertIn(case["alertname"], alerts)
                (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
            for case in group.get("promql_expr_test", []):
                evaluated |= metric_names(case["expr"])
        self.assertEqual(alerts - fires, set(), "alerts no test fires")
        self.assertEqual(alerts - quiet, set(), "alerts no test keeps quiet")
        self.assertEqual(self.recorded - evaluated, set(), "recording rules no test evaluates")


if __name__ == "__main__":
    sptest.run_tap()
