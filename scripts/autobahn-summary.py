#!/usr/bin/env python3
"""Summarise an Autobahn|Testsuite fuzzingclient report and gate on it.

`wstest` always exits 0, even when cases fail, so the verdict has to be read
from reports/servers/index.json. That file maps agent -> case id -> result,
where result["behavior"] is one of OK, NON-STRICT, INFORMATIONAL,
UNIMPLEMENTED, FAILED, WRONG CODE, UNCLEAN, FAILED BY CLIENT, ...

Prints a table of case counts by behavior per agent, then every case whose
behavior is not allowed, and exits 1 if there is any such case (2 if the
report is missing, unreadable or empty).

Usage:
  scripts/autobahn-summary.py reports/servers/index.json
  scripts/autobahn-summary.py --allow-unimplemented-prefix 12.,13. reports/servers/index.json
  scripts/autobahn-summary.py --allow-close-code 1009 reports/servers/index.json
"""

import argparse
import json
import sys
from collections import Counter

DEFAULT_ALLOWED = "OK,NON-STRICT,INFORMATIONAL"
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
        "--allow",
        default=DEFAULT_ALLOWED,
        type=comma_list,
        help="comma-separated behaviors that pass (default: %(default)s)",
    )
    parser.add_argument(
        "--allow-unimplemented-prefix",
        default=[],
        type=comma_list,
        metavar="PREFIXES",
        help="comma-separated case-id prefixes (e.g. 12.,13. for permessage-deflate) "
        "for which UNIMPLEMENTED also passes",
    )
    parser.add_argument(
        "--allow-close-code",
        type=int,
        default=None,
        metavar="CODE",
        help="a case the server ended with this close code passes whatever its behavior "
        "(natter closes messages over its size limit with 1009); such cases are listed",
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

    allowed = set(args.allow)

    closed_by_code = []

    def passes(case_id, behavior, result):
        if behavior in allowed:
            return True
        if args.allow_close_code is not None and result.get("remoteCloseCode") == args.allow_close_code:
            closed_by_code.append((case_id, behavior))
            return True
        return behavior == "UNIMPLEMENTED" and any(
            case_id.startswith(p) for p in args.allow_unimplemented_prefix
        )

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

    passed = failed = 0
    bad = []
    for agent, cases in sorted(report.items()):
        for case_id in sorted(cases, key=case_key):
            result = cases[case_id]
            behavior = result.get("behavior", "?")
            if passes(case_id, behavior, result):
                passed += 1
            else:
                failed += 1
                bad.append((agent, case_id, result))

    print()
    rule = f"allowed: {', '.join(sorted(allowed))}"
    if args.allow_unimplemented_prefix:
        rule += "; UNIMPLEMENTED for " + ", ".join(p + "*" for p in args.allow_unimplemented_prefix)
    print(rule)
    if closed_by_code:
        ids = ", ".join(f"{case_id} ({behavior})" for case_id, behavior in closed_by_code)
        print(f"{len(closed_by_code)} case(s) ended with close code {args.allow_close_code}: {ids}")
    if bad:
        print(f"{len(bad)} case(s) not allowed:")
        for agent, case_id, result in bad:
            print(
                f"  {agent}  {case_id}  {result.get('behavior', '?')}"
                f"  (close: {result.get('behaviorClose', '?')},"
                f" remote close code: {result.get('remoteCloseCode')})"
            )
    else:
        print("no case outside the allowed set")
    # A plain closing line that CI log readers understand.
    print(f"autobahn: {passed} passed, {failed} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
