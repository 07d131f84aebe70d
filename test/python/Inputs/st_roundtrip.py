"""sluice.safetensors: write tensors of every kind the format holds, read
them back equal; then a dense layer saved as F32, F16 and F64 runs in a
compiled model (its shared library) and gives x @ W.T + b as NumPy does.
With torch: an nn.Linear's state_dict saved by save_state_dict gives
torch's own output.

    st_roundtrip.py WORKDIR SLUICEC"""
import os
import subprocess
import sys
from collections import OrderedDict

import numpy as np

import sluice
import sluice.safetensors as st

work, sluicec = sys.argv[1:3]
g = np.random.default_rng(3)
kinds = OrderedDict([("a.f32", g.standard_normal((3, 4)).astype(np.float32)),
                     ("b.f16", g.standard_normal(5).astype(np.float16)),
                     ("c.f64", g.standard_normal((2, 2))),
                     ("d.i64", np.array(7, np.int64)),
                     ("e.bool", np.array([True, False]))])
st.save(os.path.join(work, "kinds.safetensors"), kinds, {"note": "x"})
back, meta = st.load(os.path.join(work, "kinds.safetensors"))
same = list(back) == list(kinds) and all(
    np.array_equal(back[k], np.asarray(v, back[k].dtype)) and back[k].shape == np.shape(v)
    for k, v in kinds.items())
print(f"round trip: {len(back)} tensors, {'equal' if same else 'DIFFERENT'}, "
      f"dtypes {[str(a.dtype) for a in back.values()]}, metadata {meta}")

slu = os.path.join(work, "lin.slu")
with open(slu, "w") as f:
    f.write("model lin {\n  input x: f32[4]\n  output y: f32[3]\n  param fc: dense[4 -> 3]\n"
            "  y = fc(x)\n}\n")
lib = sluice.compile(slu, output=os.path.join(work, "liblin.so"))
W = g.standard_normal((3, 4)).astype(np.float32)
b = g.standard_normal(3).astype(np.float32)
x = g.standard_normal((6, 4)).astype(np.float32)
for dt in (np.float32, np.float16, np.float64):
    path = os.path.join(work, f"lin_{np.dtype(dt).name}.safetensors")
    st.save(path, OrderedDict([("fc.weight", W.astype(dt)), ("fc.bias", b.astype(dt))]))
    Wd, bd = W.astype(dt).astype(np.float64), b.astype(dt).astype(np.float64)
    with sluice.load(lib, weights=path) as m:
        y = m.run(x)[0]
    err = np.abs(y - (x.astype(np.float64) @ Wd.T + bd)).max()
    print(f"{np.dtype(dt).name} weights: max difference {'< 1e-5' if err < 1e-5 else err}")

try:
    import torch
except ImportError:
    torch = None
if torch is not None:
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 3)
    st.save_state_dict(lin, os.path.join(work, "torch.safetensors"), prefix="fc.")
    with sluice.load(lib, weights=os.path.join(work, "torch.safetensors")) as m:
        y = m.run(x)[0]
    with torch.no_grad():
        ref = lin(torch.from_numpy(x)).numpy()
    err = np.abs(y - ref).max()
    print(f"torch state_dict: max difference {'< 1e-5' if err < 1e-5 else err}")
