#!/usr/bin/env python3
"""Renders the figures of a reliability run (JSON lines from RecordFigure) as a Markdown table.

Usage: report.py FIGURES.jsonl   (prints the table; exit 1 if a figure failed or none was recorded)
"""
import json
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rows = []
    with open(sys.argv[1], encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                print(f"{sys.argv[1]}:{number}: not a figure: {e}", file=sys.stderr)
                return 1
    if not rows:
        print(f"{sys.argv[1]}: no figure was recorded", file=sys.stderr)
        return 1
    print("| scenario | measure | value | target | result |")
    print("|---|---|---|---|---|")
    for r in rows:
        cells = [r["scenario"], r["measure"], r["value"], r["target"],
                 "ok" if r["ok"] else "**FAILED**"]
        print("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    failed = sum(1 for r in rows if not r["ok"])
    print(f"\n{len(rows) - failed} figures ok, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
