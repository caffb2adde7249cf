#!/usr/bin/python3
"""
summarise.py - the per-stage table of a bench/delivered/run.sh (or
bench/seed/run.sh) run, from the files it leaves in its output directory:

  marks.tsv         stage boundaries (name, epoch seconds)
  samples.tsv       one line a second: CPU jiffies (busy, total, niced), RSS per
                    long-running service, the trainer's and promoter's counters
  peak-rss-kib.tsv  each long-running service's VmHWM when it was stopped
  logs/rss-*.txt    peak RSS (KiB) of the one-shot mm-ingest / mm-scorer runs
  disk-kib.tsv      du -sk of the state (trainer store, registry, sinks, blobs)

    summarise.py --out DIR --cores N

Stages: ingest (mm-ingest start to exit), store (ingest start until the
trainer's rows-consumed counter reaches its final value), train+promote
(ingest end until every key is decided), score (the batch run). "Busy cores"
is the machine's busy CPU time at normal priority over the stage divided by
its wall time (all such processes, so other load on the machine shows);
work at a lower priority (nice > 0: other jobs sharing the machine) is
shown apart, as the cores it took. The timeline gives busy cores per slice
of the run, to show when both cores work.
"""
import argparse
import csv
import glob
import os


def read_marks(path):
    marks = {}
    with open(path) as fh:
        for line in fh:
            name, t = line.split()
            marks[name] = float(t)
    return marks


def read_samples(path):
    rows = []
    with open(path) as fh:
        r = csv.DictReader(fh, delimiter="\t")
        for row in r:
            try:
                row["time"] = float(row["time"])
                row["busy"] = int(row["busy"])
                row["total"] = int(row["total"])
                row["niced"] = int(row["niced"]) if row.get("niced") else 0
            except (TypeError, ValueError):
                continue
            for k in ("trainer_rows", "trainer_trained", "trainer_queue", "promoter_pending"):
                try:
                    row[k] = float(row[k]) if row.get(k) else None
                except ValueError:
                    row[k] = None
            rows.append(row)
    return rows


def nearest(samples, t):
    return min(samples, key=lambda s: abs(s["time"] - t))


def busy_cores(samples, t0, t1, cores, column="busy"):
    a, b = nearest(samples, t0), nearest(samples, t1)
    dt = b["total"] - a["total"]
    return cores * (b[column] - a[column]) / dt if dt > 0 else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--cores", type=int, required=True)
    args = ap.parse_args()
    marks = read_marks(os.path.join(args.out, "marks.tsv"))
    samples = read_samples(os.path.join(args.out, "samples.tsv"))
    if len(samples) < 2:
        raise SystemExit("summarise: fewer than two samples")

    stages = []
    if "ingest_start" in marks and "ingest_end" in marks:
        stages.append(("ingest (CSV -> Kafka)", marks["ingest_start"], marks["ingest_end"]))
        rows = [s for s in samples if s["trainer_rows"] is not None]
        if rows:
            final = max(s["trainer_rows"] for s in rows)
            done = next(s["time"] for s in rows if s["trainer_rows"] >= final)
            stages.append(("store (Kafka -> trainer state, %d rows)" % final, marks["ingest_start"], done))
    if "ingest_end" in marks and "decided" in marks:
        trained = [s for s in samples if s["trainer_trained"]]
        if trained:
            last = trained[0]
            for s in trained:
                if s["trainer_trained"] != last["trainer_trained"]:
                    last = s
            stages.append(("train (first to last model, %d models)" % last["trainer_trained"],
                           trained[0]["time"], last["time"]))
        stages.append(("train + promote (ingest end -> every key decided)", marks["ingest_end"], marks["decided"]))
    if "score_start" in marks and "score_end" in marks:
        stages.append(("batch score", marks["score_start"], marks["score_end"]))
    if "ingest_start" in marks and "score_end" in marks:
        stages.append(("total (ingest start -> sink written)", marks["ingest_start"], marks["score_end"]))

    print("| stage | wall s | busy cores (of %d) | cores taken by niced work |" % args.cores)
    print("|---|---:|---:|---:|")
    for name, t0, t1 in stages:
        bc = busy_cores(samples, t0, t1, args.cores)
        nc = busy_cores(samples, t0, t1, args.cores, "niced")
        print("| %s | %.1f | %s | %s |" % (name, t1 - t0, "%.2f" % bc if bc == bc else "n/a (< 1 sample)",
                                           "%.2f" % nc if nc == nc else "n/a"))

    # Timeline: busy cores per slice (at most 20 slices of the sampled run).
    t0, t1 = samples[0]["time"], samples[-1]["time"]
    n = min(20, max(1, int(t1 - t0)))
    step = (t1 - t0) / n
    cells = []
    for i in range(n):
        a, b = t0 + i * step, t0 + (i + 1) * step
        bc = busy_cores(samples, a, b, args.cores)
        cells.append("%.1f" % bc if bc == bc else "-")
    print()
    print("Busy cores over the run, %d slices of %.0f s each: %s" % (n, step, " ".join(cells)))

    peaks = []
    path = os.path.join(args.out, "peak-rss-kib.tsv")
    if os.path.exists(path):
        with open(path) as fh:
            for line in fh:
                name, kib = line.split()
                peaks.append((name, int(kib)))
    for path in sorted(glob.glob(os.path.join(args.out, "logs", "rss-*.txt"))):
        with open(path) as fh:
            vals = [int(x) for x in fh.read().split() if x.isdigit()]
        if vals:
            peaks.append((os.path.basename(path)[4:-4], vals[-1]))
    if peaks:
        print()
        print("Peak RSS (MiB): " + ", ".join("%s %.0f" % (n, k / 1024) for n, k in peaks))
    path = os.path.join(args.out, "disk-kib.tsv")
    if os.path.exists(path):
        with open(path) as fh:
            disk = [line.split("\t") for line in fh.read().splitlines() if line]
        print()
        print("State on disk (MiB): " + ", ".join(
            "%s %.0f" % (os.path.relpath(p.strip(), args.out), int(k) / 1024) for k, p in disk))


if __name__ == "__main__":
    main()
