#!/usr/bin/python3
"""XGBoost's side of model/gbdt's benchmarks (BENCHMARKS.md, "Gradient-boosted trees").

    bench_xgb.py fit CSV        read CSV (number columns, 0/1 target last) with pandas and fit
                                XGBClassifier(tree_method="hist", 200 trees, depth 6, lr 0.1,
                                lambda 1, min_child_weight 1, max_bin 256, n_jobs=2); prints
                                read and fit seconds and the process's peak RSS
    bench_xgb.py contribs N     time Booster.predict(pred_contribs=True) and predict_proba on
                                the first N rows of credit_data's test split (repeated to N)
                                with testdata/gbdt/xgb_credit.json (100 trees, depth 6, nthread 2)

CI never runs this; it needs Debian's python3-xgboost (1.7) and python3-pandas.
"""
import json
import os
import resource
import sys
import time

import numpy as np
import pandas as pd
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def fit(path):
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    t1 = time.perf_counter()
    X, y = df.iloc[:, :-1], df.iloc[:, -1]
    c1 = cpu()
    model = xgb.XGBClassifier(tree_method="hist", n_estimators=200, max_depth=6, learning_rate=0.1,
                              reg_lambda=1.0, min_child_weight=1.0, max_bin=256, n_jobs=2)
    model.fit(X, y)
    t2 = time.perf_counter()
    c2 = cpu()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": len(df), "read_s": round(t1 - t0, 3), "fit_s": round(t2 - t1, 3), "fit_cpu_s": round(c2 - c1, 3),
                      "peak_rss_mb": round(rss, 1)}))


def contribs(n):
    golden = json.load(open(os.path.join(HERE, "xgb_credit_golden.json")))
    rows = np.array([[np.nan if v is None else v for v in r] for r in golden["rows"]], dtype=np.float32)
    rows = np.resize(rows, (n, rows.shape[1]))
    booster = xgb.Booster(model_file=os.path.join(HERE, golden["model"]))
    booster.set_param({"nthread": 2})
    d = xgb.DMatrix(rows, feature_names=golden["features"])
    booster.predict(d, pred_contribs=True)  # warm up
    t0 = time.perf_counter()
    booster.predict(d, pred_contribs=True)
    t1 = time.perf_counter()
    booster.predict(d)
    t2 = time.perf_counter()
    print(json.dumps({"rows": n, "pred_contribs_us_per_row": round((t1 - t0) / n * 1e6, 2),
                      "predict_us_per_row": round((t2 - t1) / n * 1e6, 3)}))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("fit", "contribs"):
        sys.exit(__doc__)
    if sys.argv[1] == "fit":
        fit(sys.argv[2])
    else:
        contribs(int(sys.argv[2]))
