#!/usr/bin/env python3
"""trends.py — monthly asylum statistics from an asylink feed, drawn as trends.

Reads the CSV that `asylink subscribe --format csv` prints for the topic
prefix `stats` (asylink.v1.MonthlyStatistics: one row per reporting country,
month and citizenship) and draws, per citizenship over the months:

  * first-instance decisions (all reporting countries together), and
  * the recognition rate: positive decisions (refugee status, subsidiary
    protection, humanitarian status) over all decisions on the merits
    (positive + rejected), the rate EUAA publishes.

Usage:
  asylink subscribe --config analyst.ini --prefix stats --name trends \\
      --start earliest --format csv > stats.csv
  examples/analyst/trends.py stats.csv --out trends.png [--top 6]
  (or read the CSV from standard input: ... --format csv | trends.py - --out trends.png)

Only the standard library and matplotlib (Debian: python3-matplotlib).
Rows of other message types, the TOTAL rows and header lines repeated by the
CLI (one per change of type) are skipped. Exit status 0 when the PNG was
written, 1 when the input holds no statistics, 2 on a usage error.
"""
import argparse
import csv
import sys
from collections import defaultdict

POSITIVE = ("decisions_refugee_status", "decisions_subsidiary_protection", "decisions_humanitarian")
NEEDED = ("reporting_country", "year", "month", "citizenship", "decisions_total", "decisions_rejected")


def read_rows(stream):
    """Yields the citizenship rows of MonthlyStatistics CSV, as dicts."""
    header = None
    for record in csv.reader(stream):
        if not record:
            continue
        if record[0] in ("reporting_country", "topic"):  # a header: one per change of type
            header = record if all(col in record for col in NEEDED) else None
            continue
        if header is None or len(record) != len(header):
            continue  # a row of another type, or a malformed line
        row = dict(zip(header, record))
        if row["citizenship"] not in ("", "TOTAL"):
            yield row


def number(row, key):
    try:
        return int(row.get(key) or 0)
    except ValueError:
        return 0


def aggregate(rows):
    """{citizenship: {(year, month): [decisions, positive, rejected]}} over all reporting countries."""
    table = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    latest = {}
    for row in rows:
        key = (row["reporting_country"], number(row, "year"), number(row, "month"), row["citizenship"])
        latest[key] = row  # a revision replaces an earlier release of the same month
    for (_, year, month, cit), row in latest.items():
        cell = table[cit][(year, month)]
        cell[0] += number(row, "decisions_total")
        cell[1] += sum(number(row, k) for k in POSITIVE)
        cell[2] += number(row, "decisions_rejected")
    return table


def draw(table, out, top):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    months = sorted({m for per in table.values() for m in per})
    ranked = sorted(table, key=lambda c: -sum(v[0] for v in table[c].values()))[:top]
    labels = [f"{y}-{m:02d}" for y, m in months]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    for cit in ranked:
        per = table[cit]
        ax1.plot(labels, [per[m][0] if m in per else None for m in months], marker="o", label=cit)
        rates = []
        for m in months:
            d, pos, rej = per.get(m, (0, 0, 0))
            rates.append(100.0 * pos / (pos + rej) if pos + rej else None)
        ax2.plot(labels, rates, marker="o", label=cit)
    ax1.set_title("First-instance decisions by citizenship (all reporting countries)")
    ax1.set_ylabel("decisions")
    ax1.legend(title="citizenship", ncol=3)
    ax1.grid(alpha=0.3)
    ax2.set_title("Recognition rate: positive / (positive + rejected)")
    ax2.set_ylabel("%")
    ax2.set_ylim(0, 100)
    ax2.grid(alpha=0.3)
    ax2.set_xlabel("month")
    fig.text(0.01, 0.005, "Source: asylink feed 'stats' (MonthlyStatistics). Demo data are not official.",
             fontsize=8, color="#555")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", help="CSV from asylink subscribe --format csv, or - for standard input")
    ap.add_argument("--out", required=True, help="PNG file to write")
    ap.add_argument("--top", type=int, default=6, help="citizenships with the most decisions to draw")
    a = ap.parse_args(argv)
    if a.top < 1:
        ap.error("--top must be at least 1")
    stream = sys.stdin if a.csv == "-" else open(a.csv, newline="", encoding="utf-8")
    with stream:
        table = aggregate(read_rows(stream))
    if not table:
        print("trends.py: no MonthlyStatistics rows in the input", file=sys.stderr)
        return 1
    draw(table, a.out, a.top)
    months = {m for per in table.values() for m in per}
    print(f"trends.py: {len(table)} citizenships, {len(months)} months -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
