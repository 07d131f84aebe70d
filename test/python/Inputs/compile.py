"""sluice.compile: default output names, options, embedded weights, the
compiler found through $SLUICEC."""
import os
import sys

import numpy as np

import sluice

ex = sys.argv[1]
src = os.path.join(ex, "early_exit", "digits_ee.slu")
x = np.load(os.path.join(ex, "early_exit", "test_x.npy"))
print("sluicec:", sluice.find_sluicec() == os.environ["SLUICEC"])
so = sluice.compile(src)
print("default:", os.path.relpath(so), os.path.isabs(so))
so0 = sluice.compile(src, output="sub/libee_O0.so", opt=0)
print("-O0:", os.path.relpath(so0))
weights = os.path.join(ex, "early_exit", "digits_ee.safetensors")
emb = sluice.compile(src, output="libee_embedded.so", extra_args=["--embed-weights=" + weights])
exe = sluice.compile(src, emit="exe")
print("exe:", os.path.relpath(exe), os.access(exe, os.X_OK))
ys = []
for path in (so, so0, emb):
    with sluice.load(path, model="digits_ee" if path == so0 else None) as m:
        y, led = m.run(x)
        ys.append((y, led.to_records()))
        print("%s: embedded weights %s" % (os.path.basename(path), m.info.embedded_weights > 0))
print("same bits (default, -O0, embedded):",
      ys[0][0].tobytes() == ys[1][0].tobytes() == ys[2][0].tobytes()
      and ys[0][1] == ys[1][1] == ys[2][1])
# Without $SLUICEC and with nothing on PATH: the repository's build.
del os.environ["SLUICEC"]
os.environ["PATH"] = "/nonexistent"
try:
    print("fallback:", sluice.find_sluicec())
except sluice.Error as e:
    print("fallback:", e)
