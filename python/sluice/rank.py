"""Ranking inputs by the compute a conditional model spent on them, from one
or more ledgers (the executable's --stats, or Ledger.to_jsonl()), and how
alike different models rank them.

    import sluice.rank as rk
    a = rk.read_ledger("ee.jsonl"); b = rk.read_ledger("moe.jsonl")
    rk.spearman(a.key, b.key), rk.kendall_tau_b(a.key, b.key)
    r = rk.rank([a, b]); rk.write(r, "out", images=x, shape=(8, 8))

Command line: python3 -m sluice rank LEDGER.jsonl [LEDGER2.jsonl ...]
[--names A,B] [--images X.npy --shape 8x8] [--top K] [--out DIR]
(docs/analysis.md).
"""
import argparse
import csv
import json
import math
import os
import re

import numpy as np

from . import _svg
from ._model import Error


# ---- rank statistics (NumPy only) --------------------------------------------

def rankdata(a):
    """Ranks 1..n of a 1-d array, ties given the mean of the ranks they span
    (scipy.stats.rankdata's "average")."""
    a = np.asarray(a)
    n = len(a)
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    new = np.ones(n, dtype=bool)
    if n:
        new[1:] = s[1:] != s[:-1]
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)              # group g spans sorted [starts, ends)
    avg = (starts + ends + 1) / 2.0              # mean of ranks starts+1 .. ends
    group = np.cumsum(new) - 1
    r = np.empty(n, dtype=np.float64)
    r[order] = avg[group]
    return r


def spearman(a, b):
    """Spearman's rank correlation: Pearson's correlation of the average
    ranks; None when either side is constant (undefined)."""
    ra, rb = rankdata(a), rankdata(b)
    if len(ra) < 2:
        return None
    da, db = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt(float(np.dot(da, da)) * float(np.dot(db, db)))
    return float(np.dot(da, db)) / den if den > 0 else None


def _tied_pairs(a):
    _, counts = np.unique(a, return_counts=True)
    counts = counts.astype(np.float64)
    return float(np.sum(counts * (counts - 1) / 2))


def kendall_tau_b(a, b, block=2048):
    """Kendall's tau-b: (concordant - discordant) / sqrt((n0 - n1)(n0 - n2)),
    n0 = n(n-1)/2 pairs, n1 and n2 the pairs tied in a and in b (a pair
    tied in either counts neither way). Exact, by comparing every pair
    (O(n^2) time, in blocks of rows); None when either side is constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = len(a)
    if n < 2:
        return None
    s = 0.0
    for i in range(0, n, block):
        sa = np.sign(a[i:i + block, None] - a[None, :])
        sb = np.sign(b[i:i + block, None] - b[None, :])
        s += float(np.sum(sa * sb))
    s /= 2.0                                      # every pair was counted twice
    n0 = n * (n - 1) / 2.0
    den = math.sqrt((n0 - _tied_pairs(a)) * (n0 - _tied_pairs(b)))
    return s / den if den > 0 else None


# ---- ledgers ------------------------------------------------------------------

_EXIT_N = re.compile(r"^exit(\d+)$")


class RankedLedger:
    """One ledger's per-input compute, by input index (ascending).

    inputs  int64 [N]     input indices
    flops   float64 [N]   FLOPs executed
    dense   float64 [N]   dense FLOPs
    exits   list of N exit names ("end": ran to the end)
    depth   int64 [N]     the exit's depth: exitK -> K, other names in the
                          order of the fewest FLOPs an input leaving there
                          spent, "end" last
    key     float64 [N]   flops and depth as one number to rank by
                          (ties in FLOPs broken by depth)
    rank    float64 [N]   1 = the least compute, ties averaged
    """

    def __init__(self, name, path, records):
        self.name = name
        self.path = path
        if not records:
            raise Error("%s: an empty ledger" % path)
        recs = sorted(records, key=lambda r: r["input"])
        self.inputs = np.array([r["input"] for r in recs], dtype=np.int64)
        if len(np.unique(self.inputs)) != len(self.inputs):
            raise Error("%s: an input index appears twice" % path)
        self.flops = np.array([float(r["flops"]) for r in recs])
        self.dense = np.array([float(r.get("dense_flops", np.nan)) for r in recs])
        self.exits = [r.get("exit", "end") for r in recs]
        names = sorted(set(self.exits) - {"end"})
        numbered = {e: int(_EXIT_N.match(e).group(1)) for e in names if _EXIT_N.match(e)}
        if len(numbered) == len(names):
            order = sorted(names, key=lambda e: numbered[e])
        else:
            least = {e: min(f for f, x in zip(self.flops, self.exits) if x == e) for e in names}
            order = sorted(names, key=lambda e: (least[e], e))
        self.exit_order = order + ["end"]
        pos = {e: i for i, e in enumerate(self.exit_order)}
        self.depth = np.array([pos[e] for e in self.exits], dtype=np.int64)
        # A dense rank of (flops, depth): ties only where both are equal.
        pairs = np.rec.fromarrays([self.flops, self.depth])
        _, inv = np.unique(pairs, return_inverse=True)
        self.key = inv.astype(np.float64)
        self.rank = rankdata(self.key)

    def __len__(self):
        return len(self.inputs)

    def exit_counts(self):
        return {e: self.exits.count(e) for e in self.exit_order}


def read_ledger(path, name=None):
    records = []
    try:
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                except ValueError as e:
                    raise Error("%s:%d: not JSON: %s" % (path, lineno, e)) from None
                if not isinstance(r, dict) or "input" not in r or "flops" not in r:
                    raise Error("%s:%d: not a ledger record (no 'input' or 'flops')"
                                % (path, lineno))
                records.append(r)
    except OSError as e:
        raise Error("%s: cannot read: %s" % (path, e.strerror)) from None
    return RankedLedger(name or _stem(path), path, records)


def _stem(path):
    base = os.path.basename(path)
    for ext in (".jsonl", ".json"):
        if base.endswith(ext):
            return base[:-len(ext)]
    return base


def default_names(paths):
    """Each ledger's name: its file's stem, with as many of its folders in
    front as it takes to tell the ledgers apart (early_exit/ref/ledger)."""
    parts = [os.path.normpath(os.path.abspath(p)).split(os.sep) for p in paths]
    for p in parts:
        p[-1] = _stem(p[-1])
    k = 1
    while True:
        names = ["/".join(p[-k:]) for p in parts]
        if len(set(names)) == len(names) or k >= max(len(p) for p in parts):
            return names
        k += 1


# ---- ranking ------------------------------------------------------------------

def _entry(led, i):
    return {"input": int(led.inputs[i]), "flops": float(led.flops[i]), "exit": led.exits[i],
            "rank": float(led.rank[i])}


def rank(ledgers, top=10):
    """The per-ledger ranking, the hardest and easiest inputs, and the rank
    correlations of every pair of ledgers; a dict (what rank.json holds)."""
    if not ledgers:
        raise Error("no ledgers")
    first = ledgers[0]
    for led in ledgers[1:]:
        if not np.array_equal(led.inputs, first.inputs):
            raise Error("%s and %s hold different inputs (%d and %d records): rank ledgers "
                        "of the same inputs" % (first.path, led.path, len(first), len(led)))
    n = len(first)
    out = {"inputs": n, "ledgers": [], "pairs": [], "top": top}
    for led in ledgers:
        hard = np.lexsort((led.inputs, -led.key))[:top]   # most compute first
        easy = np.lexsort((led.inputs, led.key))[:top]
        dense = float(np.nanmean(led.dense)) if not np.all(np.isnan(led.dense)) else None
        out["ledgers"].append({
            "name": led.name, "path": led.path, "mean_flops": float(led.flops.mean()),
            "dense_flops": dense, "min_flops": float(led.flops.min()),
            "max_flops": float(led.flops.max()),
            "distinct": int(len(np.unique(led.key))), "exits": led.exit_counts(),
            "hardest": [_entry(led, i) for i in hard],
            "easiest": [_entry(led, i) for i in easy]})
    for i in range(len(ledgers)):
        for j in range(i + 1, len(ledgers)):
            a, b = ledgers[i], ledgers[j]
            out["pairs"].append({"a": a.name, "b": b.name, "spearman": spearman(a.key, b.key),
                                 "kendall_tau_b": kendall_tau_b(a.key, b.key)})
    if len(ledgers) > 1:
        # Across the ledgers: each input's mean rank, as a fraction of n.
        mean = np.mean([led.rank for led in ledgers], axis=0) / n
        hard = np.lexsort((first.inputs, -mean))[:top]
        easy = np.lexsort((first.inputs, mean))[:top]

        def combined(i):
            return {"input": int(first.inputs[i]), "mean_rank": float(mean[i]),
                    "flops": {led.name: float(led.flops[i]) for led in ledgers}}
        out["combined"] = {"hardest": [combined(i) for i in hard],
                           "easiest": [combined(i) for i in easy]}
    return out


# ---- writing ------------------------------------------------------------------

def write_csv(ledgers, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["input"] + [c % led.name for led in ledgers
                                for c in ("%s:flops", "%s:exit", "%s:rank")])
        for i in range(len(ledgers[0])):
            row = [int(ledgers[0].inputs[i])]
            for led in ledgers:
                row += [repr(float(led.flops[i])), led.exits[i], repr(float(led.rank[i]))]
            w.writerow(row)


def parse_shape(s):
    try:
        dims = tuple(int(d) for d in s.lower().split("x"))
        if len(dims) != 2 or min(dims) < 1:
            raise ValueError
        return dims
    except ValueError:
        raise Error("--shape '%s': expected HxW, e.g. 8x8" % s) from None


def write_images(result, images, shape, path):
    """An SVG grid: for each ledger (and the ledgers combined), a row of its
    hardest inputs and a row of its easiest, each image titled with its
    input index and FLOPs."""
    matplotlib, plt = _svg.pyplot()
    images = np.asarray(images)
    n = images.shape[0]
    per = int(np.prod(images.shape[1:]))
    if per != shape[0] * shape[1]:
        raise Error("--images: each input holds %d values, not %dx%d = %d (give --shape)"
                    % (per, shape[0], shape[1], shape[0] * shape[1]))
    imgs = images.reshape(n, *shape).astype(np.float64)
    lo, hi = float(np.nanmin(imgs)), float(np.nanmax(imgs))
    rows = []
    for led in result["ledgers"]:
        for what in ("hardest", "easiest"):
            rows.append(("%s: %s" % (led["name"], what),
                         [(e["input"], "%s\n%.1fk" % (e["input"], e["flops"] / 1000))
                          for e in led[what]]))
    if "combined" in result:
        for what in ("hardest", "easiest"):
            rows.append(("all: %s (mean rank)" % what,
                         [(e["input"], "%s\n%.2f" % (e["input"], e["mean_rank"]))
                          for e in result["combined"][what]]))
    cols = max(len(r[1]) for r in rows)
    h, w = shape
    gap = 1
    # One image per row: the tiles side by side, a blank column between them
    # (a small file: one <image> per row, not one axes per tile).
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.8 * cols + 1.8, 1.05 * len(rows)),
                             squeeze=False)
    cmap = matplotlib.colormaps["gray_r"].copy()
    cmap.set_bad("white")
    for r, (label, cells) in enumerate(rows):
        ax = axes[r][0]
        strip = np.full((h, cols * (w + gap) - gap), np.nan)
        for c, (idx, title) in enumerate(cells):
            if not 0 <= idx < n:
                raise Error("--images: the ledgers name input %d, but the images hold %d"
                            % (idx, n))
            strip[:, c * (w + gap):c * (w + gap) + w] = imgs[idx]
            ax.text(c * (w + gap) + (w - 1) / 2, -0.8, title, fontsize=6.5,
                    ha="center", va="bottom")
        ax.imshow(strip, cmap=cmap, vmin=lo, vmax=hi, interpolation="none")
        ax.set_xticks([])
        ax.set_yticks([])
        for sp in ax.spines.values():
            sp.set_visible(False)
        ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center", labelpad=6)
    fig.tight_layout(pad=0.4, h_pad=0.6, w_pad=0.2)
    _svg.save(fig, path)


def write(result, ledgers, out, images=None, shape=None):
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, "rank.json"), os.path.join(out, "rank.csv")]
    if images is not None:
        paths.append(os.path.join(out, "rank.svg"))
        write_images(result, images, shape, paths[2])
    with open(paths[0], "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    write_csv(ledgers, paths[1])
    return paths


def format_report(result):
    lines = []
    for led in result["ledgers"]:
        dense = led["dense_flops"]
        lines.append("%s: %d inputs, mean %.1f FLOPs%s, %d distinct costs; exits: %s" % (
            led["name"], result["inputs"], led["mean_flops"],
            " (%.1f%% of dense)" % (100 * led["mean_flops"] / dense) if dense else "",
            led["distinct"], ", ".join("%s %d" % kv for kv in led["exits"].items())))
        for what in ("hardest", "easiest"):
            lines.append("  %s: %s" % (what, " ".join(
                "%d(%.0f)" % (e["input"], e["flops"]) for e in led[what])))
    for p in result["pairs"]:
        def f(v):
            return "undefined" if v is None else "%.4f" % v
        lines.append("%s vs %s: Spearman %s, Kendall tau-b %s"
                     % (p["a"], p["b"], f(p["spearman"]), f(p["kendall_tau_b"])))
    if "combined" in result:
        for what in ("hardest", "easiest"):
            lines.append("all, %s by mean rank: %s" % (what, " ".join(
                str(e["input"]) for e in result["combined"][what])))
    return "\n".join(lines)


def main(argv=None, prog="python3 -m sluice rank"):
    ap = argparse.ArgumentParser(
        prog=prog, description="Rank inputs by the compute a conditional model spent on them "
        "(FLOPs, ties by exit depth), from ledgers (the executable's --stats or "
        "Ledger.to_jsonl()), and the Spearman and Kendall tau-b rank correlations between "
        "every pair of ledgers of the same inputs.")
    ap.add_argument("ledgers", nargs="+", metavar="LEDGER.jsonl")
    ap.add_argument("--names", help="the ledgers' names, comma-separated (default: file names)")
    ap.add_argument("--images", metavar="X.npy", help="the inputs as images: draw the hardest "
                    "and easiest as an SVG grid")
    ap.add_argument("--shape", default=None, metavar="HxW",
                    help="each image's shape (default: square, from the input's size)")
    ap.add_argument("--top", type=int, default=10, help="how many hardest and easiest (10)")
    ap.add_argument("--out", default="rank", help="output folder (default ./rank)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no report on stdout")
    a = ap.parse_args(argv)
    if a.names:
        names = a.names.split(",")
        if len(names) != len(a.ledgers):
            raise Error("--names: %d names for %d ledgers" % (len(names), len(a.ledgers)))
    else:
        names = default_names(a.ledgers)
    if len(set(names)) != len(names):
        raise Error("--names: a name is given twice")
    if a.top < 1:
        raise Error("--top: expected 1 or more, not %d" % a.top)
    ledgers = [read_ledger(p, nm) for p, nm in zip(a.ledgers, names)]
    result = rank(ledgers, top=a.top)
    images = shape = None
    if a.images:
        images = np.load(a.images)
        if a.shape:
            shape = parse_shape(a.shape)
        else:
            per = int(np.prod(images.shape[1:]))
            side = int(round(math.sqrt(per)))
            if side * side != per:
                raise Error("--images: give --shape (an input holds %d values)" % per)
            shape = (side, side)
    elif a.shape:
        raise Error("--shape without --images")
    paths = write(result, ledgers, a.out, images, shape)
    if not a.quiet:
        print(format_report(result))
        print("wrote " + ", ".join(paths))
    return 0
