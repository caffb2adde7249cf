#!/usr/bin/python3
"""
reference.py - the single-node reference for bench_models: statsmodels
ExponentialSmoothing (damped additive trend, additive weekly seasonality)
and per-series XGBoost, on exactly the CSV bench_models reads, with the
same holdout, metrics and time-per-model accounting.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/models/reference.py \
        --csv sales.csv [--holdout 28] [--methods sm_ets,py_xgb] [--limit N]

Run it with Debian's interpreter (python3-statsmodels 0.13.5,
python3-xgboost 1.7.4). One thread everywhere, as the C side.

Forecasts of a series that never went negative are clipped at zero, as
mm_model_forecast does, so the comparison is between the models.
Metrics: RMSE, sMAPE (percent, 0/0 counts as 0), MASE scaled by the
in-sample seasonal-naive MAE (m = 7) of the training part; then the mean
over series.
"""
import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

LAGS = [1, 2, 3, 7, 14, 21, 28]
WINDOWS = [7, 28]


def metrics(actual, pred, insample, m=7):
    e = pred - actual
    rmse = float(np.sqrt(np.mean(e ** 2)))
    den = np.abs(actual) + np.abs(pred)
    smape = float(100 * np.mean(np.where(den > 0, 2 * np.abs(e) / np.where(den > 0, den, 1), 0)))
    mm = m if len(insample) > m else 1
    scale = np.mean(np.abs(insample[mm:] - insample[:-mm]))
    mase = float(np.mean(np.abs(e)) / scale) if scale > 0 else float("nan")
    return rmse, smape, mase


def sm_ets(train, h, **_):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    res = ExponentialSmoothing(train, trend="add", damped_trend=True, seasonal="add",
                               seasonal_periods=7, initialization_method="estimated").fit()
    return np.asarray(res.forecast(h))


def calendar(days):
    """Day-of-week and month dummies, ISO week as sine/cosine: the C layout."""
    d = pd.to_datetime(days, unit="D")
    dow = d.dayofweek.values
    month = d.month.values
    week = d.isocalendar().week.values.astype(float)
    cols = [(dow == k).astype(float) for k in range(1, 7)]
    cols += [(month == k).astype(float) for k in range(2, 13)]
    ang = 2 * np.pi * (week - 1) / 52.1775
    cols += [np.sin(ang), np.cos(ang)]
    return np.column_stack(cols)


def feature_row(y, t, cal_row, exog_row):
    row = [y[t - lag] if lag <= t else np.nan for lag in LAGS]
    for w in WINDOWS:
        seg = y[max(0, t - w):t]
        seg = seg[~np.isnan(seg)]
        row.append(seg.mean() if len(seg) else np.nan)
    return np.concatenate([row, cal_row, exog_row])


def py_xgb(train, h, days, exog, **_):
    import xgboost as xgb
    n = len(train)
    cal = calendar(days)
    start = max(LAGS + WINDOWS)
    X = np.array([feature_row(train, t, cal[t], exog[t]) for t in range(start, n)])
    y = train[start:]
    params = dict(tree_method="hist", nthread=1, seed=0, max_depth=4, eta=0.1, verbosity=0,
                  objective="reg:squarederror", base_score=float(np.float32(y.mean())))
    booster = xgb.train(params, xgb.DMatrix(X.astype(np.float32), label=y, missing=np.nan),
                        num_boost_round=100)
    buf = np.concatenate([train, np.zeros(h)])
    for k in range(h):
        t = n + k
        row = feature_row(buf, t, cal[t], exog[t])
        buf[t] = booster.predict(xgb.DMatrix(row[None, :].astype(np.float32), missing=np.nan))[0]
    return buf[n:]


METHODS = {"sm_ets": sm_ets, "py_xgb": py_xgb}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--holdout", type=int, default=28)
    ap.add_argument("--methods", default="sm_ets,py_xgb")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    df = pd.read_csv(args.csv)
    epoch_days = (pd.to_datetime(df["date"]) - pd.Timestamp("1970-01-01")).dt.days.values
    df["day"] = epoch_days
    groups = [g for _, g in df.groupby(["store", "item"], sort=False)]
    if args.limit:
        groups = groups[: args.limit]
    H = args.holdout
    rows = []
    print("%-10s %8s %10s %10s %10s %10s" % ("algo", "series", "RMSE", "sMAPE", "MASE", "ms/model"))
    for name in args.methods.split(","):
        fn = METHODS[name]
        acc = []
        for g in groups:
            y = g["sales"].values.astype(float)
            n = len(y)
            train, test = y[: n - H], y[n - H:]
            exog = g[["price", "promo"]].values.astype(float)
            t0 = time.perf_counter()
            pred = fn(train, H, days=g["day"].values, exog=exog)
            ms = (time.perf_counter() - t0) * 1000
            if np.all(train >= 0):
                pred = np.maximum(pred, 0)
            r, s, m = metrics(test, pred, train)
            acc.append((r, s, m, ms))
            key = "store=%s/item=%s" % (g["store"].iloc[0], g["item"].iloc[0])
            rows.append("%s,%s,%.6g,%.6g,%.6g,%.4f" % (name, key, r, s, m, ms))
        a = np.array(acc)
        print("%-10s %8d %10.4f %10.4f %10.4f %10.3f" % (name, len(a), a[:, 0].mean(), a[:, 1].mean(),
                                                      np.nanmean(a[:, 2]), a[:, 3].mean()))
        sys.stdout.flush()
    if args.out:
        with open(args.out, "w") as f:
            f.write("algo,key,rmse,smape,mase,ms\n")
            f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
