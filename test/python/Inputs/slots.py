"""The raw slots of per-token decisions, as Ledger.decisions gives them."""
import sys

import numpy as np

import sluice

m = sluice.load(sys.argv[1])
x, lens = np.load(sys.argv[2]), np.load(sys.argv[3])
y, led = m.run(x, lengths=lens)
past, real = True, True
for d in m.info.decisions:
    v = led.decisions[d.name]
    print(d.name, v.shape)
    for i, t in enumerate(lens):
        n = d.tok_a * t + d.tok_c
        past &= bool((v[i, n:] == -1).all())
        real &= bool(((v[i, :n] >= 0) & (v[i, :n] < d.choices)).all())
        real &= all(len(set(r)) == d.count for r in v[i, :n].tolist())
print("past the real tokens:", "all -1" if past else "not all -1")
print("real tokens:", "every choice an expert, 2 distinct" if real else "bad choices")
