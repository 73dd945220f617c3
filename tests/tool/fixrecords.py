#!/usr/bin/python3
"""Rewrites the 'end records=N' line of hand-written fixtures to the number of records above it
(an authoring aid: fixtures stay hand-written, the count is tedious). Usage: fixrecords.py FILE..."""
import sys

for path in sys.argv[1:]:
    with open(path, encoding="ascii") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or not lines[-1].startswith("end records="):
        print(f"{path}: no end line, left alone", file=sys.stderr)
        continue
    lines[-1] = f"end records={len(lines) - 2}"
    with open(path, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
