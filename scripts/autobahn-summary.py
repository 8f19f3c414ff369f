#!/usr/bin/env python3
"""Summarise an Autobahn|Testsuite fuzzingclient report and gate on it.

`wstest` always exits 0, even when cases fail, so the verdict has to be read
from reports/servers/index.json. That file maps agent -> case id -> result,
where result["behavior"] is Autobahn's verdict: OK, NON-STRICT, INFORMATIONAL,
UNIMPLEMENTED, FAILED, WRONG CODE, UNCLEAN, FAILED BY CLIENT, ...

Prints Autobahn's verdicts as it gives them: a table of case counts by
verdict per agent, then every case whose verdict is a failure (FAILED, WRONG
CODE, UNCLEAN, FAILED BY CLIENT, or anything unknown), and exits 1 if there
is any (2 if the report is missing, unreadable or empty). UNIMPLEMENTED is
Autobahn's verdict for a feature the server does not offer (natter offers no
permessage-deflate, sections 12 and 13); it is counted and shown as such,
never as passed, and fails the run only outside the prefixes allowed.

Usage:
  scripts/autobahn-summary.py reports/servers/index.json
  scripts/autobahn-summary.py --unimplemented-allowed-for 12.,13. reports/servers/index.json
"""

import argparse
import json
import sys
from collections import Counter

# Autobahn's verdicts that mean the server behaved correctly.
PASSING = {"OK", "NON-STRICT", "INFORMATIONAL"}
# Column order for the table; any other behavior found is appended after.
KNOWN_ORDER = [
    "OK",
    "NON-STRICT",
    "INFORMATIONAL",
    "UNIMPLEMENTED",
    "FAILED",
    "WRONG CODE",
    "UNCLEAN",
    "FAILED BY CLIENT",
]


def comma_list(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def case_key(case_id):
    # Sort "9.10.1" after "9.2.1": compare the dotted parts as numbers.
    return tuple(int(p) if p.isdigit() else p for p in case_id.split("."))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Summarise an Autobahn fuzzingclient index.json and fail on disallowed behaviors."
    )
    parser.add_argument("index", help="path to reports/servers/index.json")
    parser.add_argument(
        "--unimplemented-allowed-for",
        default=[],
        type=comma_list,
        metavar="PREFIXES",
        help="comma-separated case-id prefixes (e.g. 12.,13. for permessage-deflate) "
        "where UNIMPLEMENTED does not fail the run",
    )
    args = parser.parse_args(argv)

    try:
        with open(args.index, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        print(f"autobahn-summary: cannot read {args.index}: {e}", file=sys.stderr)
        return 2
    if not isinstance(report, dict) or not any(
        isinstance(cases, dict) and cases for cases in report.values()
    ):
        print(f"autobahn-summary: {args.index} holds no test cases", file=sys.stderr)
        return 2

    def verdict_fails(case_id, behavior):
        if behavior in PASSING:
            return False
        if behavior == "UNIMPLEMENTED":
            return not any(case_id.startswith(p) for p in args.unimplemented_allowed_for)
        return True

    counts = {agent: Counter(r.get("behavior", "?") for r in cases.values())
              for agent, cases in sorted(report.items())}
    seen = set().union(*counts.values())
    columns = [b for b in KNOWN_ORDER if b in seen] + sorted(seen - set(KNOWN_ORDER))

    # Table: one row per agent, one column per behavior seen, and a total.
    header = ["agent"] + columns + ["total"]
    rows = [[agent] + [str(c[b]) for b in columns] + [str(sum(c.values()))]
            for agent, c in counts.items()]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def fmt(row):
        return "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        )

    print(fmt(header))
    print(fmt(["-" * w for w in widths]))
    for row in rows:
        print(fmt(row))

    passing = unimplemented = 0
    bad = []
    for agent, cases in sorted(report.items()):
        for case_id in sorted(cases, key=case_key):
            result = cases[case_id]
            behavior = result.get("behavior", "?")
            if verdict_fails(case_id, behavior):
                bad.append((agent, case_id, result))
            elif behavior == "UNIMPLEMENTED":
                unimplemented += 1
            else:
                passing += 1

    print()
    if bad:
        print(f"{len(bad)} case(s) with a failing verdict:")
        for agent, case_id, result in bad:
            print(
                f"  {agent}  {case_id}  {result.get('behavior', '?')}"
                f"  (close: {result.get('behaviorClose', '?')},"
                f" remote close code: {result.get('remoteCloseCode')})"
            )
    else:
        print("no case with a failing verdict")
    if unimplemented:
        prefixes = ", ".join(p + "*" for p in args.unimplemented_allowed_for)
        print(f"{unimplemented} case(s) UNIMPLEMENTED ({prefixes}: not offered), neither passed nor failed")
    # A plain closing line that CI log readers understand: passed counts
    # Autobahn's OK, NON-STRICT and INFORMATIONAL verdicts only.
    print(f"autobahn: {passing} passed, {len(bad)} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
