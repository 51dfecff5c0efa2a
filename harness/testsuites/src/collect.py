# introspec-testsuites: read what one regrtest run left (its --junit-xml file and its
# output) and print one JSON object on stdout: the outcome of every test case, by test id.
#
# argv: JUNIT_XML OUTPUT_FILE
#
# The JUnit file names every test case that reported an outcome (test.id(), with the
# status regrtest's RegressionTestResult gives it). A test whose subtests failed reports no
# outcome there (RegressionTestResult has no addSubTest: its <testcase> stays unnamed), so
# unittest's own "FAIL: name (class)" and "ERROR: name (class)" headers in the output are
# read too; they also name a setUpClass or a module that failed to import.
import json
import re
import sys
import xml.etree.ElementTree as ET

xml_path, out_path = sys.argv[1], sys.argv[2]

# worst first: a test with several subtests takes the worst of their outcomes
RANK = ["error", "failure", "unexpected_success", "passed", "expected_failure", "skipped"]

cases = {}
unnamed = 0


def put(test_id, outcome):
    old = cases.get(test_id)
    if old is None or RANK.index(outcome) < RANK.index(old):
        cases[test_id] = outcome


try:
    root = ET.parse(xml_path).getroot()
except (OSError, ET.ParseError):
    root = None
if root is not None:
    for tc in root.iter("testcase"):
        name = tc.get("name")
        if not name:
            unnamed += 1
            continue
        tags = {child.tag for child in tc}
        if "error" in tags:
            outcome = "error"
        elif "failure" in tags:
            outcome = "failure"
        elif "skipped" in tags:
            outcome = "skipped"
        elif "output" in tags:
            outcome = "expected_failure"
        elif "outcome" in tags:
            outcome = "unexpected_success"
        else:
            outcome = "passed"
        put(name, outcome)

HEADER = re.compile(r"^(FAIL|ERROR|UNEXPECTED SUCCESS): (\w+) \(([\w.]+)\)")
result = None
with open(out_path, encoding="utf-8", errors="replace") as f:
    for line in f:
        line = line.rstrip("\n")
        m = HEADER.match(line)
        if m:
            kind, name, where = m.groups()
            # 3.11+ print "name (module.Class.name)", 3.9 and 3.10 "name (module.Class)"
            test_id = where if where.endswith("." + name) else where + "." + name
            put(test_id, {"FAIL": "failure", "ERROR": "error"}.get(kind, "unexpected_success"))
        m = re.match(r"^== Tests result: (.+) ==$", line.strip())
        if m:
            result = m.group(1)

json.dump({"cases": cases, "unnamed": unnamed, "result": result}, sys.stdout, sort_keys=True)
