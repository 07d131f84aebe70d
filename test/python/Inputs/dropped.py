"""Count a per-token route's slots: taken, not taken (-2), not reached (-1)."""
import sys

import numpy as np

import sluice

m = sluice.load(sys.argv[1])
y, led = m.run(np.load(sys.argv[2]), lengths=np.load(sys.argv[3]))
for name, v in led.decisions.items():
    print("%s: %s: %d taken, %d not taken (-2), %d not reached (-1)" % (
        name, v.shape, (v >= 0).sum(), (v == -2).sum(), (v == -1).sum()))
