"""A compiled model as the map step of Dask: run it over a Dask array block by
block, on whatever workers the scheduler has (Debian's python3-dask and
python3-distributed; this module is imported on its own, `import sluice.dask`,
so that `import sluice` never needs Dask).

    import dask, dask.array as da, numpy as np
    from distributed import Client, LocalCluster
    import sluice.dask

    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # one machine
    # client = Client("tcp://scheduler:8786")                         # many machines
    x = da.from_array(np.load("test_x.npy"), chunks=(100, -1))      # rows = inputs
    y, ledger = sluice.dask.run_array("/shared/libdigits_ee.so", x,
                                      thresholds={"t1": 0.95})
    y, records = dask.compute(y, ledger)   # numpy [N, 10], list of N record dicts

`y` is a lazy Dask array (float32 [N, *output_shape], chunked as x's rows),
`ledger` a Dask bag of the per-input records of Ledger.to_records(), in input
order, with "input" the global row index: what the executable's --stats writes
for the whole array.  Compute both in one call (dask.compute(y, ledger), or
persist) so each block runs once; computing them separately runs the blocks
twice (same bits, twice the work).

What is shipped to the workers: the graph holds the library's path, the
weights' path, the thresholds and the blocks of x (and lengths) -- not the
library or the weights.  So the .so and the safetensors file must be readable
at the same path on every worker (a shared filesystem, or the same file copied
to the same place), the sluice package importable there (PYTHONPATH), and, unless
output_shape is given, on the client too (it reads the output shape there).
Each worker process loads the model once (a module-level cache keyed by
(library, weights)) and keeps it; one process's threads share that model, one
run at a time.  The model's own thread count is its default (SLUICE_THREADS,
else every CPU); on a machine with several Dask workers, set SLUICE_THREADS in
the workers' environment to divide the cores.

Results do not depend on the chunking: the runtime is batch invariant (the
same input gives the same bits in any batch, docs/runtime.md), so any chunking,
any number of workers, gives the bits a single Model.run gives.
"""
import os
import threading

import numpy as np

import dask
import dask.array as da
import dask.bag as db

from . import _model

__all__ = ["model", "run_array"]

_models = {}
_models_lock = threading.Lock()


def _key(lib_path, weights):
    return (os.path.abspath(lib_path), os.path.abspath(weights) if weights else None)


def model(lib_path, weights=None):
    """This process's sluice.Model for (lib_path, weights), loaded on first use
    and kept (what each worker runs)."""
    key = _key(lib_path, weights)
    with _models_lock:
        m = _models.get(key)
        if m is None or m.closed:
            m = _model.load(key[0], weights=key[1])
            _models[key] = m
        return m


def _run_block(lib_path, weights, x, lengths, thresholds, first):
    m = model(lib_path, weights)
    y, led = m.run(x, lengths=lengths, thresholds=thresholds)
    return y, led.to_records(first_index=first)


def run_array(lib_path, x, weights=None, thresholds=None, lengths=None, output_shape=None):
    """Run the model of lib_path (sluicec --emit=shared) over the Dask array x,
    [N, *input_shape], one run per block of rows.  x may be chunked along its
    first axis only (other axes are merged into one chunk).  weights: a
    safetensors path, or None (as sluice.load).  thresholds: {name: value},
    applied to every block's run.  lengths: [N] integers (a Dask array,
    rechunked as x's rows, or a NumPy array), a sequence model's token counts.
    output_shape: one input's output shape, to avoid loading the model on the
    client.  Returns (y, ledger): a Dask array and a Dask bag of records."""
    x = da.asarray(x)
    if x.ndim < 1:
        raise _model.Error("x: expected an array of inputs [N, ...], found a scalar")
    if any(len(c) != 1 for c in x.chunks[1:]):
        x = x.rechunk({i: -1 for i in range(1, x.ndim)})
    rows = x.chunks[0]
    if lengths is not None:
        lengths = da.asarray(lengths)
        if lengths.shape != (x.shape[0],):
            raise _model.Error("lengths: expected shape [%d] (one length per input), found [%s]"
                               % (x.shape[0], ", ".join(str(d) for d in lengths.shape)))
        lengths = lengths.rechunk((rows,))
        lblocks = lengths.to_delayed().ravel().tolist()
    else:
        lblocks = [None] * len(rows)
    if output_shape is None:
        output_shape = model(lib_path, weights).info.output_shape
    output_shape = tuple(output_shape)
    lib_path = os.path.abspath(lib_path)
    weights = os.path.abspath(weights) if weights else None
    thresholds = dict(thresholds) if thresholds else None
    run = dask.delayed(_run_block, pure=True, nout=2)
    ys, recs = [], []
    first = 0
    for xb, lb, n in zip(x.to_delayed().ravel().tolist(), lblocks, rows):
        yb, rb = run(lib_path, weights, xb, lb, thresholds, first)
        ys.append(da.from_delayed(yb, (n,) + output_shape, dtype=np.float32))
        recs.append(rb)
        first += n
    if ys:
        y = da.concatenate(ys, axis=0)
    else:
        y = da.zeros((0,) + output_shape, dtype=np.float32)
    return y, db.from_delayed(recs)
