"""Check static_ids' outputs against numpy: the table's rows for each id,
through fc, columns 0 and 5 of each.  argv: weights ids.npy y.npy"""
import json
import struct
import sys

import numpy as np

weights, ids_path, y_path = sys.argv[1:4]
raw = open(weights, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
t = {k: np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                      dtype=np.float32).reshape(v["shape"])
     for k, v in header.items() if k != "__metadata__"}
ids = np.load(ids_path)
h = t["emb.weight"][ids] @ t["fc.weight"].T + t["fc.bias"]
ref = np.concatenate([h[:, 0], h[:, 5]], 1)
y = np.load(y_path)
diff = float(np.abs(y - ref).max()) if y.shape == ref.shape else float("inf")
print(f"{len(ids)} inputs, shape {'equal' if y.shape == ref.shape else y.shape}, "
      f"{'within 1e-5' if diff <= 1e-5 else f'max difference {diff}'}")
