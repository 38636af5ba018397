#!/usr/bin/env python3
"""Makes samples_v2.db: a samples database in schema version 2 (per-tag chunks, no ordinals), as
the writer of that version left it, for the migration test (tests/storage/migration_test.cc).

Contents, which the test checks after migrating to version 3:
  tags "pump1.pressure", "pump1.flow", "press.temp", "idle.tag" (ids 1..4; idle.tag has no chunk)
  rounds r in 0..11, in each round tag k in 0..2 gets one chunk of n = 5 + (r * 7 + k * 3) % 40
  samples unless (r + k) % 5 == 4, so chunk rows of the tags interleave unevenly in rowid order.
  Sample idx (0-based, per tag, counted over all its chunks): ts = 2026-01-01T00:00:00Z +
  idx * 100 ms + k ms, value = idx * 0.25 + k, quality bad when idx % 7 == 6.
  Then the first chunk (rowid 1: tag pump1.pressure, idx 0..4) is deleted, as retention did, so
  the migrated ordinals of pump1.pressure start at 0 with idx 5.
Chunk blobs are encoded as storage/chunk_codec.h documents.

Usage: make_golden_v2.py OUTPUT.db
"""
import os
import sqlite3
import struct
import sys

BASE_US = 1767225600 * 1_000_000  # 2026-01-01T00:00:00Z
TAGS = ["pump1.pressure", "pump1.flow", "press.temp", "idle.tag"]
ROUNDS = 12


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def chunk(samples):  # [(ts_us, value, bad)]
    blob, prev = b"", 0
    for ts, value, bad in samples:
        d = ts - prev
        zz = ((d << 1) ^ (d >> 63)) & ((1 << 64) - 1)
        blob += varint(((zz << 1) | bad) & ((1 << 64) - 1)) + struct.pack("<d", value)
        prev = ts
    return blob


def main():
    out = sys.argv[1]
    if os.path.exists(out):
        os.remove(out)
    db = sqlite3.connect(out, isolation_level=None)
    db.executescript(
        """
        PRAGMA auto_vacuum = INCREMENTAL;
        CREATE TABLE tag(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
        CREATE TABLE chunk(
          id INTEGER PRIMARY KEY,
          tag_id INTEGER NOT NULL,
          start_us INTEGER NOT NULL,
          end_us INTEGER NOT NULL,
          n INTEGER NOT NULL,
          data BLOB NOT NULL);
        CREATE INDEX chunk_by_tag_start ON chunk(tag_id, start_us);
        PRAGMA user_version = 2;
        """
    )
    db.execute("BEGIN")
    for k, name in enumerate(TAGS):
        db.execute("INSERT INTO tag(id, name) VALUES (?, ?)", (k + 1, name))
    next_idx = [0, 0, 0]
    for r in range(ROUNDS):
        for k in range(3):
            if (r + k) % 5 == 4:
                continue
            n = 5 + (r * 7 + k * 3) % 40
            samples = []
            for idx in range(next_idx[k], next_idx[k] + n):
                samples.append((BASE_US + idx * 100_000 + k * 1000, idx * 0.25 + k,
                                1 if idx % 7 == 6 else 0))
            next_idx[k] += n
            db.execute(
                "INSERT INTO chunk(tag_id, start_us, end_us, n, data) VALUES (?, ?, ?, ?, ?)",
                (k + 1, samples[0][0], samples[-1][0], n, chunk(samples)))
    db.execute("DELETE FROM chunk WHERE id = 1")
    db.execute("COMMIT")
    db.execute("VACUUM")
    db.close()


if __name__ == "__main__":
    main()
