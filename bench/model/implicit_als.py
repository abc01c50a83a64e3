"""implicit's ALS on a reco split file: the reference point of bench/model.

Reads `user_id,item_id,timestamp` training CSV, fits implicit 0.7.3's CPU ALS
(factors 32, regularization 0.05, alpha 1, 15 iterations, 2 threads unless overridden), prints
the seconds of training alone and of ranking, writes the top 10
unseen items per user as `user_id,item_id,rank` for `reco eval --score-recs`.
"""
import argparse
import csv
import time

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

parser = argparse.ArgumentParser()
parser.add_argument("--train", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--factors", type=int, default=32)
parser.add_argument("--regularization", type=float, default=0.05)
parser.add_argument("--alpha", type=float, default=1.0)
parser.add_argument("--iterations", type=int, default=15)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()

read_started = time.perf_counter()
users, items, rows, cols = {}, {}, [], []
with open(args.train, newline="") as f:
    for rec in csv.DictReader(f):
        rows.append(users.setdefault(rec["user_id"], len(users)))
        cols.append(items.setdefault(rec["item_id"], len(items)))
matrix = sp.csr_matrix(
    (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(users), len(items))
)
matrix.sum_duplicates()
matrix.data[:] = 1.0

model = AlternatingLeastSquares(
    factors=args.factors,
    regularization=args.regularization,
    alpha=args.alpha,
    iterations=args.iterations,
    random_state=args.seed,
    num_threads=args.threads,
)
print(f"implicit: read {len(rows)} rows ({len(users)} users x {len(items)} items, "
      f"{matrix.nnz} pairs) in {time.perf_counter() - read_started:.2f} s", flush=True)
started = time.perf_counter()
model.fit(matrix, show_progress=False)
print(f"implicit: trained in {time.perf_counter() - started:.2f} s ({args.factors} factors, "
      f"{args.iterations} iterations, {args.threads} threads)", flush=True)
started = time.perf_counter()

user_ids = np.arange(len(users))
ids, _ = model.recommend(user_ids, matrix, N=10, filter_already_liked_items=True)
user_names = {v: k for k, v in users.items()}
item_names = {v: k for k, v in items.items()}
with open(args.out, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["user_id", "item_id", "rank"])
    for u, recs in zip(user_ids, ids):
        for rank, i in enumerate(recs, start=1):
            if i >= 0:
                w.writerow([user_names[u], item_names[int(i)], rank])
print(f"implicit: ranked and wrote the top 10 of {len(users)} users in "
      f"{time.perf_counter() - started:.2f} s", flush=True)
