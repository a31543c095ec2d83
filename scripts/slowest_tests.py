"""Print what CI ran from pytest's JUnit reports: the count per outcome and the slowest tests.

Usage: ``python scripts/slowest_tests.py [--top N] REPORT.xml...`` (one report per test tier).
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path
from typing import NamedTuple


class Case(NamedTuple):
    seconds: float
    name: str
    outcome: str
    report: str


def read_cases(report: Path) -> list[Case]:
    """Every test case of one JUnit report, with its outcome."""
    cases = []
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        cases.append(Case(float(case.get("time", 0.0)), name, outcome, report.stem))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    cases = [case for report in args.reports if report.exists() for case in read_cases(report)]
    outcomes = Counter(case.outcome for case in cases)
    executed = outcomes["passed"] + outcomes["failed"] + outcomes["error"]
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
    print(f"tests executed: {executed} ({summary})")
    print(f"{args.top} slowest tests:")
    for case in sorted(cases, reverse=True)[: args.top]:
        print(f"{case.seconds:9.2f}s  [{case.report}] {case.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
