"""Cold start of the transform Lambda binary: time from process start to the first response,
with a stand-in for the Lambda Runtime API on 127.0.0.1 (the protocol the binary speaks in AWS).

The binary connects to PostgreSQL, then loads the model of the active embeddings from S3
(the emulator), then asks for the first event. The connection time the binary logs
("vector database connected") is reported and subtracted: the goal excludes it.

usage: cold_start.py <bootstrap> <event.json> <runs>   (RECO_* and AWS_* settings in the environment)
"""

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
    event = b"{}"
    responded = None  # threading.Event set on the first response
    served = 0

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        if RuntimeApi.served > 0:
            # One invocation per process: hold the second poll until the process is killed.
            time.sleep(30)
            return
        RuntimeApi.served += 1
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
        RuntimeApi.result = (ok, self.path, body[:500])
        self.send_response(202)
        self.end_headers()
        RuntimeApi.responded.set()


def one_run(bootstrap, port):
    RuntimeApi.served = 0
    RuntimeApi.responded = threading.Event()
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
    started = time.perf_counter()
    # The binary logs JSON lines to stdout (as Lambda collects them); stderr is merged in.
    proc = subprocess.Popen([bootstrap], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if not RuntimeApi.responded.wait(60):
        proc.kill()
        raise SystemExit(f"no response within 60 s: {proc.stdout.read().decode()[-2000:]}")
    total = time.perf_counter() - started
    proc.kill()
    logs = proc.stdout.read().decode()
    ok, path, body = RuntimeApi.result
    if not ok:
        raise SystemExit(f"the binary posted to {path}: {body!r}\n{logs[-2000:]}")
    connect_ms = model_ms = None
    for line in logs.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        fields = entry.get("fields", {})
        if fields.get("message") == "vector database connected":
            connect_ms = float(fields["elapsed_ms"])
        if fields.get("message") == "model loaded":
            model_ms = float(fields["elapsed_ms"])
    if connect_ms is None:
        raise SystemExit(f"no 'vector database connected' log line:\n{logs[-2000:]}")
    return total * 1e3, connect_ms, model_ms


def main():
    bootstrap, event_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(event_path, "rb") as f:
        RuntimeApi.event = f.read()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    results = [one_run(bootstrap, server.server_address[1]) for _ in range(runs)]
    server.shutdown()
    total = statistics.median(r[0] for r in results)
    connect = statistics.median(r[1] for r in results)
    without = statistics.median(r[0] - r[1] for r in results)
    model = statistics.median(r[2] for r in results if r[2] is not None)
    print(f"cold start (release bootstrap, {runs} runs, median): {total:.1f} ms to first response; "
          f"connection {connect:.1f} ms; without connection {without:.1f} ms (model fetch from S3 + parse {model:.0f} ms)")


if __name__ == "__main__":
    main()
