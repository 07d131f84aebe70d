"""Safetensors without the `safetensors` package: save a PyTorch state_dict
(or any mapping of arrays) the way `safetensors.torch.save_file` does, so a
model trained in PyTorch loads in Sluice on a machine without PyPI, and
read one back as NumPy.

    import sluice.safetensors as st
    st.save_state_dict(model, "weights.safetensors")   # nn.Module or state_dict
    tensors, metadata = st.load("weights.safetensors")

Floats keep their width (F32, F16, F64: Sluice converts F16 and F64 to F32
when it opens them); bfloat16 tensors are written as F32; integers
(BatchNorm's num_batches_tracked) as I64, bools as BOOL.  Names and 0-d
shapes are kept.
"""
import json
import os
import struct
from collections import OrderedDict

import numpy as np

_WRITE = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16", np.dtype("<f8"): "F64",
          np.dtype("<i8"): "I64", np.dtype("?"): "BOOL"}
_READ = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1",
         "I8": "i1", "I16": "<i2", "BOOL": "?"}


def as_array(t):
    """A tensor or array-like as a little-endian NumPy array of a kind the
    format holds."""
    if hasattr(t, "detach"):  # torch.Tensor, without importing torch
        t = t.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":
            t = t.float()
        t = t.numpy()
    a = np.asarray(t)
    if a.dtype.kind == "f" and a.dtype.itemsize not in (2, 4, 8):
        a = a.astype(np.float32)
    if a.dtype.kind in "iu":
        a = a.astype(np.int64)
    a = np.asarray(a.astype(a.dtype.newbyteorder("<")), order="C")  # 0-d stays 0-d
    if a.dtype not in _WRITE:
        raise ValueError(f"cannot write dtype {a.dtype} to safetensors")
    return a


def save(path, tensors, metadata=None):
    """Write `tensors` (name -> array or torch tensor, in order) to `path`,
    atomically (a temporary file renamed into place)."""
    header = OrderedDict()
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("the tensor name __metadata__ is reserved")
        a = as_array(t)
        raw = a.tobytes()
        header[name] = OrderedDict([("dtype", _WRITE[a.dtype]),
                                    ("shape", [int(d) for d in a.shape]),
                                    ("data_offsets", [offset, offset + len(raw)])])
        blobs.append(raw)
        offset += len(raw)
    meta = OrderedDict([("format", "pt")])
    if metadata:
        meta.update((str(k), str(v)) for k, v in metadata.items())
    header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def save_state_dict(module_or_state_dict, path, prefix="", metadata=None):
    """An nn.Module's state_dict (or a state_dict) to `path`, each name
    after `prefix` (`prefix="fc."` saves a bare nn.Linear as the model's
    `param fc: dense[...]`)."""
    sd = module_or_state_dict
    if hasattr(sd, "state_dict"):
        sd = sd.state_dict()
    save(path, OrderedDict((prefix + k, v) for k, v in sd.items()), metadata)


def load(path):
    """(OrderedDict name -> NumPy array in file order, metadata dict);
    ValueError naming the file and the tensor when the file is malformed:
    a tensor's bytes not its shape's, a hole or an overlap between tensors,
    bytes after the last."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: the header's length {n} is past the end of the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out = OrderedDict()
    pos = 0
    for name, h in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if h["dtype"] not in _READ:
            raise ValueError(f"{path}: tensor '{name}': dtype {h['dtype']} is not supported")
        dt = np.dtype(_READ[h["dtype"]])
        b, e = h["data_offsets"]
        count = int(np.prod(h["shape"], dtype=np.int64)) if h["shape"] else 1
        if b != pos:
            raise ValueError(f"{path}: tensor '{name}': a hole or an overlap at byte {b}")
        if not b <= e <= len(body) or e - b != count * dt.itemsize:
            raise ValueError(f"{path}: tensor '{name}': {e - b} bytes at {b} for shape "
                             f"{h['shape']} of {h['dtype']}")
        out[name] = np.frombuffer(body[b:e], dtype=dt).reshape(h["shape"]).copy()  # writable
        pos = e
    if pos != len(body):
        raise ValueError(f"{path}: {len(body) - pos} bytes after the last tensor")
    return out, meta
