"""The Python side of the knobs: getters, per-run settings restored (also
after a failed run), reset(), threads."""
import sys
import threading

import numpy as np

import sluice

m = sluice.load(sys.argv[1])
x = np.load(sys.argv[2])


def state():
    return "%s forced %s budget %s" % (m.thresholds, m.forced_exit, m.budget)


print("defaults:", state())
m.set_threshold("t1", 0.5)
m.force_exit("exit2")
m.set_budget(40000)
print("set: t1", m.threshold("t1"), "forced", m.forced_exit, "budget", m.budget)
y, led = m.run(x, thresholds={"t1": 0.1, "t3": 0.2}, force_exit="never", budget=0)
print("per run: exits", led.exit_counts())
print("after the run:", state())
try:
    m.run(x, thresholds={"t1": 0.1, "t9": 1}, force_exit=0)
except sluice.Error as e:
    print("failed run:", e)
print("after the failed run:", state())
m.reset()
print("reset:", state())
default = m.threads
m.threads = 1
one = m.threads
y1, l1 = m.run(x)
m.threads = 2
two = m.threads
y2, l2 = m.run(x)
m.set_threads(5)
y5, l5 = m.run(x)
m.threads = 0
print("threads 1: %d, threads 2: %d, default: %d" % (one, two, m.threads))
assert m.threads == default
same = (y1.tobytes() == y2.tobytes() == y5.tobytes()
        and l1.to_records() == l2.to_records() == l5.to_records())
print("same bits on 1, 2 and 5 threads:", same)
# Python threads: two models of one library at once, and one model shared
# (its runs serialized): the same bits as alone.
m2 = sluice.load(sys.argv[1], threads=1)
res = {}


def work(key, model):
    for r in range(5):
        res[key, r] = model.run(x)[0].tobytes()


ts = [threading.Thread(target=work, args=(k, mm)) for k, mm in
      (("a", m), ("b", m2), ("c", m))]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("threads running models:", len(res), "runs,",
      "same bits" if set(res.values()) == {y1.tobytes()} else "differ")
m2.close()
y0, l0 = m.run(np.zeros((0, 64), np.float32))
print("empty batch:", y0.shape, len(l0), l0.to_records())
m.close()
