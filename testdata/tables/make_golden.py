#!/usr/bin/python3
"""Golden values for the declared-schema ("bring your own table") parity tests.

The tables are real public data shipped in Debian's python3-statsmodels and
python3-sklearn (see README.md for sources, licences and what was changed).
This script

1. (re)writes each table CSV from its Debian source file with a text-level
   transform that leaves every data cell byte-identical (comma separator, one
   header line, a derived target column where the source has none), unless
   the source is missing, in which case the committed CSV is used as is;
2. for each case (table + schema file), fits scikit-learn's reference
   pipeline on ALL rows of the table

       ColumnTransformer([
           ("num", StandardScaler(), number+binary features in schema order),
           ("cat_<name>", OneHotEncoder(categories=[<declared, or learned sorted>],
                                        handle_unknown="ignore" if unknown=ignore else "error"),
                          [<name>]),
           ... one encoder per category feature, in schema order])
       + LogisticRegression()

   (one encoder per feature keeps each feature's own handle_unknown; the
   columns are those of a single OneHotEncoder over all category features:
   all numbers first, then each category feature's values in its order)

   twice, as testdata/sklearn/make_golden.py does: with the defaults (lbfgs,
   tol=1e-4) and with solver="newton-cholesky", tol=1e-12 (the exact optimum
   of the same objective); probabilities and metrics are the exact fit's;
3. writes golden.json next to this file.

Category cells are read as the strings the CSV holds (pandas dtype=str, no NA
conversion), so learned categories are sorted as strings ("1" < "10" < "2"),
which is also Go's sort.Strings order for these ASCII values. Number cells
are parsed with correctly rounded strtod (float_precision="round_trip"), as Go
parses them.

CI never runs this script; it needs Debian's python3-sklearn, python3-pandas
and python3-statsmodels (for the source tables):

    /usr/bin/python3 testdata/tables/make_golden.py
"""
import csv
import hashlib
import io
import json
import os
import platform
import shlex
import sys

import numpy as np
import pandas as pd
import scipy
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score,
                             log_loss, precision_score, recall_score,
                             roc_auc_score)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
DIST = "/usr/lib/python3/dist-packages"

BREAST_CANCER_COLUMNS = [
    "mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness",
    "mean compactness", "mean concavity", "mean concave points", "mean symmetry",
    "mean fractal dimension", "radius error", "texture error", "perimeter error",
    "area error", "smoothness error", "compactness error", "concavity error",
    "concave points error", "symmetry error", "fractal dimension error", "worst radius",
    "worst texture", "worst perimeter", "worst area", "worst smoothness",
    "worst compactness", "worst concavity", "worst concave points", "worst symmetry",
    "worst fractal dimension", "target"]


def lines_of(path):
    with open(path, newline="") as f:
        text = f.read()
    assert text.endswith("\n") and "\r" not in text, path
    return text[:-1].split("\n")


def anes96(src):
    # Tab-separated, header names in single quotes: make it comma-separated
    # with bare names. No cell contains a comma, a quote or a space.
    lines = lines_of(src)
    header = [h.strip("'") for h in lines[0].split("\t")]
    rows = [line.split("\t") for line in lines[1:]]
    return [header] + rows


def breast_cancer(src):
    # The first line is "569,30,malignant,benign" (row count, feature count,
    # class names); replace it with the column names load_breast_cancer()
    # gives. "target" is the file's last column: 0 = malignant, 1 = benign.
    lines = lines_of(src)
    assert lines[0] == "569,30,malignant,benign", lines[0]
    rows = [line.split(",") for line in lines[1:]]
    assert all(len(r) == 31 for r in rows)
    return [BREAST_CANCER_COLUMNS] + rows


def grunfeld(src):
    # Add high_invest: "yes" when the firm's invest that year is above the
    # firm's median invest over its 20 years (1935-1954), else "no". No value
    # equals its firm's median, so exactly 10 of each firm's 20 rows are "yes".
    rows = list(csv.reader(io.StringIO("\n".join(lines_of(src)) + "\n")))
    header, rows = rows[0], rows[1:]
    assert header == ["invest", "value", "capital", "firm", "year"], header
    df = pd.DataFrame(rows, columns=header)
    invest = df["invest"].astype(float)
    median = invest.groupby(df["firm"]).transform("median")
    assert not (invest == median).any()
    high = np.where(invest > median, "yes", "no")
    return [header + ["high_invest"]] + [r + [h] for r, h in zip(rows, high)]


def randhie(src):
    # Add any_visit: 1 when mdvis (outpatient visits to an MD) is above 0.
    lines = lines_of(src)
    header = lines[0].split(",")
    assert header[0] == "mdvis", header
    rows = [line.split(",") for line in lines[1:]]
    return [header + ["any_visit"]] + [r + ["1" if int(r[0]) > 0 else "0"] for r in rows]


TABLES = {
    # file: (Debian source, transform)
    "anes96.csv": (f"{DIST}/statsmodels/datasets/anes96/anes96.csv", anes96),
    "breast_cancer.csv": (f"{DIST}/sklearn/datasets/data/breast_cancer.csv", breast_cancer),
    "grunfeld.csv": (f"{DIST}/statsmodels/datasets/grunfeld/grunfeld.csv", grunfeld),
    "randhie.csv": (f"{DIST}/statsmodels/datasets/randhie/randhie.csv", randhie),
}

CASES = [
    # name, table, schema, balanced, probe: (feature, unseen value) or None
    ("anes96", "anes96.csv", "anes96.schema.json", False, ("educ", "8")),
    ("anes96_balanced", "anes96.csv", "anes96.schema.json", True, None),
    ("anes96_learned", "anes96.csv", "anes96_learned.schema.json", False, None),
    ("breast_cancer", "breast_cancer.csv", "breast_cancer.schema.json", False, None),
    ("grunfeld", "grunfeld.csv", "grunfeld.schema.json", False, ("firm", "Ford Motor")),
    ("grunfeld_declared", "grunfeld.csv", "grunfeld_declared.schema.json", False, None),
    ("randhie", "randhie.csv", "randhie.schema.json", False, None),
]


def write_tables():
    for name, (src, transform) in TABLES.items():
        if not os.path.exists(src):
            print(f"{src} missing: keeping the committed {name}", file=sys.stderr)
            continue
        rows = transform(src)
        width = len(rows[0])
        assert all(len(r) == width for r in rows), name
        with open(os.path.join(HERE, name), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
            w.writerows(rows)


def table_info(name):
    path = os.path.join(HERE, name)
    with open(path, "rb") as f:
        data = f.read()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    return {"csv": name, "rows": len(rows) - 1, "columns": rows[0],
            "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def load_schema(name):
    with open(os.path.join(HERE, name)) as f:
        return json.load(f)


def read_table(path, schema):
    cats = [f["name"] for f in schema["features"] if f["type"] == "category"]
    target = schema["target"]["column"]
    dtype = {c: str for c in cats + [target]}
    df = pd.read_csv(path, dtype=dtype, keep_default_na=False, float_precision="round_trip")
    for f in schema["features"]:
        if f["type"] in ("number", "binary"):
            assert df[f["name"]].dtype.kind in "if", (path, f["name"], df[f["name"]].dtype)
            assert np.isfinite(df[f["name"]]).all()
        if f["type"] == "binary":
            assert set(df[f["name"]].unique()) <= {0, 1}, f["name"]
    for f in schema["features"]:
        if f["type"] == "category" and "categories" in f:
            extra = set(df[f["name"]]) - set(f["categories"])
            assert not extra, (path, f["name"], extra)
    labels = df[target]
    pos, neg = schema["target"]["positive"], schema["target"]["negative"]
    assert set(labels.unique()) == {pos, neg}, (path, labels.unique())
    return df, (labels == pos).astype(int).to_numpy()


def build(schema, df, balanced, **params):
    numeric = [f["name"] for f in schema["features"] if f["type"] in ("number", "binary")]
    catf = [f for f in schema["features"] if f["type"] == "category"]
    categories = [f["categories"] if "categories" in f else sorted(df[f["name"]].unique())
                  for f in catf]
    # OneHotEncoder takes one handle_unknown for all its columns: one encoder
    # per category feature keeps each feature's own setting.
    transformers = [("num", StandardScaler(), numeric)]
    for f, c in zip(catf, categories):
        transformers.append((f"cat_{f['name']}", OneHotEncoder(
            categories=[np.array(c, dtype=object)], sparse_output=False,
            handle_unknown="ignore" if f.get("unknown") == "ignore" else "error"), [f["name"]]))
    pipe = Pipeline([
        ("columns", ColumnTransformer(transformers, remainder="drop")),
        ("clf", LogisticRegression(class_weight="balanced" if balanced else None, **params)),
    ])
    return pipe, numeric, catf, categories


def encoded_names(numeric, catf, categories):
    # The sklearn output order: every number/binary column, then each category
    # feature's one-hot columns in its category order.
    names = list(numeric)
    for f, c in zip(catf, categories):
        names += [f"{f['name']}={v}" for v in c]
    return names


def schema_order_names(schema, categories_by_name):
    names = []
    for f in schema["features"]:
        if f["type"] == "category":
            names += [f"{f['name']}={v}" for v in categories_by_name[f["name"]]]
        else:
            names.append(f["name"])
    return names


def fitted(pipe, names):
    clf = pipe.named_steps["clf"]
    coef = clf.coef_[0]
    assert len(coef) == len(names)
    return {"coef": {n: float(c) for n, c in zip(names, coef)},
            "intercept": float(clf.intercept_[0]),
            "n_iter": int(clf.n_iter_[0])}


def run_case(name, table, schema_file, balanced, probe):
    schema = load_schema(schema_file)
    df, y = read_table(os.path.join(HERE, table), schema)
    X = df[[f["name"] for f in schema["features"]]]

    pipe, numeric, catf, categories = build(schema, df, balanced)
    pipe.fit(X, y)
    names = encoded_names(numeric, catf, categories)
    default = fitted(pipe, names)

    pipe, *_ = build(schema, df, balanced, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    pipe.fit(X, y)
    exact = fitted(pipe, names)
    ct = pipe.named_steps["columns"]
    assert len(ct.get_feature_names_out()) == len(names)
    sc = ct.named_transformers_["num"]
    for f, c in zip(catf, categories):
        learned = ct.named_transformers_[f"cat_{f['name']}"].categories_[0].tolist()
        assert learned == list(c), (f["name"], learned, c)

    proba = pipe.predict_proba(X)[:, 1]
    pred = (proba > 0.5).astype(int)
    assert (pred == pipe.predict(X)).all()
    by_name = {f["name"]: list(c) for f, c in zip(catf, categories)}
    case = {
        "name": name,
        "csv": table,
        "schema": schema_file,
        "balanced": balanced,
        "rows": int(len(df)),
        "positives": int(y.sum()),
        "target": schema["target"],
        "numeric": numeric,
        "categorical": [f["name"] for f in catf],
        "categories_declared": {f["name"]: "categories" in f for f in catf},
        "unknown": {f["name"]: f.get("unknown", "error") for f in catf},
        "categories": by_name,
        "category_counts": {f["name"]: {v: int((df[f["name"]] == v).sum()) for v in c}
                            for f, c in zip(catf, categories)},
        "scaler": {n: {"mean": float(m), "scale": float(s), "var": float(v)}
                   for n, m, s, v in zip(numeric, sc.mean_, sc.scale_, sc.var_)},
        "feature_names_out": ct.get_feature_names_out().tolist(),
        "encoded_columns": names,
        "encoded_columns_schema_order": schema_order_names(schema, by_name),
        "default_tol": default,
        "exact": exact,
        "probabilities": proba.tolist(),
        "metrics": {
            "threshold": 0.5,
            "f1": f1_score(y, pred),
            "precision": precision_score(y, pred, zero_division=0),
            "recall": recall_score(y, pred, zero_division=0),
            "accuracy": accuracy_score(y, pred),
            "roc_auc": roc_auc_score(y, proba),
            "log_loss": log_loss(y, proba),
            "confusion_matrix": confusion_matrix(y, pred, labels=[0, 1]).tolist(),
        },
    }
    if probe:
        # Rows with a category value the model never saw, for "unknown": "ignore"
        # (all-zero one-hot): the first row of the table, and the same row with
        # the feature's value replaced.
        feature, value = probe
        base = X.iloc[[0]].copy()
        unseen = base.copy()
        unseen[feature] = value
        rows = pd.concat([base, unseen], ignore_index=True)
        p = pipe.predict_proba(rows)[:, 1]
        case["probes"] = [
            {"row": {k: (v if isinstance(v, str) else float(v)) for k, v in r.items()},
             "probability": float(pr)}
            for r, pr in zip(rows.to_dict("records"), p)]
    return case


def main():
    write_tables()
    out = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv),
        "python_version": platform.python_version(),
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "pandas_version": pd.__version__,
        "encoded_name": "number/binary feature: its name; category feature: name=value",
        "tables": [table_info(name) for name in TABLES],
        "cases": [run_case(*c) for c in CASES],
    }
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
