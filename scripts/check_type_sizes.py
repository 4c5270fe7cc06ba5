#!/usr/bin/env python3
"""No type in Sources/ over MAX_LINES lines (its declaration and every extension of it, blank
lines and comments included; a nested type counts as a type of its own, not as lines of the
enclosing one) or MAX_STORED stored instance properties, except those listed in
EXCEPTIONS with the reason. Growth collects in a few types; this makes it visible the day it
happens instead of a year later. `--report` prints the largest types either way."""
import pathlib
import re
import sys

MAX_LINES = 500
MAX_STORED = 20
EXCEPTIONS = {
    # name: (lines allowed, stored properties allowed, why). The allowance is today's size rounded
    # up: an exception may shrink, never grow without a new decision here.
    "EdgeWorker": (930, MAX_STORED,
        "owns one lws service thread: lws calls one C callback per context, and every per-thread "
        "table (connections, listeners, deadlines, write queues) is reached from it without locks. "
        "Its concerns are split by file (+Callback, +HTTP, +WebSocket, +Writes, +Threads), its "
        "logic into EdgeConnection, ConnectionOutbox, HTTPRequestParser, WebSocketFrameDecoder and "
        "EdgeContextBuilder; more objects would pass the same per-thread state among themselves."),
    "ClientRuntime": (1060, MAX_STORED,
        "the client's one isolation domain (an actor): a subscribe answer is applied before the "
        "next message and an observer is registered before its first update, which two actors "
        "could not promise without re-ordering. Its state lives in pure parts (ConnectionStateMachine, "
        "CommandChannel, SubscriptionTable, StateStore, AppRegistry, DeadlineTimer, ObserverTable, "
        "Waiters, RuntimeStatus, ConnectionLink, SubscriptionTokens); what remains is the glue and the "
        "public API. Raised from 900 for subscription tokens (#36): fetching a token and sending the "
        "subscribe or sub_refresh must see the subscription's state in the same isolation domain. "
        "Raised from 980 for live presence (observePresence): a presence read and the pushes that race "
        "it must be ordered in that domain too; the follow rules live in the pure PresenceFollow."),
    "SyncServer": (910, MAX_STORED,
        "the server's single-threaded core: as the transport's delegate, the broker's listener and "
        "the backend operations it touches the same sessions and hub on one thread, with no locks. "
        "Split by file (+Commands, +Operations, +Moderation, +Housekeeping, +Presence) and into "
        "SessionTable, Hub, Session (+Timing, pure), Authenticator, PresenceDesk, HookDesk and the "
        "broker. Raised from 840 for #36 (subscription tokens: one more session rule; the backend "
        "hooks' glue in connect and subscribe; the webhook events), whose logic lives in those parts."),
}

root = pathlib.Path(__file__).resolve().parent.parent
opener = re.compile(
    r"^(\s*)(?:@[\w()., ]+\s+)*(?:(?:public|package|internal|fileprivate|private|final|open|"
    r"nonisolated|indirect|@unchecked|isolated)\s+)*(class|struct|enum|actor|extension)\s+([\w.]+)"
)
member_var = re.compile(
    r"^\s*(?:@[\w()., ]+\s+)*(?:(?:public|package|internal|fileprivate|private|final|weak|unowned|lazy|"
    r"nonisolated|nonisolated\(unsafe\)|private\(set\)|package\(set\)|public\(set\)|fileprivate\(set\))\s+)*"
    r"(?:var|let)\s+\w+"
)


def strip(line):
    """The line without string literals and // comments, for brace counting."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    return line.split("//")[0]


lines_of = {}
stored_of = {}
where = {}
for path in sorted((root / "Sources").rglob("*.swift")):
    text = path.read_text().splitlines()
    relative = str(path.relative_to(root))
    stack = []  # (name, kind, depth at which the body opened, first line)
    depth = 0
    in_block_comment = False
    for number, raw in enumerate(text, 1):
        line = raw
        if in_block_comment:
            if "*/" in line:
                line = line.split("*/", 1)[1]
                in_block_comment = False
            else:
                continue
        if "/*" in strip(line) and "*/" not in line:
            in_block_comment = True
            line = line.split("/*", 1)[0]
        code = strip(line)
        match = opener.match(code)
        if match and "{" in code:
            kind, name = match.group(2), match.group(3)
            if stack and kind != "extension":
                name = f"{stack[-1][0]}.{name}"
            stack.append((name, kind, depth + 1, number))
            if kind != "extension":
                where.setdefault(name, f"{relative}:{number}")
        elif stack and depth == stack[-1][2] and member_var.match(code):
            name, kind = stack[-1][0], stack[-1][1]
            is_static = re.search(r"\b(static|class)\s+(var|let)\b", code)
            computed = "{" in code and "=" not in code.split("{")[0]
            if kind != "extension" and not is_static and not computed:
                stored_of[name] = stored_of.get(name, 0) + 1
        depth += code.count("{") - code.count("}")
        while stack and depth < stack[-1][2]:
            name, kind, _, first = stack.pop()
            lines = number - first + 1
            lines_of[name] = lines_of.get(name, 0) + lines
            if kind != "extension" and stack:
                outer = stack[-1][0]
                lines_of[outer] = lines_of.get(outer, 0) - lines

rows = sorted(set(lines_of) | set(stored_of), key=lambda name: -lines_of.get(name, 0))
failures = []
for name in rows:
    lines, stored = lines_of.get(name, 0), stored_of.get(name, 0)
    allowed_lines, allowed_stored, _ = EXCEPTIONS.get(name, (MAX_LINES, MAX_STORED, ""))
    if lines > allowed_lines or stored > allowed_stored:
        failures.append(f"{name} ({where.get(name, '?')}): {lines} lines, {stored} stored properties")
if "--report" in sys.argv:
    for name in rows[:25]:
        print(f"{lines_of.get(name, 0):6} lines {stored_of.get(name, 0):4} stored  {name}")
for name, (lines, stored, why) in EXCEPTIONS.items():
    if "--report" in sys.argv:
        print(f"type-sizes: exception {name}: up to {lines} lines: {why}")
for failure in failures:
    print(f"type-sizes: over {MAX_LINES} lines or {MAX_STORED} stored properties: {failure}")
stale = [name for name in EXCEPTIONS if name not in lines_of]
for name in stale:
    print(f"type-sizes: exception for {name}, which no longer exists: remove it")
print(f"type-sizes: {len(failures)} over the bounds, {len(EXCEPTIONS)} listed exceptions")
sys.exit(1 if failures or stale else 0)
