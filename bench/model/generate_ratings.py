"""Seeded synthetic implicit feedback with latent structure, as a reco split pair.

Users and items get random taste vectors over K latent groups; each user draws items by a
softmax over taste x item affinity mixed with item popularity (Zipf). Writes
`<out>/train.csv` and `<out>/test.csv` (`user_id,item_id,timestamp`, last 20% per user as test).
"""
import argparse
import os

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--ratings", type=int, default=10_000_000)
parser.add_argument("--users", type=int, default=100_000)
parser.add_argument("--items", type=int, default=10_000)
parser.add_argument("--groups", type=int, default=20)
parser.add_argument("--seed", type=int, default=7)
parser.add_argument("--out", required=True)
args = parser.parse_args()

rng = np.random.default_rng(args.seed)
per_user = args.ratings // args.users
item_group = rng.integers(0, args.groups, args.items)
popularity = 1.0 / np.arange(1, args.items + 1) ** 0.8
popularity = rng.permutation(popularity)
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "train.csv"), "w") as train, open(
    os.path.join(args.out, "test.csv"), "w"
) as test:
    train.write("user_id,item_id,timestamp\n")
    test.write("user_id,item_id,timestamp\n")
    by_group = [np.flatnonzero(item_group == g) for g in range(args.groups)]
    for start in range(0, args.users, 10_000):
        lines_train, lines_test = [], []
        for u in range(start, min(start + 10_000, args.users)):
            likes = rng.choice(args.groups, 2, replace=False)
            pool = np.concatenate([by_group[likes[0]], by_group[likes[1]]])
            weights = popularity[pool] / popularity[pool].sum()
            n_taste = min(int(per_user * 0.7), len(pool))
            taste = rng.choice(pool, n_taste, replace=False, p=weights)
            noise = rng.choice(args.items, per_user - n_taste, replace=False, p=popularity / popularity.sum())
            chosen = np.unique(np.concatenate([taste, noise]))
            rng.shuffle(chosen)
            cut = len(chosen) - -(-len(chosen) // 5)
            for t, i in enumerate(chosen):
                (lines_train if t < cut else lines_test).append(f"{u},{i},{t}\n")
        train.writelines(lines_train)
        test.writelines(lines_test)
