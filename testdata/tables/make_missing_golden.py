#!/usr/bin/python3
"""Golden values for TestMissingParity: logistic regression on a table with
missing cells, as scikit-learn computes it.

credit_data/train.csv (455 empty cells in 6 columns, see credit_data/README.md)
under credit_data_missing.schema.json, fitted by

    Pipeline(ColumnTransformer([
        numbers:    SimpleImputer(strategy="median") + StandardScaler(),
        categories: SimpleImputer(strategy="constant", fill_value="NA") + OneHotEncoder(),
    ]), LogisticRegression(solver="newton-cholesky", tol=1e-12))

on every training row: the exact optimum of the objective mlservice solves.
It writes missing_golden.json: each number's median, the scaler, the
coefficients by encoded column (mlservice's names: Income, Home=owner,
Home=NA), the intercept, and predict_proba on every row of credit_data/test.csv.

CI never runs this script; it needs Debian's python3-sklearn:

    apt-get install -y python3-sklearn python3-pandas
    /usr/bin/python3 testdata/tables/make_missing_golden.py
"""
import json
import os

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
schema = json.load(open(os.path.join(HERE, "credit_data_missing.schema.json")))
target = schema["target"]
nums = [f["name"] for f in schema["features"] if f["type"] != "category"]
cats = [f["name"] for f in schema["features"] if f["type"] == "category"]


def read(split):
    t = pd.read_csv(os.path.join(HERE, "credit_data", split + ".csv"), keep_default_na=False,
                    na_values=[""], dtype={c: str for c in cats})
    y = (t[target["column"]] == target["positive"]).astype(int).to_numpy()
    return t, y


train, y = read("train")
test, _ = read("test")
pre = ColumnTransformer([
    ("num", Pipeline([("imp", SimpleImputer(strategy="median")), ("sc", StandardScaler())]), nums),
    ("cat", Pipeline([("imp", SimpleImputer(strategy="constant", fill_value="NA")),
                      ("oh", OneHotEncoder(handle_unknown="error"))]), cats),
])
model = Pipeline([("pre", pre), ("lr", LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=1000))])
model.fit(train, y)

num_pipe = model.named_steps["pre"].named_transformers_["num"]
onehot = model.named_steps["pre"].named_transformers_["cat"].named_steps["oh"]
names = list(nums)
for name, levels in zip(cats, onehot.categories_):
    names += [name + "=" + str(level) for level in levels]
coef = model.named_steps["lr"].coef_[0]
out = {
    "sklearn_version": sklearn.__version__,
    "schema": "credit_data_missing.schema.json",
    "train": "credit_data/train.csv",
    "test": "credit_data/test.csv",
    "rows": int(len(train)),
    "missing_cells": int(train[nums + cats].isna().sum().sum()),
    "median": {n: float(v) for n, v in zip(nums, num_pipe.named_steps["imp"].statistics_)},
    "mean": {n: float(v) for n, v in zip(nums, num_pipe.named_steps["sc"].mean_)},
    "scale": {n: float(v) for n, v in zip(nums, num_pipe.named_steps["sc"].scale_)},
    "coef": {n: float(c) for n, c in zip(names, coef)},
    "intercept": float(model.named_steps["lr"].intercept_[0]),
    "test_probabilities": [float(p) for p in model.predict_proba(test)[:, 1]],
}
with open(os.path.join(HERE, "missing_golden.json"), "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("wrote missing_golden.json:", len(names), "columns,", out["missing_cells"], "missing cells")
