#!/usr/bin/env python3
"""Checks that every ```swift block of README.md, docs/CLIENT.md and docs/TESTING.md appears
verbatim in a file that `make test` compiles (Tests/DocSnippets/, Examples/), so a doc example
that stops compiling fails the build. Lines are compared without their indentation; a block's
`import` lines must be imports of that same file (files wrap the rest in functions).
Prints one closing line 'doc-snippets: N passed, N failed'."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ["README.md", "docs/CLIENT.md", "docs/TESTING.md"]
SOURCES = sorted((ROOT / "Tests/DocSnippets").glob("*.swift")) + sorted((ROOT / "Examples").rglob("*.swift"))


def normalized(lines):
    return [line.strip() for line in lines if line.strip()]


files = {path: normalized(path.read_text().splitlines()) for path in SOURCES}
passed, failures = 0, []
for doc in DOCS:
    text = (ROOT / doc).read_text()
    for match in re.finditer(r"^```swift\n(.*?)^```", text, re.S | re.M):
        line_number = text[: match.start()].count("\n") + 1
        block = normalized(match.group(1).splitlines())
        imports = [line for line in block if line.startswith("import ")]
        body = [line for line in block if not line.startswith("import ")]
        found = False
        for path, lines in files.items():
            if not all(line in lines for line in imports):
                continue
            if any(lines[i : i + len(body)] == body for i in range(len(lines) - len(body) + 1)):
                found = True
                break
        if found:
            passed += 1
        else:
            failures.append(f"{doc}:{line_number}: this swift block is not in any file of Tests/DocSnippets or Examples")

for failure in failures:
    print(failure, file=sys.stderr)
print(f"doc-snippets: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
