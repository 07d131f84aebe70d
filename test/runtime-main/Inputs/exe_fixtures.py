"""Small files for the model executable's tests, made from the examples.

    %python %S/Inputs/exe_fixtures.py %examples OUTDIR

Writes into OUTDIR (standard library and NumPy only; deterministic):
  weights, from examples/early_exit/digits_ee.safetensors:
    missing.safetensors      without 'head2.bias'
    wrong_shape.safetensors  'fc2.weight' transposed, [64, 128]
    int_dtype.safetensors    'fc1.bias' stored as I32
    prefixed.safetensors     every name as 'module.NAME' (a wrapped state_dict)
    broken.safetensors       the header's JSON with its first '{' replaced
    f16.safetensors          every tensor as F16 (loads, converted)
    f64.safetensors          every tensor as F64 (loads, converted exactly)
    f64_big.safetensors      the same with fc2.weight[3, 5] = 1e39 (beyond F32)
  inputs, from examples/early_exit/test_x.npy and test_labels.npy:
    x5.npy [5, 64] f4, x5_f8.npy the same as '<f8', x1.npy [64] (one input),
    x0.npy [0, 64], x_wrong.npy [5, 63], x_rank3.npy [5, 8, 8],
    x_trunc.npy (x5.npy without its last 3 bytes)
    labels5.npy [5], labels4.npy [4], labels_frac.npy [5] (one is 2.5),
    labels_range.npy [5] (one is 10), label1.npy (rank 0, for x1.npy)
"""
import json
import os
import struct
import sys

import numpy as np

examples, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(examples, "common"))
from slutil import load_safetensors, save_safetensors  # noqa: E402

ee = os.path.join(examples, "early_exit")
os.makedirs(out, exist_ok=True)


def path(name):
    return os.path.join(out, name)


def save_raw(name, tensors):
    """tensors: [(name, dtype, shape, bytes)]; a header padded to 8 bytes."""
    header, data, at = {}, b"", 0
    for tname, dtype, shape, raw in tensors:
        header[tname] = {"dtype": dtype, "shape": list(shape), "data_offsets": [at, at + len(raw)]}
        data += raw
        at += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path(name), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


weights, _ = load_safetensors(os.path.join(ee, "digits_ee.safetensors"))

w = dict(weights)
del w["head2.bias"]
save_safetensors(path("missing.safetensors"), w)

w = dict(weights)
w["fc2.weight"] = np.ascontiguousarray(weights["fc2.weight"].T)
save_safetensors(path("wrong_shape.safetensors"), w)

save_safetensors(path("prefixed.safetensors"), {"module." + k: v for k, v in weights.items()})

save_raw("int_dtype.safetensors",
         [(k, "I32", v.shape, np.zeros(v.shape, "<i4").tobytes()) if k == "fc1.bias"
          else (k, "F32", v.shape, v.astype("<f4").tobytes()) for k, v in weights.items()])

save_raw("f16.safetensors",
         [(k, "F16", v.shape, v.astype("<f2").tobytes()) for k, v in weights.items()])

save_raw("f64.safetensors",
         [(k, "F64", v.shape, v.astype("<f8").tobytes()) for k, v in weights.items()])
big = weights["fc2.weight"].astype("<f8")
big[3, 5] = 1e39
save_raw("f64_big.safetensors",
         [(k, "F64", v.shape, (big if k == "fc2.weight" else v.astype("<f8")).tobytes())
          for k, v in weights.items()])

raw = bytearray(open(os.path.join(ee, "digits_ee.safetensors"), "rb").read())
raw[8] = ord("[")
with open(path("broken.safetensors"), "wb") as f:
    f.write(bytes(raw))

x = np.load(os.path.join(ee, "test_x.npy")).astype("<f4")
labels = np.load(os.path.join(ee, "test_labels.npy"))
np.save(path("x5.npy"), x[:5])
np.save(path("x5_f8.npy"), x[:5].astype("<f8"))
np.save(path("x1.npy"), x[0])
np.save(path("x0.npy"), x[:0])
np.save(path("x_wrong.npy"), np.ascontiguousarray(x[:5, :63]))
np.save(path("x_rank3.npy"), x[:5].reshape(5, 8, 8))
with open(path("x5.npy"), "rb") as f:
    whole = f.read()
with open(path("x_trunc.npy"), "wb") as f:
    f.write(whole[:-3])
np.save(path("labels5.npy"), labels[:5].astype("<f4"))
np.save(path("labels4.npy"), labels[:4].astype("<f4"))
frac = labels[:5].astype("<f4")
frac[3] = 2.5
np.save(path("labels_frac.npy"), frac)
bad = labels[:5].astype("<f4")
bad[1] = 10
np.save(path("labels_range.npy"), bad)
np.save(path("label1.npy"), np.array(labels[0], dtype="<f4"))
