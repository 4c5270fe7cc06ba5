#!/usr/bin/env python3
"""No force unwrap (`x!`) and no `try!` in Sources/, except the few below that cannot fail, each
with the reason. A request, a frame or a configuration value must never reach a trap: when a new
one is needed, handle the nil instead, or add it here with why it cannot be nil."""
import pathlib
import re
import sys

ALLOWED = {
    # strdup returns NULL only when malloc fails (a thread's name, at start-up).
    ("Sources/HybridSyncLWS/ServiceLoop.swift", "pointer = strdup(string)!"),
    # `flat` ends with a 0 appended just before: never empty, so its buffer has an address.
    ("Sources/HybridSyncRedis/RedisConnection.swift", "UnsafeRawPointer(buffer.baseAddress!)"),
    # A constant channel name ("moderation:users"), checked once; every ban test goes through it.
    ("Sources/HybridSyncServer/SyncServer+Moderation.swift", "try! ChannelName(ServerConfiguration.moderationUsersChannel)"),
    # `bytes` holds maxSize (> 0) + payload bytes: never empty, so its buffer has an address.
    ("Sources/HybridSyncWebSocket/WebSocketFrame.swift", "buffer.baseAddress! + maxSize"),
}

root = pathlib.Path(__file__).resolve().parent.parent
bang = re.compile(r"(?<=[A-Za-z0-9_)\]?])!(?!=)")
found = []
for path in sorted((root / "Sources").rglob("*.swift")):
    relative = str(path.relative_to(root))
    for number, line in enumerate(path.read_text().splitlines(), 1):
        code = re.sub(r'"(\\.|[^"\\])*"', '""', line).split("//")[0]
        if not (bang.search(code) or "try!" in code):
            continue
        if any(relative == file and fragment in line for file, fragment in ALLOWED):
            continue
        found.append(f"{relative}:{number}: {line.strip()}")
for line in found:
    print(f"force-unwraps: {line}")
print(f"force-unwraps: {len(found)} outside the {len(ALLOWED)} listed in scripts/check_force_unwraps.py")
sys.exit(1 if found else 0)
