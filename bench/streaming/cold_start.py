"""Cold start of the transform Lambda binary: time from process start to the first response,
with a stand-in for the Lambda Runtime API on 127.0.0.1 (the protocol the binary speaks in AWS).

The binary logs each init step ("init phase": its name, its time, the time since `main`
started; steps that run concurrently each log their own) as JSON lines, then asks for the
first event. Reported (medians over the runs): the time to the first response, the database
connection the binary logs ("vector database connected") and the total without it, the
model's fetch and parse ("model loaded", and the file read: model.bin or model.json), each
init phase, and the parts outside `main`'s init: process start to `main` (exec, dynamic
loading, the runtime) and the end of init to the first response (the Runtime API poll, the first batch, the response's post), from the
wall-clock time each phase line carries (`unix_ms`).

usage: cold_start.py <bootstrap> <event.json> <runs>   (RECO_* and AWS_* settings in the environment)
  RECO_COLD_START_LOGS=1 prints each run's log lines (stderr).
"""

import datetime
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time

REQUEST_ID = "cold-start-bench"


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """One server per run (its own port), so a killed process's late poll never reaches the
    next run's server."""

    event = b"{}"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        run = self.server.run
        with run["lock"]:
            first = run["served"] == 0
            run["served"] += 1
        if not first:
            # One invocation per process: hold the second poll until the run ends.
            run["done"].wait(60)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", REQUEST_ID)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Length", str(len(RuntimeApi.event)))
        self.end_headers()
        self.wfile.write(RuntimeApi.event)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        ok = self.path.endswith(f"/invocation/{REQUEST_ID}/response")
        run = self.server.run
        run["result"] = (ok, self.path, body[:500])
        run["responded_at"] = time.time()
        self.send_response(202)
        self.end_headers()
        run["responded"].set()


def log_time(entry):
    """A JSON log line's timestamp as seconds since the epoch (None when absent)."""
    stamp = entry.get("timestamp")
    if not stamp:
        return None
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def one_run(bootstrap):
    """One cold start: (total ms, connection ms, model ms, {phase: ms}, {part: ms})."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    run = server.run = {"lock": threading.Lock(), "served": 0, "responded": threading.Event(),
                        "done": threading.Event()}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        return measure(bootstrap, port, run)
    finally:
        run["done"].set()
        server.shutdown()
        server.server_close()


def measure(bootstrap, port, run):
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "RUST_LOG": "info",
        # JSON log lines, as with the function's JSON log format (Lambda sets this variable).
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
    })
    wall_start = time.time()
    started = time.perf_counter()
    # The binary logs JSON lines to stdout (as Lambda collects them); stderr is merged in.
    proc = subprocess.Popen([bootstrap], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if not run["responded"].wait(60):
        proc.kill()
        raise SystemExit(f"no response within 60 s: {proc.stdout.read().decode()[-2000:]}")
    total = time.perf_counter() - started
    proc.kill()
    logs = proc.stdout.read().decode()
    proc.wait()
    ok, path, body = run["result"]
    if not ok:
        raise SystemExit(f"the binary posted to {path}: {body!r}\n{logs[-2000:]}")
    if os.environ.get("RECO_COLD_START_LOGS"):
        print(logs, file=sys.stderr)
    connect_ms = model_ms = model_file = None
    phases = {}
    main_at = init_end_at = None
    for line in logs.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        fields = entry.get("fields", {})
        message = fields.get("message")
        if message == "vector database connected":
            connect_ms = float(fields["elapsed_ms"])
        elif message == "model loaded" and model_ms is None:
            model_ms = float(fields["elapsed_ms"])
        elif message == "model fetched and parsed" and model_file is None:
            # Builds before the binary copy log no file: model.json.
            model_file = fields.get("file", "model.json")
        elif message == "model prefetched":
            # Fetched and parsed while the database connected; the warm-up's "model loaded"
            # then only waits for it.
            model_ms = float(fields["elapsed_ms"])
        elif message == "experiment state read":
            # The A/B experiment state's first read, concurrent with the database's connection
            # and the model (builds before it awaited the read as the `experiments` phase).
            phases["experiment state (concurrent)"] = float(fields["elapsed_ms"])
        elif message == "init phase":
            phases[fields["phase"]] = float(fields["elapsed_ms"])
            # The wall-clock time the binary logs with each phase (its log lines carry none).
            at = float(fields["unix_ms"]) / 1e3 if "unix_ms" in fields else log_time(entry)
            if at is not None:
                since_start = float(fields["since_start_ms"]) / 1e3
                main_at = at - since_start if main_at is None else main_at
                init_end_at = at if init_end_at is None else max(init_end_at, at)
    if connect_ms is None:
        raise SystemExit(f"no 'vector database connected' log line:\n{logs[-2000:]}")
    parts = {}
    if main_at is not None:
        parts["process start to main"] = (main_at - wall_start) * 1e3
        parts["main to end of init"] = (init_end_at - main_at) * 1e3
        parts["end of init to first response"] = (run["responded_at"] - init_end_at) * 1e3
    return total * 1e3, connect_ms, model_ms, phases, parts, model_file


def medians(dicts):
    """Median of each key over the runs that have it, in first-seen order."""
    keys = list(dict.fromkeys(k for d in dicts for k in d))
    return {k: statistics.median(d[k] for d in dicts if k in d) for k in keys}


def main():
    bootstrap, event_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(event_path, "rb") as f:
        RuntimeApi.event = f.read()
    results = [one_run(bootstrap) for _ in range(runs)]
    total = statistics.median(r[0] for r in results)
    connect = statistics.median(r[1] for r in results)
    without = statistics.median(r[0] - r[1] for r in results)
    models = [r[2] for r in results if r[2] is not None]
    model = f"{statistics.median(models):.0f} ms" if models else "not logged"
    files = sorted({r[5] for r in results if r[5]})
    model += f", {'/'.join(files)}" if files else ""
    print(f"cold start (release bootstrap, {runs} runs, median): {total:.1f} ms to first response; "
          f"connection {connect:.1f} ms; without connection {without:.1f} ms (model fetch from S3 + parse {model})")
    print("  (without connection = total minus connection; when the model is fetched during the "
          "connection, an init without one would take longer than that)")
    print("  runs: " + ", ".join(f"{r[0]:.1f}" for r in results) + " ms")
    phases = medians([r[3] for r in results])
    if phases:
        print("  init phases (median ms; concurrent phases overlap): "
              + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()))
    parts = medians([r[4] for r in results])
    if parts:
        print("  " + ", ".join(f"{k} {v:.1f} ms" for k, v in parts.items()))


if __name__ == "__main__":
    main()
