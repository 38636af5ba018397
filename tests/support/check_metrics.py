#!/usr/bin/env python3
"""Checks a Prometheus text exposition strictly and prints its samples.

usage: check_metrics.py FILE|URL
Parses with python3-prometheus-client's parser, then checks what it lets through: every sample
belongs to a family declared with # HELP and # TYPE before it, no family is declared twice, no
(name, labels) pair repeats, counters are named *_total, values are finite (except +Inf bounds),
and every histogram's buckets are cumulative, end with le="+Inf" and equal its _count.
Prints one "name{k=v,...} value" line per sample (labels sorted) and exits 0, or prints the
faults on stderr and exits 1.
"""
import math
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main():
    source = sys.argv[1]
    if source.startswith("http://"):
        with urllib.request.urlopen(source, timeout=10) as r:
            ctype = r.headers.get("Content-Type", "")
            if not ctype.startswith("text/plain; version=0.0.4"):
                sys.exit(f"{source}: Content-Type {ctype!r}, not text/plain; version=0.0.4")
            text = r.read().decode("utf-8")
    else:
        with open(source, encoding="utf-8") as f:
            text = f.read()

    faults = []
    declared = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, name = line.split()[1], line.split()[2]
            if (kind, name) in declared:
                faults.append(f"{kind} of {name} declared twice")
            declared[(kind, name)] = True
        elif line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            base = name
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix) and ("TYPE", name[: -len(suffix)]) in declared:
                    base = name[: -len(suffix)]
            if ("TYPE", base) not in declared or ("HELP", base) not in declared:
                faults.append(f"sample {name} before its # HELP and # TYPE")

    seen = set()
    out = []
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and others on malformed input
        sys.exit(f"{source}: not valid Prometheus text: {e}")
    for family in families:
        if family.type == "counter" and not any(s.name.endswith("_total") for s in family.samples):
            if family.samples:
                faults.append(f"counter {family.name} has no _total samples")
        buckets = {}
        counts = {}
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in seen:
                faults.append(f"{s.name}{dict(s.labels)} appears twice")
            seen.add(key)
            if not math.isfinite(s.value):
                faults.append(f"{s.name}{dict(s.labels)} = {s.value}")
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out.append(f"{s.name}{{{labels}}} {s.value:g}")
            if family.type == "histogram":
                rest = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                if s.name.endswith("_bucket"):
                    buckets.setdefault(rest, []).append((s.labels["le"], s.value))
                elif s.name.endswith("_count"):
                    counts[rest] = s.value
        for rest, series in buckets.items():
            values = [v for _, v in series]
            if values != sorted(values):
                faults.append(f"{family.name}{dict(rest)}: buckets not cumulative")
            if series[-1][0] != "+Inf" or series[-1][1] != counts.get(rest):
                faults.append(f"{family.name}{dict(rest)}: +Inf bucket is not the count")
    if faults:
        sys.exit("\n".join(faults))
    print("\n".join(out))


if __name__ == "__main__":
    main()
