#!/usr/bin/python3
"""Tables and golden values for model/gbdt (issue 17).

1. Exports three tables of R's modeldata package (Debian r-cran-modeldata, MIT)
   with Rscript to testdata/tables/<name>/{train,test}.csv plus features.json,
   split 75/25, stratified on the target, seeded (SPLIT_SEED): the split is
   committed, so the Go tests never redo it.
2. For each table, fits with the same hyperparameters as model/gbdt's defaults
     XGBClassifier(tree_method="hist", n_estimators=200, max_depth=6,
                   learning_rate=0.1, reg_lambda=1, min_child_weight=1,
                   max_bin=256, n_jobs=2, random_state=0)
   on the training rows (categories one-hot encoded; a missing category makes
   all its one-hot columns NaN) and a scikit-learn logistic regression
   (numbers: median imputation + StandardScaler; categories: a "missing" level
   + OneHotEncoder(handle_unknown="ignore"); LogisticRegression(max_iter=5000)),
   and records F1 (threshold 0.5) and ROC AUC on the test rows in golden.json.
3. Trains XGBoost (100 trees, depth 6, otherwise as above) on credit_data's
   numeric features (it has missing cells), saves it as xgb_credit.json and
   writes xgb_credit_golden.json: rows of the test split (null = missing),
   predict_proba and pred_contribs for them.

CI never runs this script. It needs Debian's r-base-core, r-cran-modeldata,
python3-xgboost (1.7), python3-sklearn and python3-pandas:

    /usr/bin/python3 testdata/gbdt/make_golden.py
"""
import io
import json
import os
import platform
import subprocess

import numpy as np
import pandas as pd
import sklearn
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
TABLES = os.path.join(HERE, "..", "tables")
SPLIT_SEED = 17

# name -> (target column, positive label)
CASES = {
    "mlc_churn": ("churn", "yes"),
    "attrition": ("Attrition", "Yes"),
    "credit_data": ("Status", "bad"),
}

XGB_PARAMS = dict(tree_method="hist", n_estimators=200, max_depth=6,
                  learning_rate=0.1, reg_lambda=1.0, min_child_weight=1.0,
                  max_bin=256, n_jobs=2, random_state=0)


def export(name):
    """Returns the table as R holds it: the CSV text and each factor's levels."""
    script = f"""
suppressMessages(library(modeldata)); library(jsonlite)
data({name}); d <- {name}
lv <- lapply(d, function(c) if (is.factor(c)) levels(c) else NULL)
write(toJSON(lv[!sapply(lv, is.null)]), stderr())
write.csv(d, stdout(), na="", row.names=FALSE)
"""
    p = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    levels = json.loads(p.stderr.strip().splitlines()[-1])
    return p.stdout, levels


def write_split(name, target, positive):
    text, levels = export(name)
    df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    y = (df[target] == positive).astype(int)
    train, test = train_test_split(df, test_size=0.25, stratify=y, random_state=SPLIT_SEED)
    out = os.path.join(TABLES, name)
    os.makedirs(out, exist_ok=True)
    train.to_csv(os.path.join(out, "train.csv"), index=False)
    test.to_csv(os.path.join(out, "test.csv"), index=False)
    features = []
    for col in df.columns:
        if col == target:
            continue
        if col in levels:
            features.append({"name": col, "type": "category", "levels": levels[col]})
        else:
            features.append({"name": col, "type": "number"})
    meta = {"target": target, "positive": positive, "features": features,
            "rows": {"train": len(train), "test": len(test)},
            "missing_cells": int((df == "").sum().sum())}
    with open(os.path.join(out, "features.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    return meta


def load(name, meta, part):
    df = pd.read_csv(os.path.join(TABLES, name, part + ".csv"), dtype=str, keep_default_na=False)
    y = (df[meta["target"]] == meta["positive"]).astype(int).to_numpy()
    cols = {}
    for f in meta["features"]:
        c = df[f["name"]]
        if f["type"] == "number":
            cols[f["name"]] = pd.to_numeric(c.replace("", np.nan))
        else:
            cols[f["name"]] = c.replace("", np.nan)
    return pd.DataFrame(cols), y


def one_hot(X, meta):
    out = {}
    for f in meta["features"]:
        c = X[f["name"]]
        if f["type"] == "number":
            out[f["name"]] = c.astype(float)
            continue
        miss = c.isna()
        for lv in f["levels"]:
            col = (c == lv).astype(float)
            col[miss] = np.nan
            out[f"{f['name']}={lv}"] = col
    return pd.DataFrame(out)


def scores(y, p):
    return {"f1": float(f1_score(y, (p >= 0.5).astype(int))), "roc_auc": float(roc_auc_score(y, p))}


def golden_table(name, meta):
    Xtr, ytr = load(name, meta, "train")
    Xte, yte = load(name, meta, "test")
    model = xgb.XGBClassifier(**XGB_PARAMS)
    model.fit(one_hot(Xtr, meta), ytr)
    p_xgb = model.predict_proba(one_hot(Xte, meta))[:, 1]
    num = [f["name"] for f in meta["features"] if f["type"] == "number"]
    cat = [f["name"] for f in meta["features"] if f["type"] == "category"]
    pre = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), num),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore"))]), cat),
    ])
    lr = Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=5000))])
    lr.fit(Xtr, ytr)
    p_lr = lr.predict_proba(Xte)[:, 1]
    res = {"xgboost_hist": scores(yte, p_xgb), "logistic": scores(yte, p_lr),
           "train_rows": len(ytr), "test_rows": len(yte), "test_positives": int(yte.sum())}
    res["winner"] = "gbdt" if res["xgboost_hist"]["roc_auc"] > res["logistic"]["roc_auc"] else "logistic"
    return res


def golden_import(meta):
    Xtr, ytr = load("credit_data", meta, "train")
    Xte, _ = load("credit_data", meta, "test")
    num = [f["name"] for f in meta["features"] if f["type"] == "number"]
    params = dict(XGB_PARAMS, n_estimators=100)
    model = xgb.XGBClassifier(**params)
    model.fit(Xtr[num], ytr)
    path = os.path.join(HERE, "xgb_credit.json")
    model.get_booster().save_model(path)
    rows = Xte[num].iloc[:300]
    proba = model.predict_proba(rows)[:, 1]
    contribs = model.get_booster().predict(xgb.DMatrix(rows), pred_contribs=True)
    cells = [[None if np.isnan(v) else float(v) for v in r] for r in rows.to_numpy()]
    return {"model": "xgb_credit.json", "features": num, "params": {k: v for k, v in params.items()},
            "rows": cells, "proba": [float(v) for v in proba],
            "contribs": [[float(v) for v in r] for r in contribs]}


def main():
    golden = {"command": "/usr/bin/python3 testdata/gbdt/make_golden.py",
              "python_version": platform.python_version(), "xgboost_version": xgb.__version__,
              "sklearn_version": sklearn.__version__, "pandas_version": pd.__version__,
              "split_seed": SPLIT_SEED, "xgboost_params": XGB_PARAMS, "tables": {}}
    metas = {}
    for name, (target, positive) in CASES.items():
        metas[name] = write_split(name, target, positive)
        golden["tables"][name] = golden_table(name, metas[name])
        print(name, golden["tables"][name])
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    imp = golden_import(metas["credit_data"])
    imp["xgboost_version"] = xgb.__version__
    with open(os.path.join(HERE, "xgb_credit_golden.json"), "w") as f:
        json.dump(imp, f)
        f.write("\n")


if __name__ == "__main__":
    main()
