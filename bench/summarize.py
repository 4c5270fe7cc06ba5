#!/usr/bin/env python3
"""Medians (and ranges) of bench/compare.sh's rounds, one row per peer and scenario.

    bench/summarize.py /tmp/hybridsync-bench/results.jsonl

Prints a markdown table: connect time and server CPU per connect (S1), RSS per idle connection,
deliveries/s, server CPU per delivery, latency p50/p99 (S2, S2L, BAN), with the number of rounds,
and the ratios the performance issue names (hybridsyncd against the lws peer, wss:// against ws://).
"""
import json
import statistics
import sys
from collections import defaultdict


def main(path):
    runs = defaultdict(list)
    for line in open(path):
        line = line.strip()
        if line:
            result = json.loads(line)
            runs[(result["label"], result["scenario"])].append(result)

    def values(label, scenario, get):
        out = []
        for result in runs.get((label, scenario), []):
            value = get(result)
            if value is not None and value >= 0:
                out.append(value)
        return out

    def cell(label, scenario, get, digits=1):
        data = values(label, scenario, get)
        if not data:
            return "–"
        median = statistics.median(data)
        fmt = f"{{:,.{digits}f}}"
        if len(data) == 1:
            return fmt.format(median)
        return f"{fmt.format(median)} ({fmt.format(min(data))}–{fmt.format(max(data))})"

    def median(label, scenario, get):
        data = values(label, scenario, get)
        return statistics.median(data) if data else None

    metrics = {
        "S1": [("connect s", lambda r: r["connect_s"], 2), ("µs/connect", lambda r: r["server_cpu_per_connect_us"], 0),
               ("B/idle conn", lambda r: r["rss_per_conn_bytes"], 0)],
        "S2": [("deliveries/s", lambda r: r["deliveries_per_s"], 0), ("µs/delivery", lambda r: r["server_cpu_per_delivery_us"], 2),
               ("p50 ms", lambda r: r["lat_us"]["p50"] / 1000, 1), ("p99 ms", lambda r: r["lat_us"]["p99"] / 1000, 1)],
    }
    metrics["S2L"] = metrics["S2"]
    metrics["BAN"] = metrics["S2"]
    labels = sorted({label for label, _ in runs})
    for scenario in ["S1", "S2", "S2L", "BAN"]:
        rows = [label for label in labels if (label, scenario) in runs]
        if not rows:
            continue
        print(f"\n{scenario}: median (min–max) of rounds\n")
        print("| peer | rounds | " + " | ".join(name for name, _, _ in metrics[scenario]) + " |")
        print("|---|---|" + "---|" * len(metrics[scenario]))
        for label in rows:
            cells = [cell(label, scenario, get, digits) for _, get, digits in metrics[scenario]]
            print(f"| {label} | {len(runs[(label, scenario)])} | " + " | ".join(cells) + " |")

    def ratio(a, b, scenario, get, name):
        x, y = median(a, scenario, get), median(b, scenario, get)
        if x is not None and y:
            print(f"- {scenario} {name}: {a} / {b} = {x / y:.2f}")

    print("\nRatios of medians:\n")
    cpu = lambda r: r["server_cpu_per_delivery_us"]
    for scenario in ["S2L", "S2"]:
        ratio("hybridsyncd-memory-tls", "hybridsyncd-memory", scenario, cpu, "µs/delivery, wss over ws")
        ratio("hybridsyncd-memory-tls", "lws-tls", scenario, cpu, "µs/delivery, wss against lws wss")
        ratio("hybridsyncd-memory", "lws", scenario, cpu, "µs/delivery, ws against lws ws")
    ratio("hybridsyncd-memory", "lws", "S2L", lambda r: r["lat_us"]["p50"], "p50")
    ratio("hybridsyncd-memory", "lws", "S2L", lambda r: r["lat_us"]["p99"], "p99")
    ratio("hybridsyncd-memory", "lws", "S1", lambda r: r["connect_s"], "connect time")
    ratio("hybridsyncd-memory-tls", "lws-tls", "S1", lambda r: r["rss_per_conn_bytes"], "RSS per idle wss connection")
    # BAN p99 against the lws peer's S2L p99, round by round (the "5 of 5").
    ban = [r["lat_us"]["p99"] for r in runs.get(("hybridsyncd-memory", "BAN"), [])]
    s2l = [r["lat_us"]["p99"] for r in runs.get(("lws", "S2L"), [])]
    if ban and s2l:
        met = sum(1 for b, l in zip(ban, s2l) if b <= l)
        pairs = ", ".join(f"{b / 1000:.0f}/{l / 1000:.0f}" for b, l in zip(ban, s2l))
        print(f"- BAN p99 ≤ lws S2L p99 in {met} of {min(len(ban), len(s2l))} rounds (ms, BAN/lws S2L: {pairs})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/hybridsync-bench/results.jsonl")
