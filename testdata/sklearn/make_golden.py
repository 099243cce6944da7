#!/usr/bin/python3
"""Golden values for the scikit-learn parity tests of package model.

Writes, for each case below, the CSV rows (the data contract's columns) and
golden.json with what scikit-learn computes on them:
Pipeline(StandardScaler(), LogisticRegression()) fitted on every row, its
scaler, coefficients, intercept, predict_proba for every row, and the
evaluation metrics of those probabilities (pr_auc is average_precision_score).
metric_cases holds small label/probability lists with ties and 0 or 1
probabilities, scored by scikit-learn alone.

Each case is fitted twice: with LogisticRegression's defaults (lbfgs,
tol=1e-4: the figures a user of the seed service gets, which stop short of the
optimum by up to ~1e-5 because scipy's L-BFGS also stops on a relative
function decrease of 64 eps) and with solver="newton-cholesky", tol=1e-12: the
exact optimum of the same objective to ~1e-12. Probabilities and metrics are
those of the exact fit. The Go tests compare against both.

It also writes fair_golden.json for the fair-promotion test of package
mlservice: day_01's model (fitted on the rows our stratified split trains on)
scored on the rows our split holds out of day_02, the comparison Promote
makes. Go's random generator cannot be reproduced here, so the split comes
from fair_rows.json, which the Go test TestFairRowsFixture writes
(go test -run TestFairRowsFixture -update-fair-rows .) and checks; the fits,
predictions and F1 are scikit-learn's own.

CI never runs this script; it needs Debian's python3-sklearn:

    apt-get install -y python3-sklearn python3-pandas
    /usr/bin/python3 testdata/sklearn/make_golden.py        # everything
    /usr/bin/python3 testdata/sklearn/make_golden.py fair   # fair_golden.json only
    /usr/bin/python3 testdata/sklearn/make_golden.py metrics  # golden.json's metrics only, no refit
"""
import hashlib
import json
import os
import sys

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, average_precision_score,
                             confusion_matrix, f1_score, log_loss,
                             precision_score, recall_score, roc_auc_score)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
FEATURES = ["age", "income", "account_balance", "transactions_last_30d", "is_premium"]
COLUMNS = FEATURES + ["target"]


def make_rows(seed, n, intercept, premium_rate=0.3, constant_premium=False):
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 91, n)
    income = np.round(np.exp(rng.normal(10.8, 0.5, n)), 2)
    balance = np.round(rng.normal(2500, 6000, n), 2)
    tx = rng.poisson(15, n)
    premium = np.zeros(n, dtype=int) if constant_premium else (rng.random(n) < premium_rate).astype(int)
    z = (intercept + 0.03 * (age - 50) + 0.9 * (np.log(income) - 10.8)
         + 0.00012 * balance - 0.05 * (tx - 15) + 0.7 * premium)
    target = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return pd.DataFrame({"age": age, "income": income, "account_balance": balance,
                         "transactions_last_30d": tx, "is_premium": premium, "target": target})


DATASETS = {
    "plain": make_rows(1, 3000, -0.4),
    "imbalanced": make_rows(2, 4000, -2.4),
    "constant_column": make_rows(3, 1500, -0.2, constant_premium=True),
}

CASES = [
    # name, dataset, balanced
    ("plain", "plain", False),
    ("imbalanced", "imbalanced", False),
    ("imbalanced_balanced", "imbalanced", True),
    ("constant_column", "constant_column", True),
]


def fit(X, y, balanced, **params):
    pipe = Pipeline([("scaler", StandardScaler()),
                     ("clf", LogisticRegression(class_weight="balanced" if balanced else None, **params))])
    pipe.fit(X, y)
    sc, clf = pipe.named_steps["scaler"], pipe.named_steps["clf"]
    return pipe, {
        "mean": sc.mean_.tolist(),
        "scale": sc.scale_.tolist(),
        "coef": clf.coef_[0].tolist(),
        "intercept": float(clf.intercept_[0]),
        "n_iter": int(clf.n_iter_[0]),
    }


def main():
    out = {"sklearn_version": sklearn.__version__, "numpy_version": np.__version__,
           "features": FEATURES, "cases": []}
    for name, df in DATASETS.items():
        df[COLUMNS].to_csv(os.path.join(HERE, f"{name}.csv"), index=False, float_format="%.2f")
    for name, dataset, balanced in CASES:
        path = f"{dataset}.csv"
        # Fit on what the file says, parsed with correctly rounded strtod, as Go parses it.
        df = pd.read_csv(os.path.join(HERE, path), float_precision="round_trip")
        X, y = df[FEATURES], df["target"].astype(int)
        _, default = fit(X, y, balanced)
        pipe, exact = fit(X, y, balanced, solver="newton-cholesky", tol=1e-12, max_iter=1000)
        proba = pipe.predict_proba(X)[:, 1]
        pred = pipe.predict(X)
        assert (pred == (proba > 0.5)).all()
        out["cases"].append({
            "name": name,
            "csv": path,
            "balanced": balanced,
            "rows": int(len(df)),
            "default_tol": default,
            "exact": exact,
            "probabilities": proba.tolist(),
            "metrics": scores(y, proba, pred),
        })
    out["metric_cases"] = metric_cases(out["cases"][0])
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def metric_cases(plain):
    """Labels and probabilities scored by scikit-learn alone, for the
    promotion metrics where ties and extremes matter: tied scores are one
    cutoff of the ROC and precision-recall curves, and log loss clips 0 and 1."""
    y = pd.read_csv(os.path.join(HERE, plain["csv"]))["target"].astype(int).tolist()[:400]
    cases = [
        # plain's first 400 rows, probabilities to one decimal: ~10 tied cutoffs.
        ("plain_rounded", y, np.round(plain["probabilities"][:400], 1).tolist()),
        ("ties", [0, 0, 1, 1, 0, 1, 1, 0, 1, 0], [0.1, 0.4, 0.4, 0.8, 0.8, 0.8, 0.3, 0.5, 0.5, 0.2]),
        ("extremes", [0, 1, 1, 0, 1, 0], [0.0, 1.0, 0.7, 1.0, 0.0, 0.2]),
        ("one_positive", [0, 0, 0, 1, 0], [0.2, 0.9, 0.1, 0.6, 0.6]),
    ]
    return [{"name": name, "labels": labels, "probabilities": proba,
             "metrics": scores(labels, proba, (np.array(proba) > 0.5).astype(int))}
            for name, labels, proba in cases]


def scores(y, proba, pred):
    """Every metric model.Evaluate computes, as scikit-learn computes it."""
    return {
        "f1": f1_score(y, pred, zero_division=0),
        "precision": precision_score(y, pred, zero_division=0),
        "recall": recall_score(y, pred, zero_division=0),
        "accuracy": accuracy_score(y, pred),
        "roc_auc": roc_auc_score(y, proba),
        "pr_auc": average_precision_score(y, proba),
        "log_loss": log_loss(y, proba),
        "confusion_matrix": confusion_matrix(y, pred).tolist(),
    }


def metrics_only():
    """Rescores the probabilities golden.json already holds, without fitting
    again: a refit on another machine's BLAS moves the figures in the last
    bit, which would rewrite the whole file to add one metric."""
    path = os.path.join(HERE, "golden.json")
    with open(path) as f:
        out = json.load(f)
    for case in out["cases"]:
        y = pd.read_csv(os.path.join(HERE, case["csv"]))["target"].astype(int)
        proba = np.array(case["probabilities"])
        case["metrics"] = scores(y, proba, (proba > 0.5).astype(int))
    out["metric_cases"] = metric_cases(out["cases"][0])
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


DATA = os.path.join(HERE, "..", "..", "data")


def fair_promotion():
    with open(os.path.join(HERE, "fair_rows.json")) as f:
        rows = json.load(f)
    days = {}
    for day in rows["days"]:
        path = os.path.join(DATA, day["file"])
        with open(path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != day["sha256"]:
                raise SystemExit(f"{day['file']} differs from the file fair_rows.json was made from")
        df = pd.read_csv(path, float_precision="round_trip")
        test = np.zeros(len(df), dtype=bool)
        test[day["test_rows"]] = True
        days[day["file"]] = (df[FEATURES], df["target"].astype(int), test)

    def fitted(name, **params):
        X, y, test = days[name]
        pipe, _ = fit(X[~test], y[~test], False, **params)
        return pipe

    def f1_on_test(pipe, name):
        X, y, test = days[name]
        return float(f1_score(y[test], pipe.predict(X[test])))

    exact = dict(solver="newton-cholesky", tol=1e-12, max_iter=1000)
    current, candidate = fitted("day_01.csv", **exact), fitted("day_02.csv", **exact)
    out = {
        "sklearn_version": sklearn.__version__,
        "current": "day_01.csv",
        "candidate": "day_02.csv",
        "seed": rows["seed"],
        "test_fraction": rows["test_fraction"],
        # The figure Promote compares: day_01's model on day_02's held-out rows.
        "current_f1_on_candidate_rows": f1_on_test(current, "day_02.csv"),
        # The same with LogisticRegression's defaults, to show the tolerance does not move it.
        "current_f1_on_candidate_rows_default_tol": f1_on_test(fitted("day_01.csv"), "day_02.csv"),
        # The F1 recorded with day_01's version: its own held-out rows.
        "current_f1_stored": f1_on_test(current, "day_01.csv"),
        "candidate_f1": f1_on_test(candidate, "day_02.csv"),
        "candidate_eval_rows": int(days["day_02.csv"][2].sum()),
    }
    with open(os.path.join(HERE, "fair_golden.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    # "fair" writes fair_golden.json alone, "metrics" rescores golden.json's
    # probabilities alone; no argument writes everything.
    if sys.argv[1:] == ["metrics"]:
        metrics_only()
        sys.exit()
    if sys.argv[1:] != ["fair"]:
        main()
    fair_promotion()
