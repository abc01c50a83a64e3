#!/usr/bin/env python3
"""Local stand-in for the storefront's CloudFront distribution: one origin on 127.0.0.1 that
serves the page from a site bucket and `/latest/*` from the recommendations bucket, reading
both from the S3 emulator with signed requests (the emulator, like S3 behind origin access
control, refuses anonymous GETs).

    .local/venv/bin/python scripts/storefront-server.py --site-bucket S --docs-bucket R \
        [--endpoint URL] [--host 127.0.0.1] [--port 0] [--port-file F] [--verbose]

Routes (GET and HEAD): `/` -> site `index.html`; `/latest/...` -> docs `latest/...`;
anything else -> the site key of that path. A missing key is 404 (CloudFront with OAC says
403; the page treats both alike), a failing S3 call is 502 with a one-line reason.
"""

import argparse
import mimetypes
import os
import signal
import socket
import sys
import tempfile
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.config
import botocore.exceptions

# Key prefix of the documents, and the object the distribution serves for `/`
# (CloudFront's default root object).
DOCS_PREFIX = "latest/"
DEFAULT_ROOT_OBJECT = "index.html"
# CloudFront's TTLs in terraform: documents change within seconds of a click, the page rarely.
DOCS_CACHE_CONTROL = "max-age=10"
SITE_CACHE_CONTROL = "max-age=300"
# Copy size of an object body to the client.
CHUNK_BYTES = 64 * 1024
# A stuck emulator must not hang the page: CloudFront's origin timeout is 30 s, a local one is less.
S3_TIMEOUT_SECONDS = 10
# Error codes botocore reports for a missing key or its HEAD.
MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
# Only the loopback interface: the stand-in serves unauthenticated reads of private buckets.
ALLOWED_HOSTS = {"127.0.0.1", "localhost", "::1"}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"),
                        help="S3 endpoint URL (default: $AWS_ENDPOINT_URL)")
    parser.add_argument("--site-bucket", required=True, help="bucket holding index.html, app.js, style.css")
    parser.add_argument("--docs-bucket", required=True, help="recommendations bucket holding latest/...")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
    parser.add_argument("--port-file", help="file to write the chosen port to once listening")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    if not args.endpoint:
        parser.error("no S3 endpoint: pass --endpoint or set AWS_ENDPOINT_URL (see .local/env)")
    if args.host not in ALLOWED_HOSTS:
        parser.error(f"--host {args.host}: the storefront stand-in binds loopback only ({', '.join(sorted(ALLOWED_HOSTS))})")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port}: not a TCP port")
    return args


def route(path):
    """The (bucket role, key) a request path reads: ("site" | "docs", key)."""
    key = urllib.parse.unquote(urllib.parse.urlsplit(path).path).lstrip("/")
    if key == "":
        return "site", DEFAULT_ROOT_OBJECT
    if key.startswith(DOCS_PREFIX):
        return "docs", key
    return "site", key


class StorefrontHandler(BaseHTTPRequestHandler):
    """Answers GET and HEAD from the two buckets; the server carries the client and names."""

    server_version = "reco-storefront"
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.serve(send_body=True)

    def do_HEAD(self):  # noqa: N802
        self.serve(send_body=False)

    def serve(self, send_body):
        role, key = route(self.path)
        bucket = self.server.buckets[role]
        request = {"Bucket": bucket, "Key": key}
        operation = "GetObject" if send_body else "HeadObject"
        if self.headers.get("If-None-Match"):
            request["IfNoneMatch"] = self.headers["If-None-Match"]
        try:
            if send_body:
                obj = self.server.s3.get_object(**request)
            else:
                obj = self.server.s3.head_object(**request)
        except botocore.exceptions.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "304" or status == 304:
                self.send_response(HTTPStatus.NOT_MODIFIED)
                self.send_header("Cache-Control", self.cache_control(role))
                if "," not in request["IfNoneMatch"]:
                    self.send_header("ETag", request["IfNoneMatch"])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if code in MISSING_CODES:
                self.send_text(HTTPStatus.NOT_FOUND, f"not found: {self.path}\n", send_body)
                return
            self.fail(f"S3 {operation} s3://{bucket}/{key} failed: {code or status}: "
                      f"{error.response.get('Error', {}).get('Message', '')}", send_body)
            return
        except botocore.exceptions.BotoCoreError as error:
            self.fail(f"S3 {operation} s3://{bucket}/{key} failed: {error}", send_body)
            return

        content_type = obj.get("ContentType") or mimetypes.guess_type(key)[0] or "application/octet-stream"
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(obj["ContentLength"]))
        self.send_header("Cache-Control", self.cache_control(role))
        if obj.get("ETag"):
            self.send_header("ETag", obj["ETag"])
        if obj.get("LastModified"):
            self.send_header("Last-Modified", obj["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT"))
        self.end_headers()
        if send_body:
            body = obj["Body"]
            try:
                for chunk in iter(lambda: body.read(CHUNK_BYTES), b""):
                    self.wfile.write(chunk)
            finally:
                body.close()

    @staticmethod
    def cache_control(role):
        return DOCS_CACHE_CONTROL if role == "docs" else SITE_CACHE_CONTROL

    def fail(self, message, send_body):
        # Failures are always reported, verbose or not: a 502 is never silent.
        sys.stderr.write(f"[storefront-server] 502 {self.command} {self.path}: {message}\n")
        self.send_text(HTTPStatus.BAD_GATEWAY, message.replace("\n", " ") + "\n", send_body)

    def send_text(self, status, text, send_body):
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
        if self.server.verbose:
            super().log_message(format, *args)


class StorefrontServer(ThreadingHTTPServer):
    """A threading HTTP server that knows the S3 client and which bucket serves which path."""

    daemon_threads = True

    def __init__(self, address, s3, site_bucket, docs_bucket, verbose):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, StorefrontHandler)
        self.s3 = s3
        self.buckets = {"site": site_bucket, "docs": docs_bucket}
        self.verbose = verbose


def write_port_file(path, port):
    # Written whole and renamed into place, so a reader polling for it never sees half a number.
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".port-")
    with os.fdopen(fd, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def stop_on_sigterm(_signum, _frame):
    # The check's trap stops the server with SIGTERM: end serve_forever as Ctrl-C does.
    raise KeyboardInterrupt


def main(argv):
    args = parse_args(argv)
    s3 = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        config=botocore.config.Config(
            connect_timeout=S3_TIMEOUT_SECONDS, read_timeout=S3_TIMEOUT_SECONDS,
            retries={"max_attempts": 2, "mode": "standard"}, s3={"addressing_style": "path"},
        ),
    )
    server = StorefrontServer((args.host, args.port), s3, args.site_bucket, args.docs_bucket, args.verbose)
    port = server.server_address[1]
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    if args.port_file:
        write_port_file(args.port_file, port)
    if args.verbose:
        sys.stderr.write(f"[storefront-server] http://{args.host}:{port}/ site=s3://{args.site_bucket} "
                         f"docs=s3://{args.docs_bucket}/{DOCS_PREFIX} via {args.endpoint}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
