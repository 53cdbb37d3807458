#!/usr/bin/env python3
"""Each configuration sentence is written once in include/: in the table of core/sentences.hpp.

Also checks that no static_assert in include/ spells a configuration sentence of its own (a message that starts
with one of the configuration prefixes), so a new check cannot drift from the table. Exits 1 naming each problem.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1]) / "include" / "mvq"
table_file = root / "core" / "sentences.hpp"
table = table_file.read_text(encoding="utf-8")
body = table[table.index("#define MVQ_CONFIG_SENTENCES(X)"):table.index("namespace mvq")]
# X(code, "sentence") entries; a sentence may be split over two lines after the comma
entries = re.findall(r'X\(\s*([a-z0-9_]+),\s*\\?\s*"((?:[^"\\]|\\.)*)"\s*\)', body)
problems = []
if len(entries) < 20:
    problems.append(f"only {len(entries)} sentences parsed from {table_file.name}: the table format changed")
headers = [p for p in root.rglob("*.hpp")]
texts = {p: p.read_text(encoding="utf-8") for p in headers}
for code, text in entries:
    quoted = '"' + text + '"'
    count = sum(t.count(quoted) for t in texts.values())
    if count != 1:
        where = [str(p.relative_to(root)) for p, t in texts.items() if quoted in t]
        problems.append(f"sentence '{code}' occurs {count} times in include/ ({', '.join(where)})")
prefixes = ("vq_config:", "nm_pattern:", "kernel_config:", "array_config:")
for p, t in texts.items():
    if p == table_file:
        continue
    for m in re.finditer(r'static_assert\([^;]*?"([^"]*)"\s*\)\s*;', t, re.S):
        if m.group(1).startswith(prefixes):
            problems.append(f"{p.relative_to(root)}: static_assert spells its own sentence '{m.group(1)}'")
for pr in problems:
    print(pr)
print(f"{len(entries)} sentences, {len(headers)} headers: {'OK' if not problems else str(len(problems)) + ' problems'}")
sys.exit(1 if problems else 0)
