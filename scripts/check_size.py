#!/usr/bin/env python3
"""Size limits of the production code (issue "Make the house ready to grow").

No production file (outside tests/ and bench/) over 700 lines, and no function over 120 lines
except flat tables and switches. Prints the largest files and functions, and every breach; exits
1 on a breach that is not listed in ALLOWED below (with its reason).

Functions are found by a brace scan over the source with comments and literals blanked: a `{`
that opens inside a namespace, class or struct scope and follows a `)` (optionally with
const/noexcept/override/trailing return/initializer list) starts a function body; lambdas and
blocks inside it count as part of it. It is a heuristic, good for C++ written in this tree's
style, and errs toward reporting.
"""
import os
import re
import sys

MAX_FILE_LINES = 700
MAX_FUNCTION_LINES = 120
SOURCE_DIRS = ["core", "config", "drivers", "storage", "inference", "agent", "tools"]
# "path:function" -> why it may exceed MAX_FUNCTION_LINES (flat tables and switches only).
ALLOWED = {}


def blank_comments_and_literals(text):
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = ")" + m.group(1) + '"'
            j = text.find(end, i)
            j = n if j < 0 else j + len(end)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * max(0, j - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


SCOPE_RE = re.compile(r"\b(namespace|class|struct|union|enum)\b[^;()]*$|extern\s*\"\"\s*$")
FUNC_TAIL_RE = re.compile(
    r"\)\s*(const|noexcept|override|final|mutable|->\s*[\w:<>,\s*&]+|\s|"
    r"[A-Z_]+\([^()]*\)|:\s*[\w:]+\s*\([^;{}]*\)(\s*,\s*[\w:]+\s*[({][^;{}]*[)}])*)*$")
CONTROL_RE = re.compile(r"\b(if|for|while|switch|catch|do|else)\s*(\(.*\))?\s*$")


def functions(path):
    text = blank_comments_and_literals(open(path, encoding="utf-8").read())
    stack = []  # (kind, start_line, name)
    results = []
    header = ""  # text since the last ; { or }
    line = 1
    for c in text:
        if c == "\n":
            line += 1
        if c == "{":
            h = header.strip()
            in_scope = all(kind == "scope" for kind, _, _ in stack)
            if in_scope and SCOPE_RE.search(h):
                stack.append(("scope", line, None))
            elif in_scope and FUNC_TAIL_RE.search(h) and not CONTROL_RE.search(h) and "=" not in h.split("(")[0]:
                m = re.search(r"([\w:~]+(?:operator\S*)?)\s*\(", h)
                stack.append(("function", line, m.group(1) if m else "?"))
            else:
                stack.append(("block", line, None))
            header = ""
        elif c == "}":
            if stack:
                kind, start, name = stack.pop()
                if kind == "function":
                    results.append((name, start, line - start + 1))
            header = ""
        elif c == ";":
            header = ""
        else:
            header += c
    return results


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files, funcs, breaches = [], [], []
    for d in SOURCE_DIRS:
        for dirpath, _, names in os.walk(os.path.join(root, d)):
            for name in names:
                if not name.endswith((".cc", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                lines = sum(1 for _ in open(path, encoding="utf-8"))
                files.append((lines, rel))
                if lines > MAX_FILE_LINES:
                    breaches.append(f"{rel}: {lines} lines (limit {MAX_FILE_LINES})")
                for fname, start, length in functions(path):
                    funcs.append((length, f"{rel}:{start}", fname))
                    if length > MAX_FUNCTION_LINES and f"{rel}:{fname}" not in ALLOWED:
                        breaches.append(f"{rel}:{start}: {fname}: {length} lines "
                                        f"(limit {MAX_FUNCTION_LINES})")
    print("largest files:")
    for lines, rel in sorted(files, reverse=True)[:8]:
        print(f"  {lines:5d}  {rel}")
    print("longest functions:")
    for length, where, fname in sorted(funcs, reverse=True)[:8]:
        print(f"  {length:5d}  {where}  {fname}")
    for b in breaches:
        print("check_size: " + b, file=sys.stderr)
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
