#!/usr/bin/env python3
"""Who had the CPUs while a fan-out stalled: a sampler and its report, for bench/ban_tails.sh.

  stall_watch.py record OUT [--interval-ms 5]      samples until SIGTERM/SIGINT
  stall_watch.py explain OUT LOG [--tail-ms 150]   per message of LOG, what happened in its window

`record` samples, every interval, /proc/stat's per-CPU ticks (user, system, softirq, steal, idle, ...)
and /proc/<pid>/task/<tid>/schedstat (nanoseconds run, nanoseconds runnable but waiting for a CPU)
of every thread of the server under test (hybridsyncd or lws_peer: its service thread apart from
its other threads) and of the load generator (wsbench*), into OUT, one JSON line per sample, with
CLOCK_MONOTONIC times (those of wsbench's markers).

`explain` reads LOG, the output of bench/ban_tails.sh's wsbench copy (its `per-message send ns:` and
`per-message worst latency ms:` lines), and for each message prints what the server's service
thread, its other threads, the load generator and the two CPUs did from the publish to the last
delivery: run time, time runnable but waiting for a CPU, the hypervisor's steal, softirq, idle.
A message whose worst latency is above --tail-ms gets a 20 ms timeline of its window too. So a tail
reads as the server busy (its own work), the server waiting for CPU 1 (something else ran there),
steal (the VM), or the server idle while the messages were late (waiting for the load generator
or the kernel).
"""
import bisect
import json
import os
import signal
import statistics
import sys
import time

SERVERS = ("hybridsyncd", "lws_peer")


def cpu_ticks():
    cpus = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *vals = line.split()
                # user nice system idle iowait irq softirq steal
                v = list(map(int, vals[:8]))
                cpus[name] = {"busy": v[0] + v[1] + v[2], "idle": v[3] + v[4], "irq": v[5],
                              "softirq": v[6], "steal": v[7]}
    return cpus


def roles():
    """pid -> role prefix ("server", "loadgen") of the processes watched."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm in SERVERS:
            found[int(entry)] = "server"
        elif comm.startswith("wsbench"):
            found[int(entry)] = "loadgen"
    return found


def thread_stats(pids):
    """role -> [run ns, wait ns] summed over threads; the server's service thread as its own role."""
    out = {}
    for pid, role in pids.items():
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    run, wait, _ = map(int, f.read().split())
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    comm = f.read().strip()
            except (OSError, ValueError):
                continue
            name = role
            if role == "server":
                # hybridsyncd names its service threads "hs-service-<n>"; lws_peer has one thread.
                name = "service" if (comm.startswith("hs-service-") or comm == "lws_peer") else "server-other"
            acc = out.setdefault(name, [0, 0])
            acc[0] += run
            acc[1] += wait
    return out


def record(path, interval):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    pids, pids_at = {}, 0.0
    with open(path, "w") as out:
        while not stop:
            now = time.monotonic()
            if now - pids_at > 0.25:
                pids, pids_at = roles(), now
            sample = {"t": time.monotonic_ns(), "cpu": cpu_ticks(), "threads": thread_stats(pids),
                      "pids": sorted(pids)}
            out.write(json.dumps(sample, separators=(",", ":")) + "\n")
            time.sleep(interval)


def load_samples(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def window(samples, times, start, end):
    """The samples bracketing [start, end] (ns); `times` are the samples' times, ascending."""
    i = bisect.bisect_right(times, start) - 1
    j = bisect.bisect_left(times, end)
    if i < 0 or j >= len(samples):
        return None, None
    return samples[i], samples[j]


def delta(a, b):
    """Milliseconds each role ran / waited and each CPU spent, from sample a to b."""
    row = {"span": (b["t"] - a["t"]) / 1e6}
    # A role's counters only compare within one process lifetime: a new pid set means a restart.
    same = a["pids"] == b["pids"]
    for role in ("service", "server-other", "loadgen"):
        ra, rb = a["threads"].get(role), b["threads"].get(role)
        if same and ra and rb:
            row[role + " run"] = (rb[0] - ra[0]) / 1e6
            row[role + " wait"] = (rb[1] - ra[1]) / 1e6
    tick = 1000 / os.sysconf("SC_CLK_TCK")
    for cpu in ("cpu0", "cpu1"):
        for k in ("busy", "softirq", "steal", "idle"):
            row[f"{cpu} {k}"] = (b["cpu"][cpu][k] - a["cpu"][cpu][k]) * tick
    return row


COLUMNS = (("span", "span"), ("service run", "svc run"), ("service wait", "svc wait"),
           ("server-other run", "oth run"), ("server-other wait", "oth wait"),
           ("loadgen run", "lg run"), ("loadgen wait", "lg wait"),
           ("cpu0 busy", "c0 busy"), ("cpu0 softirq", "c0 sirq"), ("cpu0 steal", "c0 steal"),
           ("cpu0 idle", "c0 idle"), ("cpu1 busy", "c1 busy"), ("cpu1 softirq", "c1 sirq"),
           ("cpu1 steal", "c1 steal"), ("cpu1 idle", "c1 idle"))


def print_row(label, row):
    cells = " ".join(f"{row[c]:>8.0f}" if c in row else f"{'-':>8}" for c, _ in COLUMNS)
    print(f"{label:>20} {cells}")


def read_log(log_path):
    """[(label, publish times ns, worst latencies ms)] of each wsbench run in the log."""
    runs, label, sent = [], "", None
    with open(log_path) as f:
        for line in f:
            if line.startswith("== round"):
                label = line[len("== round "):].strip()
            elif "per-message send ns:" in line:
                sent = list(map(int, line.split(":", 1)[1].split()))
            elif "per-message worst latency ms:" in line and sent is not None:
                runs.append((label, sent, list(map(int, line.split(":", 1)[1].split()))))
                sent = None
    return runs


def explain(samples_path, log_path, tail_ms):
    samples = load_samples(samples_path)
    times = [s["t"] for s in samples]
    runs = read_log(log_path)
    print("milliseconds in each message's window (its publish .. its last delivery): svc = the server's "
          "service thread, oth = its other threads, lg = the load generator; run = on a CPU, wait = "
          "runnable without one; c0/c1 = CPU 0/1 (10 ms ticks): busy, softirq, steal, idle")
    print(f"{'run.message worst':>20} " + " ".join(f"{short:>8}" for _, short in COLUMNS))
    tails, summary = [], []
    for r, (label, sent, worst) in enumerate(runs, 1):
        print(f"run {r}: {label}")
        shares, waits, steals = [], [], []
        for k, (t0, w) in enumerate(zip(sent, worst)):
            a, b = window(samples, times, t0, t0 + w * 1_000_000)
            if not a or not b:
                continue
            row = delta(a, b)
            print_row(f"{r}.{k} {w} ms", row)
            if "service run" in row and w > 0:
                shares.append(row["service run"] / max(w, row["span"]))
                waits.append(row["service wait"])
                steals.append(row["cpu1 steal"])
            if w > tail_ms:
                tails.append((r, label, k, t0, w))
        if shares:
            summary.append((r, label, worst, shares, waits, steals))
    print("\nper run: the messages' worst latency; the share of each message's window its server's service "
          "thread was on a CPU (median, lowest); the most it waited for a CPU, and CPU 1's most steal, in one window")
    for r, label, worst, shares, waits, steals in summary:
        print(f"run {r:>3} {label:<36} worst median {statistics.median(worst):>5.0f} ms, max {max(worst):>4} ms;"
              f" on a CPU {statistics.median(shares):.2f} ({min(shares):.2f});"
              f" waited ≤ {max(waits):.0f} ms; steal ≤ {max(steals):.0f} ms")
    for r, label, k, t0, w in tails:
        print(f"\nrun {r} ({label}) message {k}: worst {w} ms; 20 ms steps from 100 ms before the publish")
        t = t0 - 100_000_000
        while t < t0 + (w + 40) * 1_000_000:
            a, b = window(samples, times, t, t + 20_000_000)
            if a and b:
                print_row(f"{(t - t0) / 1e6:+.0f} ms", delta(a, b))
            t += 20_000_000


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "record":
        interval = 0.005
        if "--interval-ms" in sys.argv:
            interval = float(sys.argv[sys.argv.index("--interval-ms") + 1]) / 1000
        record(sys.argv[2], interval)
    elif len(sys.argv) >= 4 and sys.argv[1] == "explain":
        tail = 150
        if "--tail-ms" in sys.argv:
            tail = int(sys.argv[sys.argv.index("--tail-ms") + 1])
        explain(sys.argv[2], sys.argv[3], tail)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
