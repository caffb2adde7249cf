#!/usr/bin/env python3
"""Quantiles of a Prometheus histogram over the interval between two scrapes,
interpolated linearly within buckets:
    hist_quantiles.py NAME BEFORE_FILE AFTER_FILE Q...
prints "count N, p50 X, p99 Y" (seconds)."""
import re
import sys


def buckets(path, name):
    out = {}
    pattern = re.compile(r'^%s_bucket\{.*le="([^"]+)"\} ([0-9.e+-]+)$' % re.escape(name))
    with open(path) as f:
        for line in f:
            m = pattern.match(line.strip())
            if m:
                le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
                out[le] = out.get(le, 0.0) + float(m.group(2))
    return out


def main():
    name, before, after = sys.argv[1:4]
    qs = [float(q) for q in sys.argv[4:]]
    b, a = buckets(before, name), buckets(after, name)
    les = sorted(a)
    counts = [a[le] - b.get(le, 0.0) for le in les]
    total = counts[-1] if counts else 0
    parts = [f"count {int(total)}"]
    for q in qs:
        if total == 0:
            parts.append(f"p{q * 100:g} n/a")
            continue
        rank, prev_le, prev_c = q * total, 0.0, 0.0
        for le, c in zip(les, counts):
            if c >= rank:
                if le == float("inf"):
                    value = prev_le
                else:
                    frac = (rank - prev_c) / (c - prev_c) if c > prev_c else 1.0
                    value = prev_le + frac * (le - prev_le)
                parts.append(f"p{q * 100:g} {value:.6f}")
                break
            prev_le, prev_c = le, c
    print(", ".join(parts))


if __name__ == "__main__":
    main()
