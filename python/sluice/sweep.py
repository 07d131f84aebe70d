"""Calibration sweep: a model's accuracy and compute over a grid (or a random
sample) of threshold settings, in one process, the model loaded once.

    import sluice, sluice.sweep as sw
    m = sluice.load("libdigits_ee.so")
    r = sw.sweep(m, x, labels, grid={"t1": sw.linspace(0.5, 0.99, 5)})
    r["settings"][0]["accuracy"], r["pareto"]
    sw.write(r, "out")          # out/sweep.json, out/sweep.csv, out/sweep.svg

Command line: python3 -m sluice sweep LIB.so INPUTS.npy --labels LABELS.npy
[--lengths L.npy] [--grid NAME=LO:HI:STEPS ...] [--random N --seed S] [--out DIR]
(docs/analysis.md).
"""
import argparse
import csv
import itertools
import json
import os

import numpy as np

from . import _svg
from ._model import Error, _f32, load

PERCENTILES = (50, 90, 99)


# ---- the grid ---------------------------------------------------------------

def linspace(lo, hi, steps):
    """steps values from lo to hi (both included), each rounded to float32 as
    the model holds a threshold, written as the shortest decimal (0.745);
    values equal after rounding are kept once."""
    if steps < 1:
        raise Error("a grid needs at least 1 step, not %d" % steps)
    vals = [lo] if steps == 1 else np.linspace(lo, hi, steps).tolist()
    out = []
    for v in vals:
        v = _f32(v)
        if v not in out:
            out.append(v)
    return out


def parse_range(spec):
    """'NAME=LO:HI:STEPS' (or 'NAME=LO:HI', STEPS 5; or 'NAME=V1,V2,...', those
    values) -> (name, lo, hi, values)."""
    name, eq, rest = spec.partition("=")
    name = name.strip()
    if not eq or not name or not rest:
        raise Error("--grid '%s': expected NAME=LO:HI:STEPS (or NAME=V1,V2,...)" % spec)
    try:
        if ":" in rest:
            parts = rest.split(":")
            if len(parts) not in (2, 3):
                raise ValueError
            lo, hi = float(parts[0]), float(parts[1])
            steps = int(parts[2]) if len(parts) == 3 else 5
            if steps < 1:
                raise ValueError
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise ValueError
            return name, lo, hi, linspace(lo, hi, steps)
        vals = [float(v) for v in rest.split(",")]
        if not all(np.isfinite(v) for v in vals):
            raise ValueError
        vals = list(dict.fromkeys(_f32(v) for v in vals))
        return name, min(vals), max(vals), vals
    except ValueError:
        raise Error("--grid '%s': expected NAME=LO:HI:STEPS with numbers LO, HI and a "
                    "whole STEPS >= 1 (or NAME=V1,V2,...)" % spec) from None


def _check_names(info, names):
    if not info.thresholds:
        raise Error("model '%s' has no thresholds: nothing to sweep" % info.name)
    have = ", ".join("%s (default %g)" % kv for kv in info.thresholds.items())
    for n in names:
        if n not in info.thresholds:
            raise Error("model '%s' has no threshold '%s' (its thresholds: %s)"
                        % (info.name, n, have))
    if len(set(names)) != len(names):
        raise Error("a threshold is given twice: %s" % ", ".join(names))
    if not 1 <= len(names) <= 3:
        raise Error("sweep one to three thresholds, not %d (model '%s' has: %s)"
                    % (len(names), info.name, have))


def grid_settings(grid):
    """{name: [values]} -> every combination, as a list of {name: value}."""
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def random_settings(ranges, n, seed=0):
    """n settings, each threshold uniform in its [lo, hi] (float32-rounded)."""
    rng = np.random.default_rng(seed)
    names = list(ranges)
    out = []
    for _ in range(n):
        out.append({k: _f32(rng.uniform(*ranges[k])) for k in names})
    return out


# ---- measuring --------------------------------------------------------------

def _labels(labels, n, classes):
    a = np.asarray(labels)
    if a.ndim != 1 or a.shape[0] != n:
        raise Error("labels: expected shape [%d] (one class id per input), found [%s]"
                    % (n, ", ".join(str(d) for d in a.shape)))
    if a.dtype.kind in "iu":
        a = a.astype(np.int64)
    elif a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(np.floor(a) != a):
            raise Error("labels: float labels must hold whole numbers (class ids)")
        a = a.astype(np.int64)
    else:
        raise Error("labels: dtype %s is not supported (expected integer class ids)" % a.dtype)
    bad = (a < 0) | (a >= classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise Error("labels: input %d: label %d is not a class of the model's %d outputs "
                    "(0 to %d)" % (i, int(a[i]), classes, classes - 1))
    return a


def measure(y, ledger, labels):
    """One run's figures: accuracy (argmax of each output row, the first on
    ties, as the executable counts it), FLOPs statistics, the exit histogram."""
    n = len(ledger)
    pred = np.argmax(y.reshape(n, -1), axis=1) if n else np.zeros(0, np.int64)
    correct = int(np.count_nonzero(pred == labels))
    f = ledger.flops
    r = {"accuracy": correct / n if n else None, "correct": correct,
         "mean_flops": float(f.mean()) if n else 0.0}
    for p in PERCENTILES:
        r["p%d_flops" % p] = float(np.percentile(f, p)) if n else 0.0
    r["min_flops"] = float(f.min()) if n else 0.0
    r["max_flops"] = float(f.max()) if n else 0.0
    dense = float(ledger.dense_flops.mean()) if n else 0.0
    r["dense_flops"] = dense
    r["ratio"] = r["mean_flops"] / dense if dense > 0 else 1.0
    r["exits"] = ledger.exit_counts()
    return r


def pareto_front(acc, flops):
    """Indices of the points no other point dominates (accuracy at least as
    high and mean FLOPs at most as many, one of them strictly), by FLOPs
    ascending (then accuracy descending, then index). Equal points are all
    kept."""
    acc = np.asarray(acc, dtype=np.float64)
    flops = np.asarray(flops, dtype=np.float64)
    front = []
    for i in range(len(acc)):
        dom = (acc >= acc[i]) & (flops <= flops[i]) & ((acc > acc[i]) | (flops < flops[i]))
        if not dom.any():
            front.append(i)
    return sorted(front, key=lambda i: (flops[i], -acc[i], i))


def sweep(model, x, labels, grid=None, lengths=None, random=None, seed=0, ranges=None,
          progress=None):
    """Run the model over x at every setting; returns a dict (what sweep.json
    holds).

    grid: {name: [values]} (every combination is run); or random=N with
    ranges {name: (lo, hi)}: N settings drawn uniformly (seed).  Names are
    the model's thresholds (1 to 3); the others stay at their defaults.
    Besides the settings, the model is run at its defaults ("default") and
    with every exit never taken ("dense": force_exit("never")).
    """
    info = model.info
    if random is not None:
        if not ranges:
            raise Error("a random search needs the thresholds' ranges (--grid NAME=LO:HI)")
        names = list(ranges)
        _check_names(info, names)
        if random < 1:
            raise Error("--random: expected a number of settings >= 1, not %d" % random)
        settings = random_settings(ranges, random, seed)
        how = {"random": random, "seed": seed,
               "ranges": {k: [float(a), float(b)] for k, (a, b) in ranges.items()}}
    else:
        if not grid:
            raise Error("no grid: give --grid NAME=LO:HI:STEPS for 1 to 3 of model '%s''s "
                        "thresholds (%s)" % (info.name, ", ".join(
                            "%s, default %g" % kv for kv in info.thresholds.items())
                            or "it has none"))
        names = list(grid)
        _check_names(info, names)
        settings = grid_settings(grid)
        how = {"grid": {k: list(v) for k, v in grid.items()}}
    x = np.asarray(x)
    n = x.shape[0] if x.ndim else 0
    if n == 0:
        raise Error("inputs: an empty batch: nothing to measure")
    classes = int(np.prod(info.output_shape))
    lab = _labels(labels, n, classes)

    def run(**kw):
        y, led = model.run(x, lengths=lengths, **kw)
        return measure(y, led, lab)

    default = run()
    default["thresholds"] = dict(info.thresholds)
    if info.exits:
        dense = run(force_exit="never")
    else:
        dense = dict(default)
    dense["thresholds"] = dict(info.thresholds)
    rows = []
    for i, s in enumerate(settings):
        r = {"index": i, "thresholds": {k: _f32(v) for k, v in s.items()}}
        r.update(run(thresholds=s))
        rows.append(r)
        if progress:
            progress(i + 1, len(settings))
    front = pareto_front([r["accuracy"] for r in rows], [r["mean_flops"] for r in rows])
    on = set(front)
    for r in rows:
        r["pareto"] = r["index"] in on
    return {"model": info.name, "inputs": int(n), "classes": classes,
            "thresholds": dict(info.thresholds), "swept": names, "exits": list(info.exits),
            **how, "percentiles": list(PERCENTILES), "default": default, "dense": dense,
            "settings": rows, "pareto": front}


# ---- writing ------------------------------------------------------------------

def write_json(result, path):
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


def write_csv(result, path):
    names = result["swept"]
    exits = result["exits"] + ["end"]
    cols = (["index"] + names + ["accuracy", "correct", "mean_flops"]
            + ["p%d_flops" % p for p in result["percentiles"]]
            + ["min_flops", "max_flops", "dense_flops", "ratio"]
            + ["exit:" + e for e in exits] + ["pareto"])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in result["settings"]:
            w.writerow([r["index"]] + [repr(r["thresholds"][k]) for k in names]
                       + ["%.6f" % r["accuracy"], r["correct"], repr(r["mean_flops"])]
                       + [repr(r["p%d_flops" % p]) for p in result["percentiles"]]
                       + [repr(r["min_flops"]), repr(r["max_flops"]), repr(r["dense_flops"]),
                          "%.6f" % r["ratio"]]
                       + [r["exits"][e] for e in exits] + [int(r["pareto"])])


def _setting_label(r, names):
    return ", ".join("%s=%g" % (k, r["thresholds"][k]) for k in names)


def write_svg(result, path):
    """Accuracy against mean FLOPs per input: every setting, the Pareto front
    joined and highlighted, the model at its defaults and the dense model
    (every exit never taken) marked."""
    _, plt = _svg.pyplot()
    names = result["swept"]
    rows = result["settings"]
    fl = np.array([r["mean_flops"] for r in rows])
    ac = np.array([r["accuracy"] for r in rows]) * 100
    fig, ax = plt.subplots(figsize=(7, 4.6))
    ax.scatter(fl, ac, s=14, color="#9aa5b1", label="settings (%d)" % len(rows), zorder=2)
    front = result["pareto"]
    ax.plot(fl[front], ac[front], "-o", color="#d1495b", ms=5, lw=1.5,
            label="Pareto front (%d)" % len(front), zorder=3)
    if len(front) <= 10:
        for i in front:
            ax.annotate(_setting_label(rows[i], names), (fl[i], ac[i]), fontsize=7,
                        xytext=(4, -10), textcoords="offset points", color="#8c2f39")
    d = result["dense"]
    ax.scatter([d["mean_flops"]], [d["accuracy"] * 100], marker="*", s=160, color="#1d3557",
               label="dense (no exit taken)", zorder=4)
    df = result["default"]
    ax.scatter([df["mean_flops"]], [df["accuracy"] * 100], marker="D", s=40,
               facecolor="none", edgecolor="#2a9d8f", lw=1.5, label="defaults", zorder=4)
    ax.set_xlabel("mean FLOPs per input (dense: %s)" % format(d["dense_flops"], ",.0f"))
    ax.set_ylabel("accuracy (%%, %d inputs)" % result["inputs"])
    ax.set_title("%s: sweep of %s" % (result["model"], ", ".join(names)))
    ax.grid(True, lw=0.4, alpha=0.5)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    _svg.save(fig, path)


def write(result, out):
    return _svg.write_files(result, out, "sweep", write_json, write_csv, write_svg)


def format_table(result, limit=None):
    """A text table of the settings (the front marked with *)."""
    names = result["swept"]
    exits = result["exits"] + ["end"]
    head = "  ".join(["%-8s" % k for k in names] + ["accuracy", "mean FLOPs", "of dense",
                     "p50", "p90", "p99", "exits: " + " ".join(exits)])
    lines = [head]
    rows = result["settings"]
    for r in rows[:limit] if limit else rows:
        lines.append("  ".join(["%-8g" % r["thresholds"][k] for k in names] + [
            "%-8.4f" % r["accuracy"], "%-10.1f" % r["mean_flops"], "%7s" % ("%.1f%%" % (100 * r["ratio"])),
            "%-6.0f" % r["p50_flops"], "%-6.0f" % r["p90_flops"], "%-6.0f" % r["p99_flops"],
            " ".join(str(r["exits"][e]) for e in exits)]) + (" *" if r["pareto"] else ""))
    return "\n".join(lines)


# ---- command line -------------------------------------------------------------

def main(argv=None, prog="python3 -m sluice sweep"):
    ap = argparse.ArgumentParser(
        prog=prog, description="Threshold calibration sweep of a model compiled with "
        "'sluicec --emit=shared': accuracy, mean and percentile FLOPs and the exit histogram "
        "at every setting, and the Pareto front of accuracy against mean FLOPs.")
    ap.add_argument("library", help="the model's shared object (sluicec --emit=shared)")
    ap.add_argument("inputs", help=".npy of inputs [N, ...]")
    ap.add_argument("--labels", required=True, help=".npy of class ids [N] (any integer dtype, "
                    "or floats holding whole numbers)")
    ap.add_argument("--lengths", help=".npy of token counts [N] (sequence models)")
    ap.add_argument("--weights", help="safetensors weights (default: the model's)")
    ap.add_argument("--grid", action="append", default=[], metavar="NAME=LO:HI:STEPS",
                    help="a threshold and its values (STEPS evenly spaced from LO to HI; or "
                    "NAME=V1,V2,...); 1 to 3 of them, every combination is run")
    ap.add_argument("--random", type=int, metavar="N",
                    help="instead of the grid, N settings drawn uniformly within the --grid "
                    "ranges (STEPS ignored)")
    ap.add_argument("--seed", type=int, default=0, help="the random search's seed (default 0)")
    ap.add_argument("--threads", type=int, help="threads per run (default: the model's)")
    ap.add_argument("--out", default="sweep", help="output folder (default ./sweep)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no table on stdout")
    a = ap.parse_args(argv)
    grid = {}
    ranges = {}
    for spec in a.grid:
        name, lo, hi, vals = parse_range(spec)
        if name in grid:
            raise Error("--grid: threshold '%s' given twice" % name)
        grid[name] = vals
        ranges[name] = (lo, hi)
    x = np.load(a.inputs)
    labels = np.load(a.labels)
    lengths = np.load(a.lengths) if a.lengths else None
    m = load(a.library, weights=a.weights)
    if a.threads is not None:
        m.threads = a.threads
    r = sweep(m, x, labels, grid=grid, lengths=lengths, random=a.random, seed=a.seed,
              ranges=ranges)
    r["library"] = os.path.abspath(a.library)
    paths = write(r, a.out)
    if not a.quiet:
        print(format_table(r))
        d = r["dense"]
        print("dense (no exit taken): accuracy %.4f, %.1f FLOPs; defaults: accuracy %.4f, "
              "%.1f FLOPs" % (d["accuracy"], d["mean_flops"], r["default"]["accuracy"],
                             r["default"]["mean_flops"]))
        print("wrote " + ", ".join(paths))
    return 0
