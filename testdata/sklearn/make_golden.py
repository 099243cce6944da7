#!/usr/bin/python3
"""Golden values for the scikit-learn parity tests of package model.

Writes, for each case below, the CSV rows (the data contract's columns) and
golden.json with what scikit-learn computes on them:
Pipeline(StandardScaler(), LogisticRegression()) fitted on every row, its
scaler, coefficients, intercept, predict_proba for every row, and the
evaluation metrics of those probabilities.

Each case is fitted twice: with LogisticRegression's defaults (lbfgs,
tol=1e-4: the figures a user of the seed service gets, which stop short of the
optimum by up to ~1e-5 because scipy's L-BFGS also stops on a relative
function decrease of 64 eps) and with solver="newton-cholesky", tol=1e-12: the
exact optimum of the same objective to ~1e-12. Probabilities and metrics are
those of the exact fit. The Go tests compare against both. CI never runs this script; it needs Debian's python3-sklearn:

    apt-get install -y python3-sklearn python3-pandas
    /usr/bin/python3 testdata/sklearn/make_golden.py
"""
import json
import os

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score,
                             log_loss, precision_score, recall_score,
                             roc_auc_score)
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
        out["cases"].append({
            "name": name,
            "csv": path,
            "balanced": balanced,
            "rows": int(len(df)),
            "default_tol": default,
            "exact": exact,
            "probabilities": proba.tolist(),
            "metrics": {
                "f1": f1_score(y, pred),
                "precision": precision_score(y, pred, zero_division=0),
                "recall": recall_score(y, pred, zero_division=0),
                "accuracy": accuracy_score(y, pred),
                "roc_auc": roc_auc_score(y, proba),
                "log_loss": log_loss(y, proba),
                "confusion_matrix": confusion_matrix(y, pred).tolist(),
            },
        })
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
