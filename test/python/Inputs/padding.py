"""A sequence model's padding is never read: NaN in the padding, or the
inputs laid out at their own longest length, give the same bits and the
same ledger."""
import sys

import numpy as np

import sluice

m = sluice.load(sys.argv[1])
x, lens = np.load(sys.argv[2]), np.load(sys.argv[3])
y, led = m.run(x, lengths=lens)
xn = x.copy()
for i, t in enumerate(lens):
    xn[i, t:] = np.nan
yn, ln = m.run(xn, lengths=lens)


def same(what, ya, la, yb, rb):
    bits = "same bits" if ya.tobytes() == yb.tobytes() else "bits differ"
    recs = "same records" if la.to_records() == rb else "records differ"
    print("%s: %s, %s" % (what, bits, recs))


same("NaN padding", yn, ln, y, led.to_records())
# The inputs of at most 6 tokens, laid out at 6 tokens (not the model's 8),
# in a batch of their own: the same bits and records (but "input").
idx = np.flatnonzero(lens <= 6)
assert len(idx) > 10 and lens[idx].max() == 6
ys, ls = m.run(np.ascontiguousarray(xn[idx, :6]), lengths=lens[idx].astype(np.int64))
recs = led.to_records()
want = [dict(recs[i], input=k) for k, i in enumerate(idx)]
same("own lengths layout", ys, ls, y[idx], want)
