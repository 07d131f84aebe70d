"""Random models (gen_model.py) through the batch-invariance check
(batch_check.py) and, with --reference, against the reference interpreter
(vs_reference.py): a model per seed.

    gen_check.py FIRST LAST WORK SLUICEC [--reference] [--sizes ...] [--threads ...]

Prints one line per model and a last line counting the models whose batches
differed from their rows alone, or from the reference.
"""
import argparse
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("first", type=int)
    ap.add_argument("last", type=int)
    ap.add_argument("work")
    ap.add_argument("sluicec")
    ap.add_argument("--reference", action="store_true")
    ap.add_argument("--sizes", default="1,7,64")
    ap.add_argument("--threads", default="1,3")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    bad = 0
    for seed in range(a.first, a.last + 1):
        d = os.path.join(a.work, "gen%d" % seed)
        os.makedirs(d, exist_ok=True)
        slu = os.path.join(d, "gen%d.slu" % seed)
        rc, text = run([PY, os.path.join(HERE, "gen_model.py"), str(seed)])
        with open(slu, "w") as f:
            f.write(text)
        rc, out = run([PY, os.path.join(HERE, "batch_check.py"), slu, d, a.sluicec, "--sizes",
                       a.sizes, "--threads", a.threads, "--seed", str(seed)])
        differ = rc != 0 or any(" differ" in l and not l.endswith(" 0 differ")
                                for l in out.splitlines())
        verdict = "batches equal the rows alone" if not differ else "DIFFERS:\n" + out
        if a.reference and not differ:
            x = np.random.default_rng(seed).standard_normal((300, n_inputs(slu)))
            xp = os.path.join(d, "xr.npy")
            np.save(xp, x.astype(np.float32))
            exe = os.path.join(d, "gen%d.default" % seed)
            rc, out = run([exe, xp, "-o", os.path.join(d, "yr.npy"), "--stats",
                           os.path.join(d, "lr.jsonl"), "--weights",
                           os.path.join(d, "w.safetensors"), "-q"])
            rc2, ref = run([PY, os.path.join(HERE, "vs_reference.py"), slu,
                            os.path.join(d, "w.safetensors"), xp, os.path.join(d, "yr.npy"),
                            os.path.join(d, "lr.jsonl")])
            differ = rc != 0 or rc2 != 0
            verdict += "; " + ref.strip().splitlines()[-1] if not differ else "; REFERENCE:\n" + out + ref
        bad += differ
        print("gen%d: %s" % (seed, verdict))
    print("%d models, %d differ" % (a.last - a.first + 1, bad))
    return 1 if bad else 0


def n_inputs(slu):
    for line in open(slu):
        if line.strip().startswith("input"):
            return int(line.split("[")[1].split("]")[0])
    raise SystemExit("no input in " + slu)


if __name__ == "__main__":
    sys.exit(main())
