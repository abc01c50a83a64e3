"""Turns bench/lambda-sizes measurements into the largest input of each Lambda step.

Reads the TSV run.sh writes (step, input, wall s, user s, system s, peak RSS kB, log path,
load average) and the logs it names; prints Markdown: one table of the measurements with the
maximum each implies, then the derivation per step, measured and extrapolated figures
labelled as such.

Lambda's limits: 10,240 MB of memory, 900 s; CPU is proportional to memory, one vCPU at
1,769 MB and 6 vCPU at 10,240 MB (AWS Lambda developer guide, "Configuring Lambda function
memory").

Real-S3 write rate of a score-all shard (an assumption, not a measurement): the writer keeps
PUBLISH_CONCURRENCY = 32 documents in flight (crates/reco-serving/src/publisher.rs), each a
GET then a conditional PUT. AWS's "Best Practices Design Patterns: Optimizing Amazon S3
Performance" (Timeouts and Retries for Latency-Sensitive Applications) gives a median latency
"in the tens of milliseconds" for requests under 512 KB; at 50 ms a request, 100 ms a
document, 32 in flight write 320 documents/s (--s3-docs-per-s). S3 accepts at least 3,500
PUT/s per partitioned prefix (S3 user guide, "Optimizing Amazon S3 performance"): all
shards write under latest/customers/, which caps the Distributed Map's useful concurrency.
"""

import argparse
import math
import re
import sys

LIMIT_MB = 10_240
LIMIT_S = 900
MAX_VCPU = 6
MB_PER_VCPU = 1_769
PREFIX_PUTS_PER_S = 3_500
SCORE_MARGIN = 2.0


def fit(points):
    """Least-squares line y = a + b x over (x, y) points; through the origin for one point."""
    if len(points) == 1:
        x, y = points[0]
        return 0.0, y / x
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    return my - b * mx, b


def solve(a, b, limit):
    """Largest x with a + b x <= limit (inf when y does not grow with x)."""
    if b <= 0:
        return math.inf
    return max(0.0, (limit - a) / b)


def millions(x):
    return "unbounded" if math.isinf(x) else f"{x / 1e6:,.0f}M"


def vcpus(memory_mb):
    return min(MAX_VCPU, memory_mb / MB_PER_VCPU)


def amdahl_wall(wall, cpu, cores, target):
    """Wall time on `target` vCPUs from a run of `wall` s that used `cpu` CPU-s on `cores`:
    the measured speed-up p = cpu / wall gives Amdahl's serial fraction
    s = (cores / p - 1) / (cores - 1); one core would take wall * p."""
    p = min(cores, max(1.0, cpu / wall))
    serial = (cores / p - 1) / (cores - 1) if cores > 1 else 1.0
    return wall * p * (serial + (1 - serial) / target)


def read_rows(path):
    rows = []
    with open(path) as f:
        for line in f:
            step, size, wall, user, sys_s, rss, log, load = line.rstrip("\n").split("\t")
            rows.append(
                {
                    "step": step,
                    "input": size,
                    "wall": float(wall),
                    "cpu": float(user) + float(sys_s),
                    "rss_mb": int(rss) / 1024,
                    "log": log,
                    "load": load,
                }
            )
    return rows


def grab(pattern, text, what):
    m = re.search(pattern, text, re.M)
    if not m:
        sys.exit(f"derive.py: {what} not found (pattern {pattern!r}); see the log")
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--measurements", required=True)
    ap.add_argument("--s3-docs-per-s", type=float, required=True)
    ap.add_argument("--cores", type=int, required=True)
    ap.add_argument("--started", required=True)
    ap.add_argument("--load-before", required=True)
    ap.add_argument("--load-after", required=True)
    args = ap.parse_args()
    rows = read_rows(args.measurements)
    cores = args.cores
    etl = [r for r in rows if r["step"] == "etl"]
    train = [r for r in rows if r["step"] == "train"]
    shard = next((r for r in rows if r["step"] == "score-all"), None)
    bench = next((r for r in rows if r["step"] == "serving-bench"), None)
    out = []
    say = out.append

    say(
        f"Lambda sizes, {args.started}, {cores} cores; load average (1/5/15 min) "
        f"{args.load_before} before, {args.load_after} after (other builds shared the machine). "
        f"Limits: {LIMIT_MB:,} MB, {LIMIT_S} s, {MAX_VCPU} vCPU at {LIMIT_MB:,} MB."
    )
    say("")
    say("| step | input | wall s | CPU s (user+sys) | peak RSS MB | limit-derived maximum |")
    say("|---|---|---:|---:|---:|---|")

    # ETL: rate at each size; memory and time lines over sizes.
    for r in etl:
        n = int(r["input"])
        rate = n / r["wall"]
        r["max"] = f"{millions(rate * LIMIT_S)} ratings in {LIMIT_S} s at this rate ({rate:,.0f} rows/s)"
    # Training: time and RSS per million at each size.
    for r in train:
        n = int(r["input"])
        r["max"] = (
            f"{r['wall'] / (n / 1e6):.1f} s and {r['rss_mb'] / (n / 1e6):,.0f} MB per M ratings; "
            f"measured {cores}-core wall"
        )

    shard_info = None
    if shard:
        text = open(shard["log"]).read()
        m = grab(
            r"(\d+) customers, (\d+) written, (\d+) kept.*; ([\d.]+) s \(([\d.]+) s reading inputs\)",
            text,
            "score-all summary",
        )
        customers, written, kept = int(m[1]), int(m[2]), int(m[3])
        total, load_s = float(m[4]), float(m[5])
        moto_rate = (written + kept) / max(total - load_s, 1e-9)
        shard_info = (customers, written, kept, total, load_s, moto_rate)
        shard["max"] = (
            f"{customers:,} customers: {load_s:.1f} s reading inputs, then "
            f"{moto_rate:,.0f} documents/s to the emulator (GET + conditional PUT each)"
        )
    bench_info = None
    if bench:
        text = open(bench["log"]).read()
        kernel = grab(r"^\| \(a\) kernel alone[^|]*\| ([\d.]+) \| (\d+) \|", text, "kernel row")
        full = grab(r"^\| \(a\) score_shard[^|]*\| ([\d.]+) \| (\d+) \|", text, "score_shard row")
        moto = grab(r"^\| \(c\) to the emulator \(moto\), all written \| ([\d.]+) \| (\d+) \|", text, "emulator row")
        bench_info = (float(kernel[2]), float(full[2]), float(moto[2]))
        bench["max"] = (
            f"scoring + documents + JSON {bench_info[1]:,.0f} customers/s (kernel alone "
            f"{bench_info[0]:,.0f}/s); publisher to the emulator {bench_info[2]:,.0f} documents/s"
        )

    for r in rows:
        say(
            f"| {r['step']} | {r['input']} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['rss_mb']:,.0f} | {r.get('max', '')} |"
        )
    say("")
    say(f"Load average when each step ended: " + "; ".join(f"{r['step']} {r['input']}: {r['load']}" for r in rows))
    say("")

    if etl:
        pts = [(int(r["input"]), r["wall"]) for r in etl]
        a_t, b_t = fit(pts)
        a_m, b_m = fit([(int(r["input"]), r["rss_mb"]) for r in etl])
        a_c, b_c = fit([(int(r["input"]), r["cpu"]) for r in etl])
        n_time = solve(a_t, b_t, LIMIT_S)
        n_mem = solve(a_m, b_m, LIMIT_MB)
        say("**ETL** (measured on the local MariaDB and S3 emulator, which share this machine):")
        say(
            f"- wall = {a_t:.1f} s + {b_t * 1e6:.2f} s per M ratings, peak RSS = {a_m:,.0f} MB + "
            f"{b_m * 1e6:.1f} MB per M, CPU = {b_c * 1e6:.2f} s per M (the reco process only)."
        )
        binds = "time" if n_time <= n_mem else "memory"
        say(
            f"- Within {LIMIT_S} s: {millions(n_time)} ratings; within {LIMIT_MB:,} MB: "
            f"{millions(n_mem)}; **{binds} binds**."
        )
        for mb in (1_024, 1_769, 3_008):
            v = vcpus(mb)
            per_row = max(b_t, b_c / v)
            say(
                f"- EXTRAPOLATED to {mb:,} MB ({v:.2f} vCPU): CPU-bound at {b_c * 1e6 / v:.2f} s per M, "
                f"so at most {millions(max(0.0, (LIMIT_S - a_t) / per_row))} ratings in {LIMIT_S} s."
            )
        say(
            "- RDS network and S3 throughput differ from the local stand-ins: on AWS the read rate "
            "is the RDS instance's and the VPC's, the writes go through the S3 gateway endpoint."
        )
        say("")

    if train:
        pts_t = [(int(r["input"]), r["wall"]) for r in train]
        a_t, b_t = fit(pts_t)
        a_m, b_m = fit([(int(r["input"]), r["rss_mb"]) for r in train])
        n_time = solve(a_t, b_t, LIMIT_S)
        n_mem = solve(a_m, b_m, LIMIT_MB)
        biggest = max(train, key=lambda r: int(r["input"]))
        par = biggest["cpu"] / biggest["wall"]
        w6 = amdahl_wall(biggest["wall"], biggest["cpu"], cores, MAX_VCPU)
        speedup = biggest["wall"] / w6
        n_time6 = solve(a_t / speedup, b_t / speedup, LIMIT_S)
        say(f"**Training** (`reco train`, default settings; measured on {cores} cores):")
        say(
            f"- wall = {a_t:.1f} s + {b_t * 1e6:.1f} s per M ratings, peak RSS = {a_m:,.0f} MB + "
            f"{b_m * 1e6:,.0f} MB per M."
        )
        binds = "time" if n_time <= n_mem else "memory"
        say(
            f"- MEASURED ({cores} cores): within {LIMIT_S} s {millions(n_time)} ratings; within "
            f"{LIMIT_MB:,} MB {millions(n_mem)}; **{binds} binds** at {cores} cores."
        )
        binds6 = "time" if n_time6 <= n_mem else "memory"
        say(
            f"- EXTRAPOLATED to {MAX_VCPU} vCPU: the largest run used {par:.2f} of {cores} cores "
            f"(CPU s / wall s); Amdahl's law with that serial fraction gives {speedup:.2f}x, so "
            f"{millions(n_time6)} ratings in {LIMIT_S} s; with memory ({millions(n_mem)}), "
            f"**{binds6} binds** at {LIMIT_MB:,} MB. Lambda vCPUs are not this machine's cores: "
            f"run it once on the Lambda before relying on more than the {cores}-core figure."
        )
        say("")

    if shard_info and bench_info:
        customers, written, kept, total, load_s, moto_rate = shard_info
        _, score_rate, _ = bench_info
        s3 = args.s3_docs_per_s
        budget = LIMIT_S / SCORE_MARGIN
        say(
            f"**Score-all per shard** (the shard's time = reading inputs + scoring + writes; "
            f"sum taken although scoring and writes overlap; {SCORE_MARGIN:.0f}x margin: "
            f"{budget:.0f} s):"
        )
        say(
            f"- MEASURED: reading inputs {load_s:.1f} s (whole snapshot, every shard), peak RSS "
            f"{shard['rss_mb']:,.0f} MB for {customers:,} customers; scoring + documents + JSON "
            f"{score_rate:,.0f} customers/s ({cores} cores); the emulator takes {moto_rate:,.0f} "
            "documents/s (an emulator artefact: moto serialises requests)."
        )
        say(
            f"- ASSUMED real-S3 rate: {s3:,.0f} documents/s per shard (32 in flight, GET + "
            "conditional PUT at ~50 ms each: the S3 performance guide's \"tens of milliseconds\" "
            "median for small requests)."
        )
        for mb in (1_769, 3_538):
            v = vcpus(mb)
            slow = cores / v  # CPU-bound parts scale with vCPUs (EXTRAPOLATED)
            c = (budget - load_s * slow) / (1 / (score_rate / slow) + 1 / s3)
            say(
                f"- At {mb:,} MB ({v:.0f} vCPU; CPU parts x{slow:.1f}, extrapolated): "
                f"{max(0, c):,.0f} customers per shard in {budget:.0f} s; writes "
                f"{'bind' if 1 / s3 > 1 / (score_rate / slow) else 'do not bind'}."
            )
        c_moto = (budget - load_s) / (1 / score_rate + 1 / moto_rate)
        say(f"- On the emulator's rate it would be {max(0, c_moto):,.0f} customers per shard.")
        say(
            f"- S3 takes at least {PREFIX_PUTS_PER_S:,} PUT/s per partitioned prefix: at {s3:,.0f} "
            f"documents/s a shard, at most {PREFIX_PUTS_PER_S // s3:.0f} shards write at once "
            "before S3 answers 503 Slow Down (it repartitions over time)."
        )
        say("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
