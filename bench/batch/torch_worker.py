"""Time a model's compacted PyTorch inference (models.compacted), in-process,
for bench/run-batch.

    /usr/bin/python3 bench/batch/torch_worker.py MODEL DIR

DIR holds weights.safetensors, thresholds.json and inputs.npy [N, 64] (from
bench/batch/train.py).  Prints one line, "info torch=VERSION n=N blas=CORE",
then answers commands on stdin, one line each, as bench/batch/time_model.c
does:

  run BATCH THREADS MIN_SECONDS  ->  us US_PER_INPUT passes P
  quit

THREADS sets both torch's intra-op threads (torch.set_num_threads) and
OpenBLAS's, which Debian's torch calls for its matrix products through
libblas.so.3 and which torch.set_num_threads does not control.  A pass runs
ceil(N / BATCH) calls over BATCH rows each, the inputs tiled cyclically
(BATCH 1: one input per call); eager mode, under torch.no_grad().  After one
untimed pass, passes repeat until MIN_SECONDS have gone by.
"""
import ctypes
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "common"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import models  # noqa: E402
import slutil  # noqa: E402


def load(name, d):
    """The trained net, its thresholds and the inputs of DIR."""
    net, th = models.load_trained(name, d)
    return net, th, torch.from_numpy(np.load(os.path.join(d, "inputs.npy")))


def openblas():
    """libblas.so.3 if it is OpenBLAS (Debian's alternatives), else None."""
    try:
        lib = ctypes.CDLL("libblas.so.3")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib
    except (OSError, AttributeError):
        return None


def set_threads(n, blas):
    torch.set_num_threads(n)
    if blas is not None:
        blas.openblas_set_num_threads(n)


def time_batch(name, net, th, x, batch, min_seconds):
    n = x.shape[0]
    calls = -(-n // batch)
    xt = x[torch.arange(calls * batch) % n]  # tiled
    chunks = [xt[c * batch:(c + 1) * batch] for c in range(calls)]
    p, t0, elapsed = -1, 0.0, 0.0
    while p < 1 or elapsed < min_seconds:  # pass -1: warm-up
        if p == 0:
            t0 = time.perf_counter()
        for c in chunks:
            models.compacted(name, net, c, th)
        if p >= 0:
            elapsed = time.perf_counter() - t0
        p += 1
    return elapsed / (p * calls * batch) * 1e6, p


def main():
    name, d = sys.argv[1], sys.argv[2]
    net, th, x = load(name, d)
    blas = openblas()
    core = blas.openblas_get_corename().decode() if blas is not None else "not OpenBLAS"
    print(f"info torch={torch.__version__} n={x.shape[0]} blas={core}", flush=True)
    with torch.no_grad():
        for line in sys.stdin:
            w = line.split()
            if w and w[0] == "quit":
                break
            if len(w) == 4 and w[0] == "run":
                set_threads(int(w[2]), blas)
                us, passes = time_batch(name, net, th, x, int(w[1]), float(w[3]))
                print(f"us {us:.4f} passes {passes}", flush=True)
            else:
                print("error bad command", flush=True)


if __name__ == "__main__":
    main()
