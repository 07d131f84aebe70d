"""Differential testing of random models: each seed's model (the generator
test/batch/Inputs/gen_model.py, --rich) compiled at -O0 and at -O2, both
run on the same random inputs with a --stats ledger (-O0 on one thread,
-O2 on two), and checked:

  O0/O2      the outputs are the same bits and the ledgers the same lines
             (exits, decisions, FLOPs);
  cost       every input's ledger FLOPs equal what `sluicec --cost` says
             for the path it took: the min line of its exit plus, for each
             decision before it, what the input's choice costs over the
             cheapest one; the same from the max line; and for `end`, the
             dense count less what the input skipped.  Only --cost's
             numbers are used (its dense count, its exits' lines, its
             gates' arms, routes' experts and blocks' block), but for an
             exit's value, which --cost of a model holding only that value
             gives, and a route's combine (2*d per expert, docs/language.md);
  reference  where PyTorch is installed, outputs (rtol 1e-4, atol 1e-5),
             exits, decisions and FLOPs equal the reference interpreter's
             (examples/common/sluref.py), but for inputs it marks near a
             threshold.

Inputs are standard normal rows, a quarter with one element set exactly to
the constant a condition compares it with (x[i] >= 0.5 at equality), an
eighth scaled by 100 (softmax of logits past exp's range; compared with
the reference at 100 times the tolerance).

    gen_diff.py SLUICEC WORK [--first S] [--count N] [--jobs J] [--inputs R]
                [--reference auto|yes|no] [--failures DIR] [--xfail FILE]
                [--max-failures M] [-v]

Prints a line per failing model (and per model with -v) as they end, then
a summary; exit status 1 if any model failed that --xfail does not list,
or one it lists passed.  After M failing models (default 20; 0: never) it
runs no more: a compiler that cannot run fails them all.  A failing
model's files (model, weights, inputs, both outputs and ledgers, the cost
table, what failed and repro.sh) stay in WORK/genSEED, or go to
DIR/genSEED with --failures.  Passing models' files are removed.
"""
import argparse
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, "test", "batch", "Inputs"))
sys.path.insert(0, os.path.join(ROOT, "examples", "common"))
import batch_check  # noqa: E402
import gen_model  # noqa: E402

FIELDS = ("exit", "flops", "dense_flops", "gates", "routes", "blocks")  # compared with sluref
TIMEOUT = 300  # seconds, any one command


class Fail(Exception):
    pass


def run(cmd, stdin=None):
    try:
        r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Fail("%s: timed out after %d s" % (" ".join(cmd), TIMEOUT))
    if r.returncode != 0:
        raise Fail("%s: exit status %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r.stdout


def shape(seed, depth=3, stmts=6):
    """The generator's depth and statement count for a seed, up to these:
    small models (an -O2 compile is most of a model's time)."""
    r = random.Random(seed * 1000003 + 17)
    return r.randint(1, depth), r.randint(2, max(2, stmts))


def make_inputs(gm, rows, seed):
    """The inputs, and each row's scale (1 or 100)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, gm.n_in)).astype(np.float32)
    scale = np.ones(rows)
    for i in range(rows):
        u = rng.random()
        if u < 0.25 and gm.boundaries:
            j, c = gm.boundaries[rng.integers(len(gm.boundaries))]
            x[i, j] = np.float32(c)
        elif u < 0.375:
            scale[i] = 100
            x[i] *= np.float32(scale[i])
    return x, scale


# ---- sluicec --cost ---------------------------------------------------------

def parse_cost(text):
    c = {"exits": {}, "gates": {}, "routes": {}, "blocks": {}}
    for line in text.splitlines():
        w = line.split()
        if not w:
            continue
        if w[0] == "model":
            c["dense"] = int(w[2])
        elif w[0] in ("gate", "route", "blocks"):
            name = w[1].rstrip(":")
            if w[0] == "gate":  # gate g: then-arm T FLOPs, else-arm E FLOPs
                c["gates"][name] = (int(w[3]), int(w[6]))
            elif w[0] == "route":  # route r: top k of N experts, C FLOPs each
                lo = int(w[7])
                hi = int(w[9]) if w[8] == "to" else lo
                c["routes"][name] = (int(w[3]), int(w[5]), lo, hi)
            else:  # blocks b: K blocks, c FLOPs per active block
                c["blocks"][name] = (int(w[2]), int(w[4]))
        elif w[0] == "end" or (w[0].startswith("exit") and w[0][4:].isdigit()):
            c["exits"][w[0]] = None if w[1] == "unreachable" else (int(w[1]), int(w[2]))
    return c


def value_costs(sluicec, gm, tree):
    """Each exit's value's FLOPs: --cost of a model computing only it (0
    for a name computed before the exit)."""
    out = {}

    def walk(items):
        for it in items:
            if it["kind"] == "gate":
                walk(it["then"])
                walk(it["else"])
            elif it["kind"] == "exit":
                if not it["params"]:
                    out[it["name"]] = 0
                    continue
                src = "\n".join(["model v {", "  input h: f32[%d]" % gm.d,
                                 "  output y: f32[%d]" % gm.n_out] + it["params"] +
                                ["  y = %s" % it["value"], "}", ""])
                out[it["name"]] = parse_cost(run([sluicec, "--cost", "-"], stdin=src))["dense"]
    walk(tree)
    return out


class Paths:
    """FLOPs of a path from --cost's numbers and the generator's tree."""

    def __init__(self, cost, values):
        self.c, self.v = cost, values

    def route_skip(self, it):
        top, n, lo, hi = self.c["routes"][it["name"]]
        if lo != hi:
            raise Fail("route %s: experts of %d to %d FLOPs (the generator's are alike)" %
                       (it["name"], lo, hi))
        return (n - top) * (lo + 2 * it["width"])

    def arms(self, g):
        t, e = self.c["gates"][g["name"]]
        return (g["then"], t), (g["else"], e)

    def through(self, items, dense, pick):
        """The cheapest (pick=min) or dearest (max) way through a region
        without leaving it."""
        return dense - sum(self.skip_static(it, pick) for it in items)

    def skip_static(self, it, pick):
        k = it["kind"]
        if k == "gate":
            (a, ta), (b, tb) = self.arms(it)
            return ta + tb - pick(self.through(a, ta, pick), self.through(b, tb, pick))
        if k == "route":
            return self.route_skip(it)
        if k == "blocks":
            n, per = self.c["blocks"][it["name"]]
            return n * per if pick is min else 0
        return self.v[it["name"]]  # an exit passed: its value not run

    def taken(self, g, rec):
        v = rec.get("gates", {}).get(g["name"])
        if v not in (0, 1):
            raise Fail("gate %s reached but the ledger says %r" % (g["name"], v))
        (a, ta), (b, tb) = self.arms(g)
        return ((a, ta), tb) if v == 1 else ((b, tb), ta)

    def actual(self, items, dense, rec):
        """What an input paid going through a region, from its decisions."""
        return dense - sum(self.skip_actual(it, rec) for it in items)

    def skip_actual(self, it, rec):
        k = it["kind"]
        if k == "gate":
            (arm, ta), other = self.taken(it, rec)
            return other + ta - self.actual(arm, ta, rec)
        if k == "route":
            return self.route_skip(it)
        if k == "blocks":
            n, per = self.c["blocks"][it["name"]]
            mask = rec.get("blocks", {}).get(it["name"])
            if not isinstance(mask, list) or len(mask) != n:
                raise Fail("blocks %s reached but the ledger says %r" % (it["name"], mask))
            return (n - sum(mask)) * per
        if rec["exit"] == it["name"]:
            raise Fail("%s taken, but the walk went past it" % it["name"])
        return self.v[it["name"]]

    def extra(self, items, target, rec, pick):
        """What the input paid over the cheapest (or under the dearest) way
        to `target` (an exit, or None: the end of items)."""
        s = 0
        for it in items:
            k = it["kind"]
            if k == "exit" and it["name"] == target:
                return s, True
            if k == "gate":
                (arm, ta), _ = self.taken(it, rec)
                (a, at), (b, bt) = self.arms(it)
                if target and (contains(a, target) or contains(b, target)):
                    if not contains(arm, target):
                        raise Fail("%s taken, but gate %s went the other way" %
                                   (target, it["name"]))
                    d, found = self.extra(arm, target, rec, pick)
                    return s + d, found
                s += self.actual(arm, ta, rec) - pick(self.through(a, at, pick),
                                                      self.through(b, bt, pick))
            elif k == "blocks":
                n, per = self.c["blocks"][it["name"]]
                s += sum(rec["blocks"][it["name"]]) * per - (0 if pick is min else n * per)
        return s, target is None

    def expect(self, tree, rec):
        """The input's FLOPs by each way of reading --cost (all must agree)."""
        e = rec["exit"]
        line = self.c["exits"].get(e)
        if line is None:
            raise Fail("the ledger says %s, which --cost calls unreachable or has not" % e)
        target = None if e == "end" else e
        got = []
        for pick, base in ((min, line[0]), (max, line[1])):
            d, found = self.extra(tree, target, rec, pick)
            if not found:
                raise Fail("%s is not in the generated model" % e)
            got.append(("%s %s" % (e, pick.__name__), base + d))
        if target is None:
            got.append(("dense", self.actual(tree, self.c["dense"], rec)))
        return got


def contains(items, name):
    for it in items:
        if it["kind"] == "exit" and it["name"] == name:
            return True
        if it["kind"] == "gate" and (contains(it["then"], name) or contains(it["else"], name)):
            return True
    return False


# ---- one model ---------------------------------------------------------------

class Result:
    def __init__(self, seed):
        self.seed, self.problems, self.stats, self.dir = seed, [], {}, None
        self.ref_checked = self.ref_near = 0
        self.skipped = False


def count(stats, key, n=1):
    stats[key] = stats.get(key, 0) + n


def check_cost(res, sluicec, gm, cost_text, ledger):
    cost = parse_cost(cost_text)
    paths = Paths(cost, value_costs(sluicec, gm, gm.tree))
    bad = 0
    for i, rec in enumerate(ledger):
        try:
            if rec["dense_flops"] != cost["dense"]:
                raise Fail("dense_flops %d, --cost's dense count %d" %
                           (rec["dense_flops"], cost["dense"]))
            lo, hi = cost["exits"][rec["exit"]]
            if not lo <= rec["flops"] <= hi:
                raise Fail("%d FLOPs, outside %s's %d to %d" % (rec["flops"], rec["exit"], lo, hi))
            wrong = [(how, v) for how, v in paths.expect(gm.tree, rec) if v != rec["flops"]]
            if wrong:
                raise Fail("%d FLOPs, --cost says %s" % (rec["flops"], ", ".join(
                    "%d (from %s)" % (v, how) for how, v in wrong)))
        except Fail as e:
            bad += 1
            if bad <= 3:
                res.problems.append("cost: input %d (%s): %s" % (i, rec.get("exit"), e))
        except (KeyError, TypeError) as e:
            bad += 1
            if bad <= 3:
                res.problems.append("cost: input %d: cannot follow its path (%r)" % (i, e))
    if bad > 3:
        res.problems.append("cost: %d inputs in all" % bad)


def check_reference(res, slu, weights, x, scale, y, ledger):
    """Outputs within rtol 1e-4, atol 1e-5 of the reference's (times the
    row's scale: rounding grows with the logits), the same NaNs, and the
    same exits, decisions and FLOPs, but where sluref says near a threshold."""
    import sluref
    ref_y, ref = sluref.load(slu, weights).run_batch(x)
    bad = 0
    for i, r in enumerate(ref):
        res.ref_checked += 1
        if r["near_threshold"]:
            res.ref_near += 1
            continue
        got = {k: ledger[i].get(k) for k in FIELDS}
        want = {k: (dict(r[k]) if isinstance(r.get(k), dict) else r.get(k)) for k in FIELDS}
        d = np.abs(y[i].astype(np.float64) - ref_y[i])
        far = bool(np.any(d > scale[i] * (1e-5 + 1e-4 * np.abs(ref_y[i]))) or
                   np.any(np.isnan(y[i]) != np.isnan(ref_y[i])))
        if got != want or far:
            bad += 1
            if bad <= 3:
                diff = {k: (got[k], want[k]) for k in FIELDS if got[k] != want[k]}
                res.problems.append("reference: input %d: %s%s" % (
                    i, "; ".join("%s %s, reference %s" % (k, a, b) for k, (a, b) in diff.items()),
                    "%smax |y - y_ref| %.3g" % ("; " if diff else "", np.nanmax(d)) if far else ""))
    if bad > 3:
        res.problems.append("reference: %d inputs in all" % bad)


def tally(stats, ledger):
    for rec in ledger:
        count(stats, "inputs")
        count(stats, "at end" if rec["exit"] == "end" else "at an exit")
        for v in rec.get("gates", {}).values():
            if v is not None:
                count(stats, "then" if v else "else")
        for v in rec.get("routes", {}).values():
            if v is not None:
                count(stats, "routes")
        for v in rec.get("blocks", {}).values():
            if v is not None:
                count(stats, "block masks")
                count(stats, "blocks on", sum(v))


def check_model(seed, a):
    res = Result(seed)
    if a.stop:  # too many failures: the compiler itself is broken or gone
        res.skipped = True
        return res
    depth, stmts = shape(seed, a.max_depth, a.max_stmts)
    gm = gen_model.generate_model(seed, depth, stmts, rich=True)
    d = os.path.join(a.work, gm.name)
    res.dir = d
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    slu = os.path.join(d, gm.name + ".slu")
    with open(slu, "w") as f:
        f.write(gm.text)
    w, xp = os.path.join(d, "w.safetensors"), os.path.join(d, "x.npy")
    x, scale = make_inputs(gm, a.inputs, seed)
    np.save(xp, x)
    try:
        try:  # as test/batch draws them: unit-variance dense outputs
            batch_check.random_weights(a.sluicec, slu, w, seed)
        except SystemExit as e:
            raise Fail(str(e))
        outs, threads = {}, {"O0": "1", "O2": "2"}  # results are the same on any number
        for opt in ("O0", "O2"):
            exe = os.path.join(d, "%s.%s" % (gm.name, opt))
            yp, lp = os.path.join(d, "y.%s.npy" % opt), os.path.join(d, "ledger.%s.jsonl" % opt)
            run([a.sluicec, "-" + opt, slu, "-o", exe])
            run([exe, xp, "-o", yp, "--stats", lp, "--weights", w, "-q", "--threads", threads[opt]])
            with open(yp, "rb") as f, open(lp) as g:
                outs[opt] = (f.read(), g.read().splitlines())
        cost_text = run([a.sluicec, "--cost", slu])
        with open(os.path.join(d, "cost.txt"), "w") as f:
            f.write(cost_text)
        (y0, l0), (y2, l2) = outs["O0"], outs["O2"]
        y = np.load(os.path.join(d, "y.O2.npy"))
        if y0 != y2:
            y0a = np.load(os.path.join(d, "y.O0.npy"))
            rows = [i for i in range(len(y)) if y0a[i].tobytes() != y[i].tobytes()]
            res.problems.append("O0/O2: outputs differ in %d inputs, the first %d: -O0 %s, -O2 %s" %
                                (len(rows), rows[0], y0a[rows[0]].tolist(), y[rows[0]].tolist()))
        if l0 != l2:
            rows = [i for i in range(max(len(l0), len(l2)))
                    if i >= len(l0) or i >= len(l2) or l0[i] != l2[i]]
            i = rows[0]
            res.problems.append("O0/O2: ledgers differ in %d inputs, the first:\n"
                                "  -O0 %s\n  -O2 %s" % (len(rows), l0[i] if i < len(l0) else "-",
                                                        l2[i] if i < len(l2) else "-"))
        ledger = [json.loads(line) for line in l2]
        tally(res.stats, ledger)
        check_cost(res, a.sluicec, gm, cost_text, ledger)
        if a.reference:
            check_reference(res, slu, w, x, scale, y, ledger)
    except Fail as e:
        res.problems.append(str(e))
    except Exception as e:  # a bug here is a failure too, with the model kept
        res.problems.append("gen_diff.py: %s: %s" % (type(e).__name__, e))
    if res.problems:
        keep(res, a, gm, depth, stmts)
        with a.lock:
            a.failed += 1
            a.stop = a.max_failures and a.failed >= a.max_failures
    else:
        shutil.rmtree(d, ignore_errors=True)
    return res


def keep(res, a, gm, depth, stmts):
    """A failing model's files, with what failed and how to run it again."""
    d = res.dir
    os.makedirs(d, exist_ok=True)
    if a.failures:
        dest = os.path.join(a.failures, gm.name)
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(a.failures, exist_ok=True)
        shutil.move(d, dest)
        d = res.dir = dest
    for opt in ("O0", "O2"):  # executables are big and rebuilt by repro.sh
        exe = os.path.join(d, "%s.%s" % (gm.name, opt))
        if os.path.exists(exe):
            os.remove(exe)
    with open(os.path.join(d, "problems.txt"), "w") as f:
        f.write("\n".join(res.problems) + "\n")
    sluicec = os.path.abspath(a.sluicec)
    with open(os.path.join(d, "repro.sh"), "w") as f:
        f.write("#!/bin/sh\n# %s: gen_model.py %d --depth %d --stmts %d --rich; weights and "
                "inputs beside it.\n" % (gm.name, gm.seed, depth, stmts))
        f.write("set -x\ncd \"$(dirname \"$0\")\"\nSLUICEC=${SLUICEC:-%s}\n" % sluicec)
        for opt in ("O0", "O2"):
            f.write("\"$SLUICEC\" -%s %s.slu -o %s.%s\n" % (opt, gm.name, gm.name, opt))
            f.write("./%s.%s x.npy -o y.%s.npy --stats ledger.%s.jsonl --weights w.safetensors "
                    "-q --threads %d\n" % (gm.name, opt, opt, opt, 1 if opt == "O0" else 2))
        f.write("cmp y.O0.npy y.O2.npy; diff ledger.O0.jsonl ledger.O2.jsonl\n")
        f.write("\"$SLUICEC\" --cost %s.slu\n" % gm.name)
        f.write("# the whole check again: %s %s \"$SLUICEC\" /tmp/gen-repro --first %d --count 1 "
                "--max-depth %d --max-stmts %d -v\n" % (sys.executable, os.path.join(
                    HERE, "gen_diff.py"), gm.seed, a.max_depth, a.max_stmts))
    os.chmod(os.path.join(d, "repro.sh"), 0o755)


# ---- main ----------------------------------------------------------------------

def has_torch():
    import importlib.util
    return importlib.util.find_spec("torch") is not None


def read_xfail(path):
    """Seeds expected to fail: `SEED  # why` per line."""
    out = {}
    if path:
        for line in open(path):
            s = line.split("#", 1)
            if s[0].strip():
                out[int(s[0])] = s[1].strip() if len(s) > 1 else ""
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sluicec")
    ap.add_argument("work")
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--inputs", type=int, default=64, help="rows per model")
    ap.add_argument("--reference", choices=("auto", "yes", "no"), default="auto")
    ap.add_argument("--failures", help="move failing models here (default: they stay in WORK)")
    ap.add_argument("--xfail", help="a file of seeds expected to fail")
    ap.add_argument("--max-depth", type=int, default=3, help="gates nested up to this deep")
    ap.add_argument("--max-stmts", type=int, default=6, help="statements at the top, up to")
    ap.add_argument("--max-failures", type=int, default=20,
                    help="stop after this many failing models (0: never)")
    ap.add_argument("-v", "--verbose", action="store_true", help="a line per model")
    a = ap.parse_args()
    a.work = os.path.abspath(a.work)
    a.sluicec = os.path.abspath(a.sluicec)
    if a.failures:
        a.failures = os.path.abspath(a.failures)
    os.makedirs(a.work, exist_ok=True)
    if a.reference == "yes" and not has_torch():
        sys.exit("gen_diff.py: --reference yes, but this Python has no torch")
    why_not = "--reference no" if a.reference == "no" else "no torch"
    a.reference = a.reference == "yes" or (a.reference == "auto" and has_torch())
    if a.reference:
        import torch
        torch.set_num_threads(1)
    xfail = read_xfail(a.xfail)
    a.lock, a.failed, a.stop = threading.Lock(), 0, False
    seeds = range(a.first, a.first + a.count)
    t0 = time.time()
    stats, failed, expected, fixed, skipped, results = {}, [], [], [], [], []
    ref_checked = ref_near = 0
    pool = concurrent.futures.ThreadPoolExecutor(a.jobs)
    for res in pool.map(lambda s: check_model(s, a), seeds):  # in seed order, as they end
        if res.skipped:
            skipped.append(res)
            continue
        results.append(res)
        for k, v in res.stats.items():
            count(stats, k, v)
        ref_checked += res.ref_checked
        ref_near += res.ref_near
        name = "gen%d" % res.seed
        if res.problems and res.seed in xfail:
            expected.append(res)
            print("%s: failed, as expected (%s)" % (name, xfail[res.seed]))
        elif res.problems:
            failed.append(res)
            print("%s: FAILED (files in %s)" % (name, res.dir))
            for p in res.problems:
                print("  " + p.replace("\n", "\n  "))
        elif res.seed in xfail:
            fixed.append(res)
            print("%s: passed, but --xfail lists it (%s)" % (name, xfail[res.seed]))
        elif a.verbose:
            print("%s: ok" % name)
        sys.stdout.flush()
    pool.shutdown()
    g = lambda k: stats.get(k, 0)  # noqa: E731
    print("inputs: %d (%d left at an exit, %d at the end); gate arms taken: %d then, %d else; "
          "routes: %d; block masks: %d (%d blocks on)" %
          (g("inputs"), g("at an exit"), g("at end"), g("then"), g("else"), g("routes"),
           g("block masks"), g("blocks on")))
    kinds = {"O0/O2": 0, "cost": 0, "reference": 0, "other": 0}
    for res in failed + expected:
        seen = {p.split(":", 1)[0] for p in res.problems}
        for k in kinds:
            if k in seen or (k == "other" and not seen & set(kinds)):
                kinds[k] += 1
    print("-O0 against -O2: %d models differ" % kinds["O0/O2"])
    print("ledger FLOPs against --cost: %d models differ" % kinds["cost"])
    if a.reference:
        print("reference: %d models differ (%d inputs, %d near a threshold not compared)" %
              (kinds["reference"], ref_checked, ref_near))
    else:
        print("reference: not run (%s)" % why_not)
    if kinds["other"]:
        print("other failures (compile, run, the script): %d models" % kinds["other"])
    if skipped:
        print("stopped after %d failing models: %d models not run (seeds %d to %d)" %
              (a.max_failures, len(skipped), skipped[0].seed, skipped[-1].seed))
    print("%d models (seeds %d to %d), %d failed%s, in %.0f s" %
          (len(results), a.first, a.first + a.count - 1, len(failed),
           ", %d expected" % len(expected) if expected else "", time.time() - t0))
    return 1 if failed or fixed or skipped else 0


if __name__ == "__main__":
    sys.exit(main())
