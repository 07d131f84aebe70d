"""Lay a batch of sequences out again, at another token count, with other
padding: only the real tokens must matter.

    %python %S/Inputs/relayout.py X.npy LENS.npy T FILL OUT.npy

LENS: each input's token count, or "-" for inputs as long as X's rows.
T: the token count of the new file (a number, or "longest": the longest
input); an input longer than T is cut to its first T tokens. FILL: what the
padding holds (nan, inf, or a number; for ids, an integer). Keeps X's
dtype. NumPy only.
"""
import sys

import numpy as np

x_path, lens_path, t, fill, out = sys.argv[1:6]
x = np.load(x_path)
if lens_path == "-":
    lens = np.full(x.shape[0], x.shape[1])
else:
    lens = np.load(lens_path).astype(np.int64)
T = int(lens.max()) if t == "longest" else int(t)
y = np.empty((x.shape[0], T) + x.shape[2:], x.dtype)
y[...] = float(fill) if x.dtype.kind == "f" else int(fill)
for i, n in enumerate(lens):
    n = min(n, T)
    y[i, :n] = x[i, :n]
np.save(out, y)
