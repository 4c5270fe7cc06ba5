#!/usr/bin/env python3
"""Every public declaration of the package's modules has a `///` comment.

Reads the symbol graphs SwiftPM writes (`swift package dump-symbol-graph`, public symbols only),
counts the public declarations made in Sources/ per module, and fails on any without a doc
comment, naming file and line. `package` declarations are not counted: they promise nothing
outside this package."""
import collections
import json
import os
import pathlib
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parent.parent
swift = os.environ.get("SWIFT", "swift")
run = subprocess.run([swift, "package", "dump-symbol-graph", "--minimum-access-level", "public"],
                     cwd=root, capture_output=True, text=True)
if run.returncode != 0:
    sys.exit(f"public-docs: dump-symbol-graph failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
folder = next(line.split("Files written to ", 1)[1].strip() for line in run.stdout.splitlines() if "Files written to" in line)
counts = collections.Counter()
missing = []
for path in sorted(pathlib.Path(folder).glob("*.symbols.json")):
    module = path.name.split(".symbols.json")[0].split("@")[0]
    for symbol in json.loads(path.read_text())["symbols"]:
        uri = symbol.get("location", {}).get("uri", "")
        if symbol.get("accessLevel") != "public" or "/Sources/" not in uri:
            continue
        counts[module] += 1
        if not symbol.get("docComment"):
            source = "Sources/" + uri.split("/Sources/")[-1]
            missing.append(f"{source}:{symbol['location']['position']['line'] + 1}: {'.'.join(symbol['pathComponents'])}")
for module in sorted(counts):
    print(f"public-docs: {module}: {counts[module]} public declarations")
for line in missing:
    print(f"public-docs: undocumented: {line}")
print(f"public-docs: {sum(counts.values())} public declarations, {len(missing)} without ///")
sys.exit(1 if missing else 0)
