"""The transform handler the way the original design did it, for comparison.

Per record: base64 + json decode, then ONE database query (psycopg) that looks up the
customer's embedding and returns its k nearest items minus the browsed ones; then json +
base64 encode. It computes only `recommended_items` (the Rust handler also computes
`similar_items` and embeds unknown customers from their features), so it does less work.

usage: python_handler.py <postgres-url> --ef-search N [--runs N] [--json] <batch.json>...
(the same hnsw.ef_search as the Rust handler; bench_handler passes the Lambda pool's value)
"""

import argparse
import base64
import json
import statistics
import time

import psycopg

K = 10
# The customer's embedding as a scalar subquery, so that PostgreSQL orders by a value known
# before the scan and uses the HNSW index (a join with user_emb scans every item: fine for
# 400 items, ~0.4 s a record on 1M). Unknown customers (no embedding) get no rows.
QUERY = """
SELECT i.id, 1 - (i.embedding <=> (SELECT embedding FROM user_emb WHERE id = %(c)s)) AS score
FROM item_emb i
WHERE i.id <> ALL(%(browsed)s) AND EXISTS (SELECT 1 FROM user_emb WHERE id = %(c)s)
ORDER BY i.embedding <=> (SELECT embedding FROM user_emb WHERE id = %(c)s)
LIMIT %(k)s
"""


def handler(event, conn):
    out = []
    with conn.cursor() as cur:
        for record in event["records"]:
            try:
                payload = json.loads(base64.b64decode(record["data"]))
                browsed = [b["product_code"] for b in payload["browse_history"]]
                cur.execute(QUERY, {"c": payload["customer_number"], "browsed": browsed, "k": K})
                payload["recommended_items"] = [{"id": i, "score": s} for i, s in cur.fetchall()]
                data = base64.b64encode((json.dumps(payload) + "\n").encode()).decode()
                out.append({"recordId": record["recordId"], "result": "Ok", "data": data,
                            "metadata": {"partitionKeys": {"customer_number": str(payload["customer_number"])}}})
            except (ValueError, KeyError) as e:
                out.append({"recordId": record["recordId"], "result": "ProcessingFailed", "data": record["data"]})
    return {"records": out}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="PostgreSQL URL of the database with the embeddings")
    parser.add_argument("batches", nargs="+", help="Firehose batch files, answered in order")
    parser.add_argument("--ef-search", type=int, required=True,
                        help="hnsw.ef_search (the Rust handler's pool value)")
    parser.add_argument("--runs", type=int, default=1, help="passes over the batches")
    parser.add_argument("--json", action="store_true",
                        help="one JSON line per batch (for bench_handler) instead of text")
    args = parser.parse_args()
    events = []
    for path in args.batches:
        with open(path) as f:
            events.append((path, json.load(f)))
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(f"SET hnsw.ef_search = {int(args.ef_search)}")
        times = {}
        for _ in range(args.runs):
            for path, event in events:
                t = time.perf_counter()
                response = handler(event, conn)
                elapsed = time.perf_counter() - t
                n = len(event["records"])
                ok = sum(1 for r in response["records"] if r["result"] == "Ok")
                # Known customers get a list, unknown ones (not in user_emb) none: a run
                # against the wrong embeddings would show up here as a fast run with few lists.
                with_list = sum(1 for r in response["records"] if r["result"] == "Ok"
                                and json.loads(base64.b64decode(r["data"]))["recommended_items"])
                if args.json:
                    print(json.dumps({"file": path, "records": n, "ok": ok,
                                      "with_list": with_list, "seconds": elapsed}), flush=True)
                times.setdefault(path, []).append((elapsed, n, ok, with_list))
    if not args.json:
        for path, runs in times.items():
            median = statistics.median(t for t, _, _, _ in runs)
            _, n, ok, with_list = runs[-1]
            print(f"python {path}: {n} records, {ok} Ok ({with_list} with recommendations), "
                  f"median {median * 1e3:.1f} ms/batch, {ok / median:.0f} Ok records/s")


if __name__ == "__main__":
    main()
