"""Inputs for the sequence models' executables, and what they must answer.

    %python %S/Inputs/seq_fixtures.py OUTDIR

The models are fakeseq and fakeids (test/runtime-io/fake_seq.c); this file
computes them again in NumPy float32, in the same order of operations (the
sums are exact: inputs are multiples of 1/16), so the outputs must be the
same bits.  Writes into OUTDIR (standard library and NumPy only;
deterministic):

fakeseq, f32[T, 2] with T from 2 to 5:
  x.npy [12, 5, 2]      12 sequences of 2 to 4 tokens, NaN after each one's end
  x4.npy [12, 4, 2]     the same laid out at 4 tokens; x_f8.npy: x.npy as '<f8'
  lens.npy [12] '<i8'   their lengths; lens_DT.npy the same as dtype DT
  y_want.npy, ledger_want.jsonl   what a run must give
  x3.npy [12, 3, 2]     the first 3 tokens of each (no NaN), y3_want.npy
  one.npy [3, 2]        sequence 4 alone (3 tokens); one_pad.npy [5, 2], padded,
                        with len1.npy (rank 0, 3); y_one_want.npy [2]
  broken ones:  x_long.npy [12, 7, 2], x_short.npy [12, 1, 2], x_d3.npy [12, 5, 3],
                x_int.npy (x4 as '<i4'); lens_short.npy [11], lens_2d.npy [12, 1],
                lens_range.npy (input 4: 6), lens_low.npy (input 7: 1),
                lens_over.npy (input 2: 5, for x4.npy), lens_frac.npy (input 3: 2.5),
                lens_neg.npy (input 0: -1), lens_big.npy (input 0: 2^40),
                lens_bool.npy, lens2.npy [2]
fakeids, i32[T] with T from 1 to 8, ids from 0 to 9:
  ids.npy [6, 8] '<i8'  6 sequences of 1 to 8 tokens, -1 after each one's end
  ids_lens.npy [6]; ids_DT.npy the ids as dtype DT (padding 0 for unsigned)
  ids_y_want.npy, ids_ledger_want.jsonl
  ids_full.npy [2, 3] '<i4' (no padding), ids_full_want.npy
  broken ones:  ids_high.npy (input 2, token 4: 10; and 10 in input 1's padding),
                ids_neg.npy (input 5, token 0: -3),
                ids_frac.npy ('<f8', element 9: 0.5), ids_long.npy [2, 9]
"""
import json
import os
import sys

import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
f32 = np.float32


def save(name, a):
    np.save(os.path.join(out, name), a)


def write_ledger(name, recs):
    with open(os.path.join(out, name), "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")


# ---- fakeseq ----------------------------------------------------------------------

W = np.array([[1, -0.5], [0.25, 1]], f32)
B = np.array([0.5, -0.25], f32)
V = np.array([[0.5, 0], [-1, 0.5]], f32)
C = np.array([0, 1], f32)
TE = f32(1)


def fakeseq(x, T):
    """fake_seq.c's fakeseq_run1: (y, exit, flops, margin of the exit test)."""
    h = np.zeros((T, 2), f32)
    for t in range(T):
        for o in range(2):
            h[t, o] = max(f32(B[o] + W[o, 0] * x[t, 0] + W[o, 1] * x[t, 1]), f32(0))
    s = f32(sum(float(h[t] @ h[u]) for t in range(T) for u in range(T)))  # exact
    s = s / f32(T * T)
    m = h.sum(0, dtype=f32) / f32(T)  # the sum is exact
    flops = 8 * T + 4 * T * T
    if s >= TE:
        return m.astype(f32), "exit0", flops, abs(float(s) - 1)
    y = np.array([m[o] + ((V[o, 0] * m[0] + V[o, 1] * m[1]) + C[o]) for o in range(2)], f32)
    return y, "end", flops + 8, abs(float(s) - 1)


rng = np.random.default_rng(20261130)
for attempt in range(1000):
    seqs = (rng.integers(-32, 33, size=(12, 5, 2)) / 16).astype(f32)
    lens = rng.integers(2, 5, size=12)
    runs = [fakeseq(seqs[i], int(lens[i])) for i in range(12)]
    runs3 = [fakeseq(seqs[i], 3) for i in range(12)]
    exits = [r[1] for r in runs]
    if (min(r[3] for r in runs + runs3) > 1e-3 and 3 <= exits.count("exit0") <= 9
            and set(lens) == {2, 3, 4} and lens[4] == 3):
        break
else:
    sys.exit("seq_fixtures.py: no draw gave both exits")

x = np.full((12, 5, 2), np.nan, f32)
for i in range(12):
    x[i, :lens[i]] = seqs[i, :lens[i]]
save("x.npy", x)
save("x4.npy", x[:, :4].copy())
save("x_f8.npy", x.astype("<f8"))
save("lens.npy", lens.astype("<i8"))
for dt in ["|i1", "<i2", "<i4", "|u1", "<u2", "<u4", "<u8", "<f4", "<f8"]:
    save("lens_%s.npy" % np.dtype(dt).name, lens.astype(dt))
save("y_want.npy", np.array([r[0] for r in runs], f32))
write_ledger("ledger_want.jsonl", [
    {"input": i, "tokens": int(lens[i]), "exit": r[1], "flops": r[2],
     "dense_flops": 8 + 8 * int(lens[i]) + 4 * int(lens[i]) ** 2} for i, r in enumerate(runs)])
save("x3.npy", seqs[:, :3].copy())
save("y3_want.npy", np.array([r[0] for r in runs3], f32))
save("one.npy", seqs[4, :3].copy())
save("one_pad.npy", x[4])
save("len1.npy", np.array(3, "<i8"))
save("y_one_want.npy", runs[4][0])

save("x_long.npy", np.zeros((12, 7, 2), f32))
save("x_short.npy", np.zeros((12, 1, 2), f32))
save("x_d3.npy", np.zeros((12, 5, 3), f32))
save("x_int.npy", np.zeros((12, 4, 2), "<i4"))
save("lens_short.npy", lens[:11].copy())
save("lens_2d.npy", lens.reshape(12, 1))
for name, i, v in [("range", 4, 6), ("low", 7, 1), ("over", 2, 5), ("neg", 0, -1),
                   ("big", 0, 2**40)]:
    bad = lens.astype("<i8")
    bad[i] = v
    save("lens_%s.npy" % name, bad)
frac = lens.astype("<f8")
frac[3] = 2.5
save("lens_frac.npy", frac)
save("lens_bool.npy", np.ones(12, bool))
save("lens2.npy", np.array([3, 3]))

# ---- fakeids ----------------------------------------------------------------------


def fakeids(ids):
    T = len(ids)
    m0 = sum(f32(k) / f32(4) for k in ids)  # exact: multiples of 1/8
    m1 = sum(f32(1) - f32(k) / f32(8) for k in ids)
    return np.array([f32(m0) / f32(T), f32(m1) / f32(T)], f32), 2 + 2 * T


ids_lens = np.array([3, 1, 8, 5, 2, 6])
ids = np.full((6, 8), -1, "<i8")
for i, n in enumerate(ids_lens):
    ids[i, :n] = rng.integers(0, 10, size=n)
ids[1, 0] = 9
save("ids.npy", ids)
save("ids_lens.npy", ids_lens)
unsigned = np.where(ids < 0, 0, ids)
for dt in ["|i1", "<i2", "<i4", "|u1", "<u2", "<u4", "<u8", "<f4", "<f8"]:
    src = unsigned if dt[1] == "u" else ids
    save("ids_%s.npy" % np.dtype(dt).name, src.astype(dt))
ids_runs = [fakeids(ids[i, :n]) for i, n in enumerate(ids_lens)]
save("ids_y_want.npy", np.array([r[0] for r in ids_runs], f32))
write_ledger("ids_ledger_want.jsonl", [
    {"input": i, "tokens": int(n), "exit": "end", "flops": ids_runs[i][1],
     "dense_flops": 2 + 2 * int(n)} for i, n in enumerate(ids_lens)])
full = np.array([[1, 2, 3], [9, 0, 4]], "<i4")
save("ids_full.npy", full)
save("ids_full_want.npy", np.array([fakeids(r)[0] for r in full], f32))
high = ids.copy()
high[1, 1:3] = 10  # padding: not read
high[2, 4] = 10
save("ids_high.npy", high)
neg = ids.copy()
neg[5, 0] = -3
save("ids_neg.npy", neg)
frac = ids.astype("<f8")
frac[1, 1] = 0.5
save("ids_frac.npy", frac)
save("ids_long.npy", np.zeros((2, 9), "<i4"))
