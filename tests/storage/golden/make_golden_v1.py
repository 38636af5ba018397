#!/usr/bin/env python3
"""Makes samples_v1.db: a samples database in schema version 1 (one row per sample), the layout
of the first storage build, for the migration test (tests/storage/migration_test.cc).

Contents, which the test checks sample by sample after migrating:
  tags "pump1.pressure", "pump1.flow", "press.temp" (ids 1, 2, 3)
  tag k (0-based), sample i in 0..299: ts = 2026-01-01T00:00:00Z + i * 100 ms + k ms,
  value = i * 0.5 + k, quality bad (1) when i % 10 == 9, else good (0).
Rows are inserted interleaved across tags, as the old writer did.

Usage: make_golden_v1.py OUTPUT.db
"""
import os
import sqlite3
import sys

BASE_US = 1767225600 * 1_000_000  # 2026-01-01T00:00:00Z
TAGS = ["pump1.pressure", "pump1.flow", "press.temp"]
COUNT = 300


def main():
    out = sys.argv[1]
    if os.path.exists(out):
        os.remove(out)
    db = sqlite3.connect(out)
    db.executescript(
        """
        CREATE TABLE tag(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
        CREATE TABLE sample(tag_id INTEGER NOT NULL, ts_us INTEGER NOT NULL,
                            value REAL NOT NULL, quality INTEGER NOT NULL);
        PRAGMA user_version = 1;
        """
    )
    for k, name in enumerate(TAGS):
        db.execute("INSERT INTO tag(id, name) VALUES (?, ?)", (k + 1, name))
    for i in range(COUNT):
        for k in range(len(TAGS)):
            db.execute(
                "INSERT INTO sample VALUES (?, ?, ?, ?)",
                (k + 1, BASE_US + i * 100_000 + k * 1000, i * 0.5 + k, 1 if i % 10 == 9 else 0),
            )
    db.commit()
    db.close()


if __name__ == "__main__":
    main()
