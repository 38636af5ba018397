#!/usr/bin/env python3
"""Writes the seed corpora of the binary-input fuzz targets from the tests' own vectors:

  corpus/chunk_codec_fuzzer/     chunks of tests/storage/chunk_codec_test.cc and of the golden
                                 samples (tests/storage/golden/make_golden_v1.py), whole and cut
  corpus/modbus_response_fuzzer/ devices and answers of tests/drivers/modbus_codec_test.cc and
                                 request_planner_test.cc (float32 123.456 in four word orders,
                                 float64, int16 -2, a bit of a register, strings, coils)
  corpus/outbox_row_fuzzer/      outbox rows as the agent writes them, and one of each damage
                                 that tests/storage/outbox_test.cc covers

The modbus and outbox targets read their inputs with libFuzzer's FuzzedDataProvider, which takes
integers from the end of the input, first byte consumed = last byte of the file: `Provider`
below records the consumed values in order and writes them reversed. Deterministic: running it
again gives the same files. Usage: tests/fuzz/make_seeds.py (from anywhere).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))


class Provider:
    """Builds an input for FuzzedDataProvider: integers are consumed from the end, big byte first."""

    def __init__(self):
        self.tail = []  # bytes in consumption order

    def range(self, lo, hi, value):
        span = hi - lo
        n = 0
        while n < 8 and (span >> (8 * n)) > 0:
            n += 1
        v = value - lo
        assert 0 <= v <= span
        self.tail += [(v >> (8 * (n - 1 - i))) & 0xFF for i in range(n)]

    def data(self, head=b""):
        return bytes(head) + bytes(reversed(self.tail))


# ---- chunk codec --------------------------------------------------------------------------

def varint(v):
    out = []
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return out


def zigzag(v):
    return ((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF


def chunk(samples):
    out, prev = [], 0
    for ts, value, bad in samples:
        delta = (ts - prev + 2**63) % 2**64 - 2**63
        prev = ts
        out += varint((zigzag(delta) << 1) | (1 if bad else 0))
        out += list(struct.pack("<d", value))
    return out


def chunk_seeds():
    t = "chunk_codec_fuzzer"
    base = 1767225600 * 1_000_000  # 2026-01-01T00:00:00Z, as the golden database
    golden = [(base + i * 100_000, i * 0.5, i % 10 == 9) for i in range(20)]
    write(t, "golden-pump1-pressure", chunk(golden))
    write(t, "golden-cut-in-value", chunk(golden[:3])[:-3])
    mixed = [(0, 1.5, False), (100000, -2.25, True), (99999, 1.7976931348623157e308, False),
             (200000, float("nan"), True), (-5, 0.0, False)]
    write(t, "roundtrip-test-vectors", chunk(mixed))
    write(t, "endless-varint", [0xFF] * 12)


# ---- modbus responses ---------------------------------------------------------------------

TABLES = ["holding", "input", "coil", "discrete"]
TYPES = ["bool", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64",
         "string"]
ORDERS = ["ABCD", "CDAB", "BADC", "DCBA"]


def modbus_seed(name, tags, answers, max_registers=125, max_gap=16, start=0):
    """tags: dicts (table, type, order, bit, length, step: address after the previous tag);
    answers: r(register) for register requests, ints (8 bits each) for bit requests."""
    p = Provider()
    p.range(1, 125, max_registers)
    p.range(0, 125, max_gap)
    p.range(1, 48, len(tags))
    p.range(0, 65535, start)
    for tag in tags:
        table = tag.get("table", "holding")
        p.range(0, 3, TABLES.index(table))
        bit_table = table in ("coil", "discrete")
        typ = "bool" if bit_table else tag["type"]
        if not bit_table:
            p.range(0, 9, TYPES.index(typ))
        if typ == "bool" and not bit_table:
            p.range(0, 15, tag["bit"])
        if typ == "string":
            p.range(1, max_registers, tag["length"])
        if typ != "bool":
            p.range(0, 3, ORDERS.index(tag.get("order", "ABCD")))
        if typ not in ("bool", "string"):
            p.range(0, 3, 0)  # scale 1
            p.range(0, 3, 0)  # offset 0
        p.range(0, 7, 1)  # near the previous tag
        p.range(-4, 40, tag.get("step", 0))
    for word in answers:
        if isinstance(word, tuple):  # a register: two bytes
            p.range(0, 65535, word[1])
        else:  # eight bits of a coil / discrete answer, bit 0 first
            p.range(0, 255, word)
    write("modbus_response_fuzzer", name, p.data())


def r(v):
    return ("r", v)


def modbus_seeds():
    # float32 123.456 = 0x42F6E979 in each word order, as four adjacent tags in one request.
    tags = [{"type": "float32", "order": o, "step": 0 if i == 0 else 2}
            for i, o in enumerate(ORDERS)]
    answer = [0x42F6, 0xE979, 0xE979, 0x42F6, 0xF642, 0x79E9, 0x79E9, 0xF642]
    modbus_seed("float32-four-orders", tags, [r(w) for w in answer])
    # float64 123.456 = 0x405EDD2F1A9FBE77, ABCD, then an int16 -2 and a bool on bit 3.
    tags = [{"type": "float64"}, {"type": "int16", "step": 4}, {"type": "bool", "bit": 3, "step": 1}]
    answer = [0x405E, 0xDD2F, 0x1A9F, 0xBE77, 0xFFFE, 0x0008]
    modbus_seed("float64-int16-bit", tags, [r(w) for w in answer])
    # Strings "ABC" high byte first and low byte first, with a gap of 3 registers between.
    tags = [{"type": "string", "length": 2}, {"type": "string", "length": 2, "order": "BADC",
                                               "step": 5}]
    answer = [0x4142, 0x4300, 0, 0, 0, 0x4241, 0x0043]
    modbus_seed("strings-gap", tags, [r(w) for w in answer])
    # Coils at 16 and 17 beside holding registers (request_planner_test's mixed tables).
    tags = [{"type": "uint16"}, {"type": "uint32", "step": 1}, {"table": "coil", "step": 16},
            {"table": "coil", "step": 1}]
    answer = [r(7), r(0), r(1), 0b10]
    modbus_seed("registers-and-coils", tags, answer)
    # A small max_registers_per_request splits a run of int32 tags into several requests.
    tags = [{"type": "int32", "step": 0 if i == 0 else 2} for i in range(6)]
    modbus_seed("small-requests", tags, [r(0xFFFF), r(0xFFFE)] * 6, max_registers=4, max_gap=0)


# ---- outbox rows --------------------------------------------------------------------------

def outbox_seed(name, rows, after=0, limit=16, history_limit=16):
    """rows: (history, seq_choice, seq_value, [column choices]); a column choice is
    (kind, value): kind 0 NULL, 1 small int, 2 int64, 3 real bits, 6 the typical value.
    Text and blob columns (kinds 4, 5) take bytes from the front and are not used here."""
    p = Provider()
    p.range(0, 12, len(rows))
    for history, seq_kind, seq, columns in rows:
        p.range(0, 1, 1 if history else 0)
        p.range(0, 3, seq_kind)
        if seq_kind == 1:
            p.range(1, 20, seq)
        elif seq_kind == 3:
            p.range(-3, 0, seq)
        for kind, value in columns:
            p.range(0, 7, kind)
            if kind == 1:
                p.range(-3, 4, value)
    p.range(0, 24, after)
    p.range(1, 16, limit)
    p.range(1, 16, history_limit)
    write("outbox_row_fuzzer", name, p.data())


TYPICAL = (6, None)


def outbox_seeds():
    message = [TYPICAL] * 5  # topic, payload, qos, retained, created_us
    history = [TYPICAL] * 3  # topic, payload, created_us
    outbox_seed("three-alarms-and-history",
                [(False, 1, s, message) for s in (1, 2, 3)] + [(True, 1, s, history) for s in (1, 2)])
    damaged_qos = [TYPICAL, TYPICAL, (1, 4), TYPICAL, TYPICAL]
    null_topic = [(0, None), TYPICAL, TYPICAL, TYPICAL, TYPICAL]
    outbox_seed("damaged-rows-among-sound-ones",
                [(False, 1, 1, message), (False, 1, 2, damaged_qos), (False, 1, 3, null_topic),
                 (False, 1, 4, message), (True, 3, 0, history)], limit=2)


if __name__ == "__main__":
    chunk_seeds()
    modbus_seeds()
    outbox_seeds()
