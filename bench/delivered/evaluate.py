#!/usr/bin/python3
"""
evaluate.py - the one evaluation of the delivered-accuracy benchmark: the
forecasts in a prediction sink (SQLite, table `predictions`) and the
reference forecasts (CSV key,date,value) judged by the same code against
the same truth.

    evaluate.py --data DIR [--sink NAME=predictions.db[@RUN_ID]]...
                [--forecasts NAME=file.csv]... [--registry registry.db]
                [--expect-start NAME=YYYY-MM-DD]... [--time NAME=SECONDS]...
                --json out.json --markdown out.md

Per key, over the evaluation window (truth.csv): MASE (scale: the in-sample
seasonal-naive MAE of train.csv, season from meta.json: 7 daily, 52 weekly),
RMSE, sMAPE (percent, 0/0 = 0). A key is answered when every day of the
window has a forecast; a key with some days is partial, one with none
missing: both are counted and reported, and the means are over answered
keys. For a sink, the keys are also split by how they were answered: a
fallback (a sink column whose name contains "fallback" is true, or a newer
column's value starts with "fallback", or the served version's `fallback`
flag in the registry), an approved model (the served version's status in
the registry), and the means over each part are reported. The sink's columns beyond the first schema (lineage added
later) are read when present and their values summarised; none is required.
"""
import argparse
import collections
import datetime
import json
import os
import re
import sqlite3

import numpy as np
import pandas as pd

KEY = ["store", "item"]
SINK_V1_COLUMNS = {"partition_key", "target_time_ms", "value", "lower", "upper",
                   "model_version", "train_id", "algorithm", "data_watermark_ms", "load_id",
                   "request_id", "produced_at_ms"}
MS_PER_DAY = 86400000
TOP_VALUES = 5


def metrics(actual, pred, scale):
    e = pred - actual
    rmse = float(np.sqrt(np.mean(e ** 2)))
    den = np.abs(actual) + np.abs(pred)
    smape = float(100 * np.mean(np.where(den > 0, 2 * np.abs(e) / np.where(den > 0, den, 1), 0)))
    mase = float(np.mean(np.abs(e)) / scale) if scale > 0 else float("nan")
    return mase, rmse, smape


def load_truth(data_dir, season):
    train = pd.read_csv(os.path.join(data_dir, "train.csv"))
    truth = pd.read_csv(os.path.join(data_dir, "truth.csv"))
    scales = {}
    for k, g in train.groupby(KEY, sort=False):
        y = g.sort_values("date")["sales"].values.astype(float)
        m = season if len(y) > season else 1
        d = np.abs(y[m:] - y[:-m])
        scales["store=%s/item=%s" % k] = float(np.nanmean(d)) if len(d) else float("nan")
    actual = {}
    for k, g in truth.groupby(KEY, sort=False):
        g = g.sort_values("date")
        actual["store=%s/item=%s" % k] = (list(g["date"]), g["sales"].values.astype(float))
    return scales, actual


def reason_shape(reason):
    """A reason with its numbers masked, so that reasons can be counted by kind."""
    return re.sub(r"\d+(\.\d+)?", "#", str(reason))


def truthy(v):
    if v is None:
        return False
    if isinstance(v, (int, float)):
        return v != 0
    return str(v).strip().lower() not in ("", "0", "false", "no", "none", "null")


def read_sink(path, run_id):
    """key -> {date: value}, key -> info (version, fallback flag, extra columns)."""
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    cols = [r[1] for r in con.execute("PRAGMA table_info(predictions)")]
    if not cols:
        raise SystemExit("evaluate: %s has no predictions table" % path)
    where, params = "", ()
    if run_id and "request_id" in cols:
        n = con.execute("SELECT count(*) FROM predictions WHERE request_id = ?",
                        (run_id,)).fetchone()[0]
        if n:
            where, params = " WHERE request_id = ?", (run_id,)
    rows = con.execute("SELECT %s FROM predictions%s" % (", ".join('"%s"' % c for c in cols),
                                                         where), params).fetchall()
    no_model = {}
    if con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'no_model'").fetchone()[0]:
        no_model = dict(con.execute("SELECT partition_key, reason FROM no_model").fetchall())
    con.close()
    extra = [c for c in cols if c not in SINK_V1_COLUMNS]
    fallback_cols = [c for c in cols if "fallback" in c.lower()]
    fc = collections.defaultdict(dict)
    info = {}
    extra_values = {c: collections.Counter() for c in extra}
    for r in rows:
        rec = dict(zip(cols, r))
        key = rec["partition_key"]
        day = datetime.datetime.fromtimestamp(rec["target_time_ms"] // 1000,
                                              datetime.timezone.utc).strftime("%Y-%m-%d")
        fc[key][day] = rec["value"]
        fb = any(truthy(rec[c]) for c in fallback_cols) or \
            any(str(rec[c]).lower().startswith("fallback") for c in extra)
        i = info.setdefault(key, {"version": rec.get("model_version"),
                                  "algorithm": rec.get("algorithm"), "fallback": False})
        i["fallback"] = i["fallback"] or fb
        for c in extra:
            extra_values[c][str(rec[c])] += 1
    summary = {c: dict(v.most_common(TOP_VALUES)) for c, v in extra_values.items()}
    return fc, info, no_model, {"rows": len(rows), "columns": cols, "extra_columns": summary,
                                "fallback_columns": fallback_cols,
                                "filtered_by_run_id": bool(where)}


def registry_status(path):
    """(key, version) -> (status, fallback) from the registry, if readable."""
    if not path or not os.path.exists(path):
        return {}
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        rows = con.execute("SELECT partition_key, version, status, fallback FROM versions")
        return {(k, v): (s, bool(f)) for k, v, s, f in rows}
    except sqlite3.Error:
        return {}
    finally:
        con.close()


def read_csv_forecasts(path):
    df = pd.read_csv(path)
    fc = collections.defaultdict(dict)
    for key, day, value in zip(df["key"], df["date"], df["value"]):
        fc[key][day] = value
    return fc


def judge(fc, scales, actual):
    per_key, partial, missing = {}, [], []
    for key, (days, y) in actual.items():
        got = fc.get(key, {})
        have = [d for d in days if d in got and got[d] is not None and not pd.isna(got[d])]
        if len(have) == len(days):
            pred = np.array([got[d] for d in days], dtype=float)
            per_key[key] = metrics(y, pred, scales.get(key, float("nan")))
        elif have:
            partial.append(key)
        else:
            missing.append(key)
    return per_key, partial, missing


def mean_over(per_key, keys):
    a = np.array([per_key[k] for k in keys if k in per_key])
    if not len(a):
        return {"keys": 0, "mase": None, "rmse": None, "smape": None}
    return {"keys": int(len(a)), "mase": float(np.nanmean(a[:, 0])),
            "rmse": float(a[:, 1].mean()), "smape": float(a[:, 2].mean())}


def first_dates(fc):
    return collections.Counter(min(days) for days in fc.values() if days)


def pairs(values):
    out = {}
    for v in values or []:
        name, _, rest = v.partition("=")
        out[name] = rest
    return out


def fmt(x, digits=4):
    return "n/a" if x is None else ("%.*f" % (digits, x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--sink", action="append")
    ap.add_argument("--forecasts", action="append")
    ap.add_argument("--registry")
    ap.add_argument("--expect-start", action="append")
    ap.add_argument("--time", action="append")
    ap.add_argument("--json", required=True)
    ap.add_argument("--markdown", required=True)
    args = ap.parse_args()
    with open(os.path.join(args.data, "meta.json")) as fh:
        meta = json.load(fh)
    scales, actual = load_truth(args.data, meta["season"])
    all_keys = sorted(actual)
    times = pairs(args.time)
    expect = pairs(args.expect_start)
    status = registry_status(args.registry)
    results = {"meta": meta, "entries": []}

    for name, spec in pairs(args.sink).items():
        path, _, run_id = spec.partition("@")
        fc, info, no_model, sink_meta = read_sink(path, run_id)
        per_key, partial, missing = judge(fc, scales, actual)
        fallback = [k for k in per_key
                    if info[k]["fallback"] or status.get((k, info[k]["version"]), ("", False))[1]]
        approved = [k for k in per_key if k not in fallback and
                    (not status or status.get((k, info[k]["version"]), ("",))[0] == "approved")]
        other = [k for k in per_key if k not in fallback and k not in approved]
        starts = first_dates(fc)
        entry = {"name": name, "kind": "sink", "all": mean_over(per_key, all_keys),
                 "approved_only": mean_over(per_key, approved),
                 "fallback_only": mean_over(per_key, fallback),
                 "fallback_share": len(fallback) / len(all_keys) if all_keys else None,
                 "neither_approved_nor_fallback": len(other),
                 "partial": len(partial), "missing": len(missing),
                 "no_model": len(no_model),
                 "no_model_reasons": dict(collections.Counter(
                     reason_shape(r) for r in no_model.values()).most_common(TOP_VALUES)),
                 "algorithms": dict(collections.Counter(
                     str(info[k]["algorithm"]) for k in per_key).most_common()),
                 "first_forecast_dates": dict(sorted(starts.items())),
                 "sink": sink_meta, "seconds": float(times[name]) if name in times else None,
                 "per_key": per_key}
        if name in expect:
            entry["expected_start"] = expect[name]
            entry["keys_starting_as_expected"] = starts.get(expect[name], 0)
        results["entries"].append(entry)

    for name, path in pairs(args.forecasts).items():
        per_key, partial, missing = judge(read_csv_forecasts(path), scales, actual)
        results["entries"].append({"name": name, "kind": "reference",
                                   "all": mean_over(per_key, all_keys),
                                   "partial": len(partial), "missing": len(missing),
                                   "seconds": float(times[name]) if name in times else None,
                                   "per_key": per_key})

    answered_by_all = set(all_keys)
    for e in results["entries"]:
        if e["per_key"]:  # an entry that answered nothing is reported, not intersected
            answered_by_all &= set(e["per_key"])
    lines = ["| forecasts | keys answered (of %d) | MASE | RMSE | sMAPE | seconds |" % len(all_keys),
             "|---|---:|---:|---:|---:|---:|"]
    for e in results["entries"]:
        a = e["all"]
        lines.append("| %s | %d | %s | %s | %s | %s |" % (
            e["name"], a["keys"], fmt(a["mase"]), fmt(a["rmse"]), fmt(a["smape"], 2),
            fmt(e["seconds"], 1)))
        if e["kind"] == "sink":
            for label, part in (("approved only", "approved_only"), ("fallback only",
                                                                    "fallback_only")):
                p = e[part]
                lines.append("| %s, %s | %d | %s | %s | %s | |" % (
                    e["name"], label, p["keys"], fmt(p["mase"]), fmt(p["rmse"]),
                    fmt(p["smape"], 2)))
    if 0 < len(answered_by_all) < len(all_keys):
        lines += ["", "On the %d keys every entry answered:" % len(answered_by_all), "",
                  "| forecasts | MASE | RMSE | sMAPE |", "|---|---:|---:|---:|"]
        for e in results["entries"]:
            c = mean_over(e["per_key"], answered_by_all)
            lines.append("| %s | %s | %s | %s |" % (e["name"], fmt(c["mase"]), fmt(c["rmse"]),
                                                     fmt(c["smape"], 2)))
    lines.append("")
    for e in results["entries"]:
        if e["kind"] != "sink":
            continue
        lines.append("- %s: fallback share %s (%d keys answered by neither an approved model nor "
                     "a fallback); partial %d, missing %d, no-model %d %s; "
                     "algorithms %s; first forecast dates %s%s; lineage columns %s" % (
                         e["name"], fmt(e["fallback_share"], 3),
                         e["neither_approved_nor_fallback"], e["partial"], e["missing"],
                         e["no_model"], json.dumps(e["no_model_reasons"]),
                         json.dumps(e["algorithms"]), json.dumps(e["first_forecast_dates"]),
                         ("; expected start %s: %d keys" % (e["expected_start"],
                                                            e["keys_starting_as_expected"])
                          if "expected_start" in e else ""),
                         json.dumps(e["sink"]["extra_columns"]) or "none"))
    for e in results["entries"]:
        if e["missing"] or e["partial"]:
            lines.append("- %s: %d keys missing, %d partial (not in its means)" % (
                e["name"], e["missing"], e["partial"]))
    md = "\n".join(lines) + "\n"
    with open(args.markdown, "w") as fh:
        fh.write(md)
    with open(args.json, "w") as fh:
        json.dump(results, fh, indent=1, default=str)
    print(md)


if __name__ == "__main__":
    main()
