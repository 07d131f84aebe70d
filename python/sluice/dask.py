"""A compiled model as the map step of Dask: run it over a Dask array or
dataframe block by block, on whatever workers the scheduler has (Debian's
python3-dask, python3-distributed and, for dataframes, python3-pandas; this
module is imported on its own, `import sluice.dask`, so that `import sluice`
never needs Dask).

    import dask, dask.array as da, numpy as np
    from distributed import Client, LocalCluster
    import sluice.dask

    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # one machine
    # client = Client("tcp://scheduler:8786")                         # many machines
    client.register_worker_plugin(sluice.dask.ModelPlugin("/shared/libdigits_ee.so",
                                                          threads=1))
    x = da.from_array(np.load("test_x.npy"), chunks=(100, -1))      # rows = inputs
    y, ledger = sluice.dask.run_array("/shared/libdigits_ee.so", x,
                                      thresholds={"t1": 0.95}, ledger="table")
    y, table = dask.compute(y, ledger)   # numpy [N, 10], structured [N]

One code path for both kinds of data: every block of rows (an array's chunk
along its first axis, a dataframe's partition) is one task that runs the
model on it (Model.run) and returns its outputs and its ledger, the rows
numbered globally (in block order).

  run_array(lib, x)   y and the ledger as Dask arrays chunked as x's rows:
                      y [N, *output_shape] float32; the ledger [N], the
                      records (Ledger.to_records(): the executable's --stats,
                      as dicts) or, ledger="table", a structured dtype
  run_frame(lib, df, columns=...)
                      y and the ledger as Dask dataframes with df's index and
                      divisions: y's columns y0, y1, ...; the ledger a table

The table's columns: input (int64, the global row number), tokens (a
sequence model's), exit (the exit's name or "end": a pandas Categorical of
them in order in a DataFrame, a string in a structured array), flops,
dense_flops (float64), then every decision's raw ledger slots, int32 (-1 not
reached, -2 a choice not taken): "gates.NAME", "routes.NAME[k]",
"blocks.NAME[k]", per token "routes.NAME[t][k]", "selected.NAME[t][k]" -- the
keys of the records.  pandas.DataFrame(table) makes a computed structured
table a DataFrame.

Compute y and the ledger in one call (dask.compute(y, ledger), or persist)
so each block runs once.  Both are of the same kind (arrays, or dataframes)
on purpose: Dask optimizes each kind of collection on its own, and the array
and bag optimizers fuse a block's task into its consumers, so a task shared
by an array and a dataframe (or bag) computed together runs twice.  Keep a
computation's collections of one kind (y.argmax(axis=1) with run_array's
ledger; df columns with run_frame's), or pass optimize_graph=False.

What is shipped to the workers: the graph holds the library's path, the
weights' path, the thresholds and the blocks of x (or the tasks that make
them) -- not the library or the weights.  So either the .so and the
safetensors file are readable at the same path on every worker (a shared
filesystem, or the same file copied to the same place), or ModelPlugin(...,
upload=True) carries their bytes to each worker once, which writes them to
its local directory and loads them from there.  The sluice package must be
importable on the workers (PYTHONPATH).  The client loads the model too, to
read its shapes and ledger layout (not for ledger="records" with
output_shape given).

Each worker process loads the model once and keeps it: a ModelPlugin loads
it when the worker starts (or when the plugin is registered), else the first
task does (sluice.dask.model, a cache keyed by (library, weights)).  One
process's threads share that model, one run at a time.  Its thread count is
the plugin's threads, else the default (SLUICE_THREADS, else every CPU): with
several workers on one machine, divide the cores (threads=1 per worker of one
thread).

Results do not depend on the blocks: the runtime is batch invariant (the
same input gives the same bits in any batch, docs/runtime.md), so any
chunking, any number of workers, gives the bits a single Model.run gives.
"""
import collections
import hashlib
import operator
import os
import threading

import numpy as np

import dask
import dask.array as da

try:  # dataframes and the ledger as a DataFrame; the array path does without
    import pandas as pd
except ImportError:
    pd = None
try:  # the plugin's base class; sluice.dask also runs on Dask's local schedulers
    from distributed import WorkerPlugin as _PluginBase
except ImportError:
    _PluginBase = object

from . import _model

__all__ = ["ModelPlugin", "ledger_meta", "model", "run_array", "run_frame"]

_models = {}
_models_lock = threading.Lock()


def _key(lib_path, weights):
    return (os.path.abspath(lib_path), os.path.abspath(weights) if weights else None)


def model(lib_path, weights=None):
    """This process's sluice.Model for (lib_path, weights): the one a
    ModelPlugin loaded, else loaded on first use and kept (what each worker
    runs)."""
    key = _key(lib_path, weights)
    with _models_lock:
        m = _models.get(key)
        if m is None or m.closed:
            m = _model.load(key[0], weights=key[1])
            _models[key] = m
        return m


class ModelPlugin(_PluginBase):
    """A Dask worker plugin that loads a model in every worker, once, when
    the plugin is registered and in every worker that joins later; the tasks
    of run_array and run_frame then reuse it.  Register it before computing:

        client.register_worker_plugin(sluice.dask.ModelPlugin(lib, threads=1))

    A library that cannot be loaded fails the registration, on the client,
    with the worker's sluice.Error.  threads: the model's threads on each
    worker (None: the default).  upload=True: the plugin carries the
    library's bytes (and the weights') to each worker, which writes them to
    its local directory and loads them from there: nothing needs to be at
    lib_path on the workers.  Tasks still name the model by the client's
    paths.  One plugin per (library, weights): registering another for the
    same files replaces it."""

    def __init__(self, lib_path, weights=None, threads=None, upload=False):
        self.key = _key(lib_path, weights)
        self.threads = threads
        self.files = None
        digest = hashlib.sha256(repr(self.key).encode()).hexdigest()[:16]
        self.name = "sluice-model-" + digest
        if upload:
            paths = list(self.key)
            if weights is None:  # the weights the model opens by default: ship them too
                info = model(lib_path).info
                if not info.embedded_weights and info.default_weights:
                    paths[1] = os.path.abspath(info.default_weights)
            files = []
            for path in paths:
                if path is None:
                    files.append(None)
                    continue
                try:
                    with open(path, "rb") as f:
                        files.append((os.path.basename(path), f.read()))
                except OSError as e:
                    raise _model.Error("%s: cannot read: %s" % (path, e.strerror)) from None
            h = hashlib.sha256()
            for f in files:
                h.update(f[1] if f else b"")
            self.files = (h.hexdigest()[:16], files)
        self.model = None

    def _local_files(self, worker):
        """Write the uploaded files to the worker's local directory (once per
        content: a directory named by their hash); their paths."""
        digest, files = self.files
        where = os.path.join(worker.local_directory, "sluice-" + digest)
        os.makedirs(where, exist_ok=True)
        paths = []
        for f in files:
            if f is None:
                paths.append(None)
                continue
            name, data = f
            path = os.path.join(where, name)
            if not (os.path.exists(path) and os.path.getsize(path) == len(data)):
                tmp = "%s.%d.tmp" % (path, os.getpid())
                with open(tmp, "wb") as out:
                    out.write(data)
                os.replace(tmp, path)
            paths.append(path)
        return paths

    def setup(self, worker):
        lib, weights = self._local_files(worker) if self.files else self.key
        m = _model.load(lib, weights=weights, threads=self.threads)
        with _models_lock:
            old = _models.get(self.key)
            _models[self.key] = m
        if old is not None and old is not m:
            old.close()  # a model loaded before the plugin (by a task, or another plugin)
        self.model = m

    def teardown(self, worker):
        m, self.model = self.model, None
        if m is None:
            return
        with _models_lock:
            if _models.get(self.key) is m:
                del _models[self.key]
        m.close()


# How a block becomes the model's input and what it gives back (picklable:
# it travels with every task).
_Spec = collections.namedtuple("_Spec", "ledger columns lengths output_columns")


def _frame_inputs(info, part, columns):
    """A dataframe partition's columns as the model's x: [n, *input_shape],
    or for a sequence model [n, T, *token_shape] with T from the columns."""
    a = part[list(columns)].to_numpy()
    if info.input_dtype == "float32" and a.dtype.kind in "iub":
        a = a.astype(np.float64)  # what the model takes; Model.run makes it float32
    n, k = a.shape
    shape = info.input_shape
    size = int(np.prod(shape))
    if info.tokens:
        per = size // shape[0]  # one token's elements
        if k % per or k == 0:
            raise _model.Error("columns: %d columns do not make %s tokens of %d elements "
                               "(model '%s' takes %s)" % (k, info.tokens.name, per, info.name,
                                                         info.input_str))
        return a.reshape((n, k // per) + tuple(shape[1:]))
    if k != size:
        raise _model.Error("columns: %d columns, but model '%s' takes %s: %d elements per input"
                           % (k, info.name, info.input_str, size))
    return a.reshape((n,) + tuple(shape))


def _output_columns(info):
    return ["y%d" % i for i in range(int(np.prod(info.output_shape)))]


def _slot_columns(led):
    """(column name, [N] int32 slots) for every decision's ledger slots."""
    key = {"gate": "gates", "route": "routes", "blocks": "blocks", "tokens": "selected"}
    out = []
    # Ledger.decisions holds them in the descriptor's order (a repeated name
    # as NAME#2...).
    for d, (name, v) in zip(led.info.decisions, led.decisions.items()):
        prefix = "%s.%s" % (key.get(d.kind, d.kind), name)
        if v.ndim == 3:
            for t in range(v.shape[1]):
                for k in range(v.shape[2]):
                    out.append(("%s[%d][%d]" % (prefix, t, k), v[:, t, k]))
        elif v.shape[1] == 1 and d.kind == "gate":
            out.append((prefix, v[:, 0]))
        else:
            for k in range(v.shape[1]):
                out.append(("%s[%d]" % (prefix, k), v[:, k]))
    return out


def _table(led, first, index=None, frame=False):
    """A block's ledger as a table, rows numbered from `first`: a NumPy
    structured array, or (frame) a pandas DataFrame indexed by `index`."""
    info = led.info
    n = len(led)
    n_exits = len(info.exits)
    names = list(info.exits) + ["end"]
    codes = np.where((led.exits >= 0) & (led.exits < n_exits), led.exits, n_exits)
    cols = [("input", np.arange(first, first + n, dtype=np.int64))]
    if led.tokens is not None:
        cols.append(("tokens", np.asarray(led.tokens, dtype=np.int32)))
    if frame and len(set(names)) == len(names):
        cols.append(("exit", pd.Categorical.from_codes(codes.astype(np.int32), categories=names)))
    else:
        width = max(len(s) for s in names)
        cols.append(("exit", np.array(names, dtype="U%d" % width)[codes]))
    cols.append(("flops", np.asarray(led.flops, dtype=np.float64)))
    cols.append(("dense_flops", np.asarray(led.dense_flops, dtype=np.float64)))
    cols += [(c, np.ascontiguousarray(v, dtype=np.int32)) for c, v in _slot_columns(led)]
    if frame:
        return pd.DataFrame(dict(cols), index=index)
    t = np.empty(n, dtype=[(c, v.dtype) for c, v in cols])
    for c, v in cols:
        t[c] = v
    return t


def _records(led, first):
    """The block's records as a NumPy array of dicts (one Dask array of them
    for the whole input: see run_array)."""
    recs = led.to_records(first_index=first)
    a = np.empty(len(recs), dtype=object)
    for i, r in enumerate(recs):
        a[i] = r
    return a


def ledger_meta(info, index=None, frame=False):
    """The ledger table of a model with no rows: its columns and dtypes, as
    run_array(..., ledger="table") (a structured dtype) or run_frame (frame:
    a DataFrame with `index`) give them."""
    led = _model.Ledger(info, np.zeros(0, np.int32), np.zeros((0, info.n_slots), np.int32),
                        np.zeros(0), np.zeros(0), np.zeros(0, np.int32) if info.tokens else None)
    return _table(led, 0, index if index is not None or not frame else pd.RangeIndex(0),
                  frame)


def _run_block(lib_path, weights, x, lengths, thresholds, first, spec):
    """One task: the model over one block of rows; (y, its ledger part)."""
    m = model(lib_path, weights)
    index = None
    if spec.columns is not None:  # a dataframe partition
        index = x.index
        if spec.lengths is not None:
            lengths = x[spec.lengths].to_numpy()
        x = _frame_inputs(m.info, x, spec.columns)
    y, led = m.run(x, lengths=lengths, thresholds=thresholds)
    if spec.ledger == "records":
        part = _records(led, first)
    else:
        part = _table(led, first, index, frame=index is not None)
    if index is not None:
        y = pd.DataFrame(y.reshape(len(y), -1), index=index, columns=spec.output_columns)
    return y, part


def _run_blocks(lib_path, weights, xblocks, lblocks, firsts, thresholds, spec):
    """The tasks, one per block: [delayed (y, part)]."""
    lib_path = os.path.abspath(lib_path)
    weights = os.path.abspath(weights) if weights else None
    thresholds = dict(thresholds) if thresholds else None
    run = dask.delayed(_run_block, pure=True, nout=2)
    return [run(lib_path, weights, xb, lb, thresholds, f, spec)
            for xb, lb, f in zip(xblocks, lblocks, firsts)]


def run_array(lib_path, x, weights=None, thresholds=None, lengths=None, output_shape=None,
              ledger="records"):
    """Run the model of lib_path (sluicec --emit=shared) over the Dask array x,
    [N, *input_shape], one run per block of rows.  x may be chunked along its
    first axis only (other axes are merged into one chunk).  weights: a
    safetensors path, or None (as sluice.load).  thresholds: {name: value},
    applied to every block's run.  lengths: [N] integers (a Dask array,
    rechunked as x's rows, or a NumPy array), a sequence model's token counts.
    output_shape: one input's output shape, to avoid loading the model on the
    client (ledger="records" only).  ledger: "records", a Dask array [N] of
    the records (dicts, dtype object), or "table", a Dask array [N] of a
    structured dtype (ledger_meta).  Returns (y, ledger): two Dask arrays
    chunked as x's rows, y float32 [N, *output_shape]."""
    if ledger not in ("records", "table"):
        raise _model.Error("ledger: 'records' or 'table', not %r" % (ledger,))
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
        lblocks = lengths.to_delayed(optimize_graph=False).ravel().tolist()
    else:
        lblocks = [None] * len(rows)
    dtype = object
    if output_shape is None or ledger == "table":
        info = model(lib_path, weights).info
        output_shape = info.output_shape
        if ledger == "table":
            dtype = ledger_meta(info).dtype
    output_shape = tuple(output_shape)
    firsts = np.concatenate([[0], np.cumsum(rows)]).astype(int).tolist()
    # The blocks' graph as x has it, not optimized apart: computed with other
    # collections made from x, it is optimized once, with them.
    xblocks = x.to_delayed(optimize_graph=False).ravel().tolist()
    outs = _run_blocks(lib_path, weights, xblocks, lblocks, firsts[:-1], thresholds,
                       _Spec(ledger, None, None, None))
    ys = [da.from_delayed(o[0], (n,) + output_shape, dtype=np.float32)
          for o, n in zip(outs, rows)]
    parts = [da.from_delayed(o[1], (n,), dtype=dtype) for o, n in zip(outs, rows)]
    if not ys:
        return (da.zeros((0,) + output_shape, dtype=np.float32),
                da.from_array(np.zeros(0, dtype=dtype)))
    return da.concatenate(ys, axis=0), da.concatenate(parts)


def run_frame(lib_path, df, columns=None, weights=None, thresholds=None, lengths=None,
              output_columns=None):
    """Run the model over the Dask dataframe df, one run per partition, each
    row an input.  columns: the columns that make one input, in order
    (default: every column but `lengths`); their values are the input's
    elements in C order (a sequence model's: T tokens' elements, token by
    token, T = the number of columns / one token's elements).  lengths: the
    name of a column of token counts (a sequence model's).  output_columns:
    names of the output's elements (default y0, y1, ...).  weights and
    thresholds as run_array.  The client loads the model (shapes, ledger
    layout).  Returns (y, ledger): two Dask dataframes with df's index and
    divisions, y the outputs (float32 columns), ledger the table (its input
    column numbers the rows globally, in partition order)."""
    if pd is None:
        raise _model.Error("run_frame needs pandas (Debian's python3-pandas)")
    import dask.dataframe as dd

    if not isinstance(df, dd.DataFrame):
        raise _model.Error("df: expected a Dask dataframe, found %s" % type(df).__name__)
    have = list(df.columns)
    if lengths is not None and lengths not in have:
        raise _model.Error("lengths: no column %r" % (lengths,))
    if columns is None:
        columns = [c for c in have if c != lengths]
    columns = list(columns)
    missing = [c for c in columns if c not in have]
    if missing:
        raise _model.Error("columns: no column %s" % ", ".join(repr(c) for c in missing))
    info = model(lib_path, weights).info
    if output_columns is None:
        output_columns = _output_columns(info)
    output_columns = list(output_columns)
    if len(output_columns) != int(np.prod(info.output_shape)):
        raise _model.Error("output_columns: %d names, but model '%s' has %d output elements"
                           % (len(output_columns), info.name, int(np.prod(info.output_shape))))
    _frame_inputs(info, df._meta, columns)  # the column count, before anything runs
    parts = df.to_delayed(optimize_graph=False)
    # Global row numbers: each partition's first is the sum of the lengths
    # before it (small tasks, chained; the partitions' own lengths).
    size = dask.delayed(len, pure=True)
    firsts = [0]
    for p in parts[:-1]:
        firsts.append(dask.delayed(operator.add, pure=True)(firsts[-1], size(p)))
    spec = _Spec("table", columns, lengths, output_columns)
    outs = _run_blocks(lib_path, weights, parts, [None] * len(parts), firsts, thresholds, spec)
    index = df._meta.index
    ymeta = pd.DataFrame({c: np.zeros(0, np.float32) for c in output_columns}, index=index)
    y = dd.from_delayed([o[0] for o in outs], meta=ymeta, divisions=df.divisions,
                        verify_meta=False)
    ledger = dd.from_delayed([o[1] for o in outs], meta=ledger_meta(info, index, frame=True),
                             divisions=df.divisions, verify_meta=False)
    return y, ledger
