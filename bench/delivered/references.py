#!/usr/bin/python3
"""
references.py - the reference forecasts of the delivered-accuracy benchmark:
what a user would script instead of the pipeline, on the very files the
pipeline is given (prepare.py's train.csv and planned.csv).

    references.py --data DIR --method snaive|ets|xgb|autoets [--workers 2]
                  [--sample N] --out FILE

  snaive  seasonal naive: the last season repeated
  ets     statsmodels ExponentialSmoothing per series, damped additive trend
          and additive season (the frequency's season length); a series
          shorter than two seasons gets the damped trend alone (counted)
  xgb     per-series XGBoost with the lags, rolling means, calendar and
          exogenous features of bench/models/reference.py, GIVEN the planned
          price and promotion of every forecast step (planned.csv)
  autoets statsforecast's AutoETS (season length of the frequency) over all
          series at once with n_jobs=--workers; needs the statsforecast
          package from PyPI (bench/seed/setup.sh makes a virtual environment
          with it: run this script with that environment's python)

--sample N forecasts only every k-th series (k = series // N), for methods
too slow for every series: the JSON line then gives the series fitted and
the series in the data, so the wall time can be extrapolated (and is said to
be).

Forecasts of a series that never went negative are clipped at zero, as the
model library does. Writes key,date,value (key = the partition key,
store=S/item=I) and prints one JSON line with the wall time end to end
(reading, fitting, writing) and the worker count. Workload: up to a few
thousand series of a few hundred points; a process pool of --workers, one
BLAS / XGBoost thread each.
"""
import argparse
import json
import os
import sys
import time
import warnings

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
warnings.filterwarnings("ignore")

KEY = ["store", "item"]
CHUNK_SERIES = 8  # series per task handed to a worker


def snaive(y, h, season, **_):
    m = season if len(y) >= season else 1
    last = y[-m:]
    return np.array([last[k % m] for k in range(h)])


def ets(y, h, season, **_):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    seasonal = len(y) >= 2 * season
    model = ExponentialSmoothing(y, trend="add", damped_trend=True,
                                 seasonal="add" if seasonal else None,
                                 seasonal_periods=season if seasonal else None,
                                 initialization_method="estimated")
    return np.asarray(model.fit().forecast(h)), (0 if seasonal else 1)


def xgb(y, h, days, exog, **_):
    from reference import py_xgb  # bench/models: the feature layout of the C model
    return py_xgb(y, h, days=days, exog=exog)


METHODS = {"snaive": snaive, "ets": ets, "xgb": xgb}


def autoets_all(series, season, workers):
    """One StatsForecast call over every series; integer time (frequency-free),
    mapped back to each series' planned dates."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS
    frames = [pd.DataFrame({"unique_id": key, "ds": np.arange(len(y)), "y": y})
              for key, y, _h, _days, _exog, _dates in series]
    df = pd.concat(frames, ignore_index=True)
    h = max(s[2] for s in series)
    sf = StatsForecast(models=[AutoETS(season_length=season)], freq=1, n_jobs=workers)
    fc = sf.forecast(df=df, h=h)
    if "unique_id" not in fc.columns:
        fc = fc.reset_index()
    by_key = {k: g.sort_values("ds")["AutoETS"].values for k, g in fc.groupby("unique_id", sort=False)}
    out = []
    for key, y, hk, _days, _exog, dates in series:
        pred = np.asarray(by_key[key][:hk], dtype=float)
        if np.all(y[~np.isnan(y)] >= 0):
            pred = np.maximum(pred, 0)
        out.append((key, dates, pred, 0))
    return out


def forecast_chunk(task):
    method, season, series = task
    fn = METHODS[method]
    out = []
    for key, y, h, days, exog, dates in series:
        res = fn(y, h, season=season, days=days, exog=exog)
        short = 0
        if isinstance(res, tuple):
            res, short = res
        pred = np.asarray(res, dtype=float)
        if np.all(y[~np.isnan(y)] >= 0):
            pred = np.maximum(pred, 0)
        out.append((key, dates, pred, short))
    return out


def load_series(data_dir):
    train = pd.read_csv(os.path.join(data_dir, "train.csv"), parse_dates=["date"])
    planned = pd.read_csv(os.path.join(data_dir, "planned.csv"), parse_dates=["date"])
    planned_by_key = {k: g for k, g in planned.groupby(KEY, sort=False)}
    series = []
    for k, g in train.groupby(KEY, sort=False):
        g = g.sort_values("date")
        p = planned_by_key.get(k)
        if p is None:
            continue
        p = p.sort_values("date")
        both = pd.concat([g, p])
        days = ((both["date"] - pd.Timestamp("1970-01-01")).dt.days).values
        exog = both[["price", "promo"]].values.astype(float)
        key = "store=%s/item=%s" % k
        series.append((key, g["sales"].values.astype(float), len(p), days, exog,
                       p["date"].dt.strftime("%Y-%m-%d").values))
    return series


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--method", required=True, choices=sorted(METHODS) + ["autoets"])
    ap.add_argument("--sample", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(os.path.join(args.data, "meta.json")) as fh:
        season = json.load(fh)["season"]

    t0 = time.perf_counter()
    series = load_series(args.data)
    in_data = len(series)
    if args.sample and args.sample < len(series):
        step = len(series) // args.sample
        series = series[::step][:args.sample]
    if args.method == "autoets":
        results = [autoets_all(series, season, args.workers)]
    else:
        tasks = [(args.method, season, series[i:i + CHUNK_SERIES])
                 for i in range(0, len(series), CHUNK_SERIES)]
        if args.workers > 1:
            import multiprocessing as mp
            with mp.get_context("fork").Pool(args.workers) as pool:
                results = pool.map(forecast_chunk, tasks, chunksize=1)
        else:
            results = [forecast_chunk(t) for t in tasks]
    short = 0
    with open(args.out, "w") as fh:
        fh.write("key,date,value\n")
        for chunk in results:
            for key, dates, pred, s in chunk:
                short += s
                for d, v in zip(dates, pred):
                    fh.write("%s,%s,%.6g\n" % (key, d, v))
    seconds = time.perf_counter() - t0
    print(json.dumps({"method": args.method, "series": len(series), "series_in_data": in_data,
                      "workers": args.workers,
                      "seconds": round(seconds, 3), "nonseasonal_series": short}))


if __name__ == "__main__":
    main()
