#!/usr/bin/python3
"""
prepare.py - the data of the delivered-accuracy benchmark: splits one
mm-datagen sales CSV into what the pipeline and the references are given
and what they are judged against.

    prepare.py --csv full.csv --out DIR --holdout H [--weekly] [--fresh F]

Writes, in the CSV layout of the input (store,item,date,sales,price,promo):
  train.csv    every key's rows before the holdout (or before the fresh rows)
  fresh.csv    --fresh F: the F observed rows after train.csv (scored without
               retraining); absent otherwise
  planned.csv  the rows of the evaluation window plus, with --fresh, of the
               fresh days, with an EMPTY target: planned price and promotion
  truth.csv    the evaluation window with its actual target
  meta.json    sizes, dates, the season length of the frequency

--weekly first turns the daily rows into weeks (Monday to Sunday, the first
week starting on the data's first day): sales summed, price averaged, promo
the share of promotion days. The data is small (a million rows at most):
pandas in one process is enough.
"""
import argparse
import json
import os

import pandas as pd

KEY = ["store", "item"]
DAYS_PER_WEEK = 7
SEASON = {"day": 7, "week": 52}


def to_weekly(df):
    day0 = df["date"].min()
    df = df.assign(week=(df["date"] - day0).dt.days // DAYS_PER_WEEK)
    full_weeks = df.groupby("week")["date"].nunique()
    keep = full_weeks[full_weeks == DAYS_PER_WEEK].index
    df = df[df["week"].isin(keep)]
    agg = df.groupby(KEY + ["week"], sort=False).agg(
        sales=("sales", "sum"), price=("price", "mean"), promo=("promo", "mean")).reset_index()
    agg["date"] = day0 + pd.to_timedelta(agg["week"] * DAYS_PER_WEEK, unit="D")
    agg["price"] = agg["price"].round(2)
    agg["promo"] = agg["promo"].round(3)
    return agg[KEY + ["date", "sales", "price", "promo"]]


def write(df, path, blank_target=False):
    out = df.copy()
    out["date"] = out["date"].dt.strftime("%Y-%m-%d")
    if blank_target:
        out["sales"] = ""
    out.to_csv(path, index=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--holdout", type=int, required=True)
    ap.add_argument("--weekly", action="store_true")
    ap.add_argument("--fresh", type=int, default=0)
    args = ap.parse_args()

    df = pd.read_csv(args.csv, parse_dates=["date"])
    freq = "week" if args.weekly else "day"
    if args.weekly:
        df = to_weekly(df)
    dates = sorted(df["date"].unique())
    n = len(dates)
    h, f = args.holdout, args.fresh
    if n <= h + f + SEASON[freq]:
        raise SystemExit("prepare: %d periods are too few for a %d-period holdout, %d fresh "
                         "periods and a season of history" % (n, h, f))
    train_end = dates[n - h - f - 1]
    eval_start = dates[n - h]
    train = df[df["date"] <= train_end]
    fresh = df[(df["date"] > train_end) & (df["date"] < eval_start)]
    truth = df[df["date"] >= eval_start]
    planned = df[df["date"] > train_end]

    os.makedirs(args.out, exist_ok=True)
    write(train, os.path.join(args.out, "train.csv"))
    write(planned, os.path.join(args.out, "planned.csv"), blank_target=True)
    write(truth, os.path.join(args.out, "truth.csv"))
    if f:
        write(fresh, os.path.join(args.out, "fresh.csv"))
    fmt = "%Y-%m-%d"
    meta = {
        "frequency": freq,
        "season": SEASON[freq],
        "keys": int(df.groupby(KEY).ngroups),
        "periods": n,
        "holdout": h,
        "fresh": f,
        "first_date": pd.Timestamp(dates[0]).strftime(fmt),
        "train_end": pd.Timestamp(train_end).strftime(fmt),
        "first_planned": pd.Timestamp(dates[n - h - f]).strftime(fmt),
        "eval_start": pd.Timestamp(eval_start).strftime(fmt),
        "last_date": pd.Timestamp(dates[-1]).strftime(fmt),
        "rows": {"train": len(train), "fresh": len(fresh), "planned": len(planned),
                 "truth": len(truth)},
    }
    with open(os.path.join(args.out, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=2)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
