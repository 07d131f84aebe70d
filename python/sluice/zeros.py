"""ReLU zeros: how many of each ReLU's outputs are exactly zero, per input
and per unit, and what skipping them saves (docs/analysis.md).

The counts come from the model itself: a model compiled with
`sluicec -fzero-stats` counts every ReLU as it runs (per input in the
ledger, per unit in the model), so what is counted is what ran: a ReLU
behind an exit an input took, or in an expert it was not routed to, does
not count for that input.

    python3 -m sluice zeros digits_ee.slu test_x.npy --out zeros
    python3 -m sluice zeros libdigits_ee.so test_x.npy   (built with -fzero-stats)

Per ReLU: the inputs that ran it; the fraction of its outputs that were
zero, over all of them and per input (mean, percentiles, a histogram);
per unit, how often it was zero: units zero on every row that ran them
(dead), units zero on 99% or more, units never zero; and the FLOPs of the
dense layers reading it that a kernel skipping zero inputs saves (2 per
zero and output), against the FLOPs the inputs executed.
"""
import argparse
import csv
import json
import os
import tempfile

import numpy as np

from . import _svg
from ._compile import compile as _compile
from ._model import Error, load

HIST_BINS = 20


def _percentile(v, q):
    return float(np.percentile(v, q)) if len(v) else None


def zeros(model, x, lengths=None):
    """Run x through a -fzero-stats model and summarise its ReLUs' zeros;
    a dict (JSON-ready) with one entry per ReLU in run order."""
    info = model.info
    if not info.relus:
        raise Error("model '%s' counts no ReLU zeros: compile it with 'sluicec -fzero-stats "
                    "--emit=shared' (a model without ReLUs has none to count)" % info.name)
    model.reset_zero_counts()
    _, led = model.run(x, lengths=lengths)
    units = model.zero_counts()
    executed = float(led.flops.sum())
    relus = []
    for r in info.relus:
        z = led.zeros[r.name].astype(np.int64)
        ran = z[:, 1] > 0
        frac = z[ran, 0] / z[ran, 1]
        u, rows = units[r.name]
        rate = u / rows if rows else np.full(len(u), np.nan)
        skippable = 2.0 * float(z[:, 0].sum()) * r.dense_out
        hist, edges = np.histogram(frac, bins=HIST_BINS, range=(0.0, 1.0))
        relus.append({
            "name": r.name, "line": r.line, "col": r.col, "units": r.width,
            "inputs_run": int(ran.sum()), "rows_run": int(rows),
            "zeros": int(z[:, 0].sum()), "elements": int(z[:, 1].sum()),
            "zero_fraction": float(z[:, 0].sum() / z[:, 1].sum()) if z[:, 1].sum() else None,
            "per_input": {"mean": float(frac.mean()) if len(frac) else None,
                          "p10": _percentile(frac, 10), "p50": _percentile(frac, 50),
                          "p90": _percentile(frac, 90),
                          "min": float(frac.min()) if len(frac) else None,
                          "max": float(frac.max()) if len(frac) else None},
            "histogram": {"edges": edges.tolist(), "counts": hist.tolist()},
            "unit_zero_rate": [None if v != v else float(v) for v in rate.tolist()],
            "dead_units": int((u == rows).sum()) if rows else 0,
            "units_zero_99": int((rate >= 0.99).sum()) if rows else 0,
            "units_never_zero": int((u == 0).sum()) if rows else 0,
            "dense_out": r.dense_out, "kernel_skips_zeros": r.zero_skip,
            "skippable_flops": skippable,
            "skippable_of_executed": skippable / executed if executed else 0.0,
        })
    return {"model": info.name, "inputs": len(led), "executed_flops": executed,
            "mean_flops": executed / len(led) if len(led) else 0.0,
            "per_input_fraction": {r["name"]: led.zero_fraction(r["name"]) for r in relus},
            "relus": relus}


# ---- output -----------------------------------------------------------------------

def write_json(result, path):
    out = {k: v for k, v in result.items() if k != "per_input_fraction"}
    out["per_input_fraction"] = {k: [None if f != f else float(f) for f in v.tolist()]
                                 for k, v in result["per_input_fraction"].items()}
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


CSV_COLUMNS = ["name", "units", "inputs_run", "zero_fraction", "mean", "p10", "p50", "p90",
               "dead_units", "units_zero_99", "units_never_zero", "dense_out",
               "kernel_skips_zeros", "skippable_flops", "skippable_of_executed"]


def write_csv(result, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in result["relus"]:
            p = r["per_input"]
            w.writerow([r["name"], r["units"], r["inputs_run"], r["zero_fraction"], p["mean"],
                        p["p10"], p["p50"], p["p90"], r["dead_units"], r["units_zero_99"],
                        r["units_never_zero"], r["dense_out"], int(r["kernel_skips_zeros"]),
                        "%.0f" % r["skippable_flops"], r["skippable_of_executed"]])


MAX_PLOTTED = 12


def write_svg(result, path):
    """Per ReLU (the first MAX_PLOTTED that ran), a row: the histogram of
    its zero fraction over the inputs that ran it, and its units' zero
    rates, sorted, with the dead units (rate 1) marked."""
    _, plt = _svg.pyplot()
    relus = [r for r in result["relus"] if r["inputs_run"]][:MAX_PLOTTED]
    if not relus:
        raise Error("no input ran any ReLU: nothing to plot")
    fig, axes = plt.subplots(len(relus), 2, figsize=(8, 1.9 * len(relus) + 0.6),
                             squeeze=False)
    for k, r in enumerate(relus):
        a, b = axes[k]
        frac = result["per_input_fraction"][r["name"]]
        frac = frac[~np.isnan(frac)]
        a.hist(frac, bins=HIST_BINS, range=(0, 1), color="#457b9d")
        a.axvline(r["per_input"]["mean"], color="#d1495b", lw=1.2,
                  label="mean %.1f%%" % (100 * r["per_input"]["mean"]))
        a.set_ylabel("%s\ninputs (%d)" % (r["name"], r["inputs_run"]), fontsize=8)
        a.legend(fontsize=7, loc="upper right")
        rate = np.array([np.nan if v is None else v for v in r["unit_zero_rate"]])
        rate = np.sort(rate[~np.isnan(rate)])[::-1]
        # one stepped outline, not a bar per unit: a small file for wide layers
        xs = np.arange(len(rate) + 1)
        b.fill_between(xs, np.append(rate, rate[-1:]), step="post", color="#9aa5b1", lw=0)
        dead = int((rate >= 1.0).sum())
        if dead:
            b.axvspan(0, dead, color="#d1495b", alpha=0.35, lw=0,
                      label="dead: %d of %d" % (dead, len(rate)))
            b.legend(fontsize=7, loc="upper right")
        b.set_xlim(0, len(rate))
        b.set_ylim(0, 1.05)
        b.set_ylabel("zero rate", fontsize=8)
        for ax in (a, b):
            ax.tick_params(labelsize=7)
            ax.grid(True, lw=0.4, alpha=0.5)
    axes[-1][0].set_xlabel("fraction of the ReLU's outputs exactly zero, per input", fontsize=8)
    axes[-1][1].set_xlabel("units, by how often they are zero", fontsize=8)
    fig.suptitle("%s: ReLU zeros over %d inputs" % (result["model"], result["inputs"]),
                 fontsize=10)
    fig.tight_layout()
    _svg.save(fig, path)


def write(result, out):
    return _svg.write_files(result, out, "zeros", write_json, write_csv, write_svg)


def _pct(v):
    return "-" if v is None else "%.1f%%" % (100 * v)


def format_table(result):
    w = max([len("relu")] + [len(r["name"]) for r in result["relus"]])
    lines = ["%-*s %6s %7s %8s %6s %6s %6s %5s %5s %12s" % (
        w, "relu", "units", "inputs", "zero", "p10", "p50", "p90", "dead", ">=99%",
        "skippable")]
    pct = _pct
    for r in result["relus"]:
        p = r["per_input"]
        lines.append("%-*s %6d %7d %8s %6s %6s %6s %5d %5d %11s%s" % (
            w, r["name"], r["units"], r["inputs_run"], pct(r["zero_fraction"]), pct(p["p10"]),
            pct(p["p50"]), pct(p["p90"]), r["dead_units"], r["units_zero_99"],
            pct(r["skippable_of_executed"]), "*" if r["kernel_skips_zeros"] else " "))
    lines.append("skippable: FLOPs of the dense layers reading a ReLU that skipping its zero "
                 "inputs saves, of the %.0f FLOPs executed (*: the kernel skips them, for a "
                 "row alone)" % result["executed_flops"])
    return "\n".join(lines)


# ---- command line -------------------------------------------------------------------

def main(argv=None, prog="python3 -m sluice zeros"):
    ap = argparse.ArgumentParser(
        prog=prog, description="How many of each ReLU's outputs are exactly zero, per input "
        "and per unit, counted by the model itself (sluicec -fzero-stats).")
    ap.add_argument("model", help="a model file (.slu: compiled here with -fzero-stats), or "
                    "a shared object built with 'sluicec -fzero-stats --emit=shared'")
    ap.add_argument("inputs", help=".npy of inputs [N, ...]")
    ap.add_argument("--lengths", help=".npy of token counts [N] (sequence models)")
    ap.add_argument("--weights", help="safetensors weights (default: the model's)")
    ap.add_argument("-I", dest="include", action="append", default=[], metavar="DIR",
                    help="with a .slu: a folder of imported modules, passed to sluicec")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a threshold for the run")
    ap.add_argument("--threads", type=int, help="threads (default: the model's)")
    ap.add_argument("--out", default="zeros", help="output folder (default ./zeros)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no table on stdout")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sluice-zeros-") as tmp:
        lib = a.model
        if a.model.endswith(".slu"):
            extra = ["-fzero-stats"] + [x for d in a.include for x in ("-I", d)]
            lib = _compile(a.model, os.path.join(tmp, "libmodel.so"), extra_args=extra)
        m = load(lib, weights=a.weights)
        if a.threads is not None:
            m.threads = a.threads
        for s in a.set:
            name, eq, v = s.partition("=")
            if not eq:
                raise Error("--set: expected NAME=VALUE, found '%s'" % s)
            m.set_threshold(name, v)
        x = np.load(a.inputs)
        lengths = np.load(a.lengths) if a.lengths else None
        r = zeros(m, x, lengths)
        m.close()
    paths = write(r, a.out)
    if not a.quiet:
        print(format_table(r))
        print("wrote " + ", ".join(paths))
    return 0
