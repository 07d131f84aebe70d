"""Batch invariance of a compiled model: a row's outputs, decisions and FLOPs
are the same bits whatever batch it is in, wherever it sits in it, on any
number of threads, and equal to running it alone.

    batch_check.py MODEL.slu WORKDIR SLUICEC [--weights W] [--inputs X]
                   [--sizes 1,2,7,64,360,1000] [--threads 1,2,3] [--isa LEVELS]

Builds the model twice: as sluicec builds it (tiles of up to 512 rows, cut
by the runtime to spread a batch over its threads) and with -ftile-rows=1,
where every row runs alone in a tile of its own, the reference.  Also with
-ftile-rows=7, so batches are cut into several tiles with a short last one.
Then, at each kernel level this CPU has: the reference on every input; and
every batch size, each built from the inputs repeated in order and in a
shuffled order (rows repeated and moved), through both batch builds on each
thread count.  Outputs are compared as bits (.npy bytes), ledgers record by
record (all but the "input" field).  Each row of the default build is also
run alone (a batch of one) for the first inputs.

Without --weights the weights are random (seeded), from the manifest; without
--inputs, 200 standard normal inputs (seeded).  Prints one line per level and
the decisions the inputs reach, so a test can check every region ran.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "examples", "common"))
import slutil  # noqa: E402


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("batch_check: %s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                         r.stderr))
    return r.stdout


def manifest(sluicec, slu):
    """[(name, shape)] of the weights the model reads."""
    out = []
    for line in run([sluicec, "--emit=manifest", slu]).splitlines():
        name, ty = line.split(None, 1)
        out.append((name, [int(d) for d in ty.strip()[4:-1].split(",")]))
    return out


def random_weights(sluicec, slu, path, seed):
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in manifest(sluicec, slu):
        if len(shape) == 2:  # a dense weight: unit variance outputs
            t = rng.standard_normal(shape) / np.sqrt(shape[1])
        elif name.endswith(".bias"):
            t = 0.1 * rng.standard_normal(shape)
        else:  # layernorm scales
            t = 1.0 + 0.1 * rng.standard_normal(shape)
        tensors[name] = t.astype(np.float32)
    slutil.save_safetensors(path, tensors)


def read_ledger(path):
    recs = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            del r["input"]
            recs.append(r)
    return recs


class Runner:
    def __init__(self, work, weights, flags):
        self.work, self.weights, self.flags, self.n = work, weights, flags, 0

    def __call__(self, exe, x, isa, threads, extra=()):
        """Outputs (raw .npy bytes and array) and the ledger of x through exe."""
        self.n += 1
        xp = os.path.join(self.work, "x.npy")
        yp = os.path.join(self.work, "y.npy")
        lp = os.path.join(self.work, "l.jsonl")
        np.save(xp, x)
        env = dict(os.environ, SLUICE_ISA=isa)
        run([exe, xp, "-o", yp, "--stats", lp, "--weights", self.weights, "-q",
             "--threads", str(threads)] + self.flags + list(extra), env=env)
        return np.load(yp), read_ledger(lp)


def same_bits(a, b):
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def levels():
    flags = open("/proc/cpuinfo").read().split()
    out = ["scalar"]
    if "avx2" in flags and "fma" in flags:
        out.append("avx2")
    if "avx512f" in flags and "avx512dq" in flags and "avx512bw" in flags and "avx512vl" in flags:
        out.append("avx512")
    return out


def coverage(ledger, name):
    """Which exits, gate arms, experts and blocks the inputs reached."""
    exits, seen = {}, {}
    for r in ledger:
        exits[r["exit"]] = exits.get(r["exit"], 0) + 1
        for g, v in r.get("gates", {}).items():
            if v is not None:
                seen.setdefault("gate " + g, set()).add(v)
        for rt, v in r.get("routes", {}).items():
            if v is not None:
                seen.setdefault("route " + rt, set()).update(v)
        for b, v in r.get("blocks", {}).items():
            if v is not None:
                seen.setdefault("blocks " + b, set()).update(i for i, on in enumerate(v) if on)
    print("%s exits: %s" % (name, ", ".join("%s %d" % kv for kv in sorted(exits.items()))))
    for k in sorted(seen):
        print("%s %s: %s" % (name, k, " ".join(str(v) for v in sorted(seen[k]))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("slu")
    ap.add_argument("work")
    ap.add_argument("sluicec")
    ap.add_argument("--weights")
    ap.add_argument("--inputs")
    ap.add_argument("--sizes", default="1,2,7,64,360,1000")
    ap.add_argument("--threads", default="1,2,3")
    ap.add_argument("--isa", default=",".join(levels()))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-O", dest="opt", default="2")
    ap.add_argument("--run-flags", default="", help="given to every run (--force-exit 0)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    name = os.path.splitext(os.path.basename(a.slu))[0]
    weights = a.weights or os.path.join(a.work, "w.safetensors")
    if not a.weights:
        random_weights(a.sluicec, a.slu, weights, a.seed)
    if a.inputs:
        base = np.load(a.inputs).astype(np.float32)
    else:
        rng = np.random.default_rng(a.seed + 1)
        n_in = manifest(a.sluicec, a.slu)[0][1][1]  # the first layer reads the input
        base = rng.standard_normal((200, n_in)).astype(np.float32)

    exes = {}
    for key, flags in (("alone", ["-ftile-rows=1"]), ("default", []), ("tiles7", ["-ftile-rows=7"])):
        exes[key] = os.path.join(a.work, name + "." + key)
        run([a.sluicec, "-O" + a.opt, a.slu, "-o", exes[key]] + flags)

    go = Runner(a.work, weights, a.run_flags.split())
    rng = np.random.default_rng(a.seed + 2)
    sizes = [int(s) for s in a.sizes.split(",")]
    threads = [int(t) for t in a.threads.split(",")]
    n = len(base)
    first = True
    for isa in a.isa.split(","):
        y_ref, l_ref = go(exes["alone"], base, isa, 1)
        if first:
            coverage(l_ref, name)
            first = False
        checked = differ = 0
        for i in range(min(5, n)):  # a batch of one, through the default build
            y, l = go(exes["default"], base[i:i + 1], isa, 1)
            checked += 1
            differ += not (same_bits(y, y_ref[i:i + 1]) and l == l_ref[i:i + 1])
        for size in sizes:
            orders = [np.arange(size) % n, rng.integers(0, n, size)]
            for idx in orders:
                for t in threads:
                    for key in ("default", "tiles7"):
                        y, l = go(exes[key], base[idx], isa, t)
                        checked += 1
                        ok = same_bits(y, y_ref[idx]) and l == [l_ref[j] for j in idx]
                        if not ok:
                            differ += 1
                            print("%s %s: batch of %d (%s build, %d threads) differs" %
                                  (name, isa, size, key, t))
        print("%s %s: %d batches against rows alone, %d differ" % (name, isa, checked, differ))

    # An empty batch: no rows, an empty output.
    y, l = go(exes["default"], base[:0], "scalar", 2)
    print("%s empty batch: output %s, %d ledger records" % (name, list(y.shape), len(l)))
    print("%s runs: %d" % (name, go.n))


if __name__ == "__main__":
    main()
