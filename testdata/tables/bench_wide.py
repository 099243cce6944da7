#!/usr/bin/python3
"""scikit-learn reference figure for training on a wide declared-schema table.

The table: 30 number columns (x00..x29), 3 category columns (c0, c1, c2) of
20 values each ("v00".."v19", not equally frequent) and a binary target
("1"/"0") drawn from a logistic model of them. It is generated from a seed,
so the Go benchmark trains on the very same bytes: write it once, then time
both sides on it. bench_wide.schema.json next to this script declares it
(categories learned, so both sides also learn and sort them).

    /usr/bin/python3 testdata/tables/bench_wide.py --write /tmp/wide.csv --rows 1000000
    /usr/bin/python3 testdata/tables/bench_wide.py --time /tmp/wide.csv

--time runs what a scikit-learn user would: pandas.read_csv, then
Pipeline(ColumnTransformer([StandardScaler on the numbers, OneHotEncoder on
the categories]), LogisticRegression()) .fit, end to end, and prints the
seconds of each step and the process's peak RSS (getrusage ru_maxrss, which
includes the interpreter and the libraries, ~100 MB before any data). The
CSV is not part of the repository (1M rows are ~300 MB).

CI never runs this script; it needs Debian's python3-sklearn and python3-pandas.
"""
import argparse
import os
import platform
import resource
import sys
import time

import numpy as np
import pandas as pd

NUMBERS = [f"x{i:02d}" for i in range(30)]
CATEGORIES = ["c0", "c1", "c2"]
LEVELS = [f"v{i:02d}" for i in range(20)]
TARGET = "target"
CHUNK = 100_000


def write(path, rows, seed):
    rng = np.random.default_rng(seed)
    # Column scales and offsets differ, as real columns' do; the weights make
    # some columns matter and most not.
    loc = rng.normal(0, 50, len(NUMBERS))
    scale = np.exp(rng.uniform(-2, 4, len(NUMBERS)))
    weight = rng.normal(0, 1, len(NUMBERS)) * (rng.random(len(NUMBERS)) < 0.5)
    level_p = [rng.dirichlet(np.ones(len(LEVELS))) for _ in CATEGORIES]
    level_w = [rng.normal(0, 0.7, len(LEVELS)) for _ in CATEGORIES]
    header = True
    with open(path, "w", newline="") as f:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            z = rng.normal(0, 1, (n, len(NUMBERS)))
            x = np.round(loc + scale * z, 4)
            cats = [rng.choice(len(LEVELS), n, p=p) for p in level_p]
            logit = -0.3 + z @ weight * 0.5 + sum(w[c] for w, c in zip(level_w, cats))
            y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
            df = pd.DataFrame(x, columns=NUMBERS)
            for name, c in zip(CATEGORIES, cats):
                df[name] = np.array(LEVELS, dtype=object)[c]
            df[TARGET] = y
            df.to_csv(f, index=False, header=header, float_format="%.4f", lineterminator="\n")
            header = False


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def time_fit(path):
    import sklearn
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rss_start = peak_rss_mb()
    t0 = time.perf_counter()
    df = pd.read_csv(path, dtype={**{c: str for c in CATEGORIES}, TARGET: str},
                     keep_default_na=False, float_precision="round_trip")
    t1 = time.perf_counter()
    y = (df[TARGET] == "1").astype(int).to_numpy()
    pipe = Pipeline([
        ("columns", ColumnTransformer([
            ("num", StandardScaler(), NUMBERS),
            ("cat", OneHotEncoder(sparse_output=False, handle_unknown="error"), CATEGORIES),
        ])),
        ("clf", LogisticRegression()),
    ])
    pipe.fit(df[NUMBERS + CATEGORIES], y)
    t2 = time.perf_counter()
    clf = pipe.named_steps["clf"]
    print(f"rows={len(df)} columns={len(NUMBERS)}+{len(CATEGORIES)}x{len(LEVELS)} "
          f"encoded={clf.coef_.shape[1]} positives={int(y.sum())}")
    print(f"read_csv_seconds={t1 - t0:.2f} fit_seconds={t2 - t1:.2f} total_seconds={t2 - t0:.2f} "
          f"lbfgs_iterations={int(clf.n_iter_[0])} converged={int(clf.n_iter_[0]) < clf.max_iter}")
    print(f"peak_rss_mb={peak_rss_mb():.0f} (after imports {rss_start:.0f})")
    print(f"python={platform.python_version()} sklearn={sklearn.__version__} numpy={np.__version__} "
          f"pandas={pd.__version__} cpus={os.cpu_count()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", metavar="PATH", help="write the seeded table to PATH")
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows to write (default 1000000)")
    ap.add_argument("--seed", type=int, default=20261127, help="generator seed (default 20261127)")
    ap.add_argument("--time", metavar="PATH", help="time scikit-learn's pipeline on the table at PATH")
    args = ap.parse_args()
    if not args.write and not args.time:
        ap.error("give --write PATH and/or --time PATH")
    if args.write:
        t0 = time.perf_counter()
        write(args.write, args.rows, args.seed)
        print(f"wrote {args.rows} rows to {args.write} in {time.perf_counter() - t0:.1f}s "
              f"(seed {args.seed})", file=sys.stderr)
    if args.time:
        time_fit(args.time)


if __name__ == "__main__":
    main()
