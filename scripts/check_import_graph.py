#!/usr/bin/env python3
"""Checks the module import graph of docs/ARCHITECTURE.md ("Who may import whom") against Sources/.

Every target directory under Sources/ must have a line; the project modules (HybridSync*, the C
shims) its Swift files import must be exactly the ones listed: an import that is not listed fails,
and so does a listed one no file imports any more (the picture must not drift either way).
"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
doc = (root / "docs" / "ARCHITECTURE.md").read_text()
block = re.search(r"```imports\n(.*?)```", doc, re.S)
if not block:
    sys.exit("import-graph: no ```imports block in docs/ARCHITECTURE.md")
allowed = {}
for line in block.group(1).strip().splitlines():
    name, _, rest = line.partition(":")
    allowed[name.strip()] = {item.strip() for item in rest.split(",") if item.strip()}

imports = re.compile(r"^\s*(?:@_exported\s+)?(?:public\s+|package\s+|internal\s+)?import\s+([A-Za-z_][A-Za-z0-9_]*)", re.M)
modules = sorted(path.name for path in (root / "Sources").iterdir() if path.is_dir())
ours = set(modules)
failures = []
for module in modules:
    if module not in allowed:
        failures.append(f"{module}: not in docs/ARCHITECTURE.md's import graph")
        continue
    imported = {}
    for source in (root / "Sources" / module).rglob("*.swift"):
        for match in imports.finditer(source.read_text()):
            if match.group(1) in ours:
                imported.setdefault(match.group(1), source.relative_to(root))
    for name in sorted(set(imported) - allowed[module] - {module}):
        failures.append(f"{module} imports {name} ({imported[name]}), which the graph does not allow")
    for name in sorted(allowed[module] - set(imported)):
        failures.append(f"{module}: the graph lists {name}, which no file imports any more")
for name in sorted(set(allowed) - set(modules)):
    failures.append(f"{name}: in the graph, but there is no Sources/{name}")

for failure in failures:
    print(f"import-graph: {failure}")
print(f"import-graph: {len(modules)} modules checked, {len(failures)} failures")
sys.exit(1 if failures else 0)
