#!/usr/bin/env python3
"""Validates JSON documents against a JSON Schema (draft 2020-12) with python3-jsonschema.

usage: validate_json.py SCHEMA FILE...
Prints "FILE: ok" or "FILE: invalid: REASON" per document; exits 0 only if every one is valid,
1 if any is invalid, 2 if the schema or a file cannot be read.
"""
import json
import sys

import jsonschema


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(argv[1]) as f:
            schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(schema)
    except (OSError, ValueError, jsonschema.SchemaError) as e:
        print(f"{argv[1]}: bad schema: {e}", file=sys.stderr)
        return 2
    validator = jsonschema.Draft202012Validator(schema)
    all_valid = True
    for path in argv[2:]:
        try:
            with open(path) as f:
                document = json.load(f)
        except (OSError, ValueError) as e:
            print(f"{path}: unreadable: {e}", file=sys.stderr)
            return 2
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        if errors:
            all_valid = False
            print(f"{path}: invalid: {errors[0].message}")
        else:
            print(f"{path}: ok")
    return 0 if all_valid else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
