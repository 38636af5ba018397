#!/usr/bin/python3
"""Reads `mosquitto_sub -v` lines (topic, space, JSON payload) on stdin and prints each alarm and
status message of the agent as one readable line. With --exit-after N it exits 0 after N alarm
messages (the demo test); it exits 1 if stdin ends first."""

import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exit-after", type=int, default=0)
    args = ap.parse_args()
    alarms = 0
    for line in sys.stdin:
        topic, _, payload = line.rstrip("\n").partition(" ")
        try:
            msg = json.loads(payload)
        except json.JSONDecodeError:
            print(f"{topic}: (not JSON) {payload}", flush=True)
            continue
        if "/alarms/" in topic:
            alarms += 1
            state = msg.get("state", "?").upper()
            print(f"[{msg.get('ts')}] ALARM {state:7} {msg.get('asset')} on {msg.get('gateway')}: "
                  f"score {msg.get('score'):.3g} (threshold {msg.get('threshold'):.3g}, "
                  f"episode peak {msg.get('peak_score'):.3g}), model {msg.get('model')} "
                  f"{msg.get('model_version')}, window end {msg.get('window_end')}, "
                  f"seq {msg.get('seq')}", flush=True)
            if args.exit_after and alarms >= args.exit_after:
                return 0
        elif topic.endswith("/status"):
            print(f"[status] gateway {topic.split('/')[-2]} is {msg.get('state', msg)}", flush=True)
        else:
            print(f"{topic}: {payload}", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
