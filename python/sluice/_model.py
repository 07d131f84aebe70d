"""A compiled model loaded from a shared object: Model, Info, Ledger."""
import ctypes
import dataclasses
import json
import os
import threading
from typing import Dict, List, Optional, Tuple

import numpy as np

from . import _capi
from ._capi import SL_FORCE_NEVER, SL_FORCE_NONE, message, text


class Error(Exception):
    """A failure, with the runtime's one-line message (no "error:" prefix)."""

    def __init__(self, msg):
        super().__init__(msg)
        self.msg = msg


# ---- the descriptor, as Python values ---------------------------------------

@dataclasses.dataclass(frozen=True)
class Decision:
    """A decision site (sl_decision_desc) and where its ledger slots are."""
    name: str
    kind: str           # "gate", "route", "blocks" or "tokens"
    line: int
    col: int
    slot: int           # first ledger slot
    count: int          # slots (per token when per_token)
    choices: int        # 2 arms, experts in the bank, or blocks
    per_token: bool     # decided per token: count slots for each of `rows` tokens
    rows: int           # per token: the tokens laid out (0: decided per input)
    tok_a: int          # per token: the real tokens are tok_a * T + tok_c
    tok_c: int
    per_expert: int     # expert choice: tokens each expert takes (0 otherwise)

    @property
    def slots(self):
        """How many ledger slots the decision uses in all."""
        return self.count * (self.rows if self.per_token else 1)


@dataclasses.dataclass(frozen=True)
class Relu:
    """A ReLU counted by a model compiled with -fzero-stats (sl_relu_desc)."""
    name: str           # the dense layer it follows ("fc1"), else "relu@LINE:COL"
    line: int
    col: int
    slot: int           # ledger slots [slot, slot + 2): zeros, elements computed
    width: int          # units (a vector's elements, a matrix's or sequence's columns)
    dense_out: int      # outputs of the dense layers reading it (2 FLOPs per zero each)
    zero_skip: bool     # those layers' kernel skips zero inputs (for a row alone)


@dataclasses.dataclass(frozen=True)
class Tokens:
    """A sequence model's token dimension: name, and the counts it takes."""
    name: str
    min: int
    max: int


@dataclasses.dataclass(frozen=True)
class Info:
    """What the model's descriptor says (sl_model_desc), read once at load."""
    name: str
    source: str
    default_weights: Optional[str]
    embedded_weights: int                 # bytes of embedded weights; 0: none
    input_name: str
    input_dtype: str                      # "float32" or "int32" (token ids)
    input_shape: Tuple[int, ...]          # one input; a sequence's first dim: tokens.max
    tokens: Optional[Tokens]              # None without a token dimension
    id_limit: Optional[int]               # token ids lie in [0, id_limit); None: unchecked
    output_shape: Tuple[int, ...]
    thresholds: Dict[str, float]          # name -> default
    exits: List[str]                      # in index order; index len(exits) is "end"
    decisions: List[Decision]
    n_slots: int                          # ledger slots per input
    manifest: Dict[str, Tuple[int, ...]]  # weight tensor -> shape, in manifest order
    relus: List[Relu]                     # -fzero-stats: the ReLUs counted; [] without
    dense_flops: Tuple[float, float, float]  # c0 + c1*T + c2*T^2
    tile_rows: int
    scratch_floats: int

    def to_dict(self):
        return dataclasses.asdict(self)

    @property
    def input_str(self):
        """The input as the executable's --info writes it: "f32[64]", "f32[T, 8]"."""
        dims = [str(d) for d in self.input_shape]
        if self.tokens:
            dims[0] = self.tokens.name
        return "%s[%s]" % ("i32" if self.input_dtype == "int32" else "f32", ", ".join(dims))


def _info(d):
    def shape(rank, dims):
        return tuple(int(dims[i]) for i in range(rank))

    tokens = None
    if d.tokens_max > 0:
        tokens = Tokens(text(d.tokens_name) or "T", int(d.tokens_min), int(d.tokens_max))
    decisions = []
    for i in range(d.n_decisions):
        x = d.decisions[i]
        decisions.append(Decision(
            name=text(x.name), kind=_capi.DECISION_KINDS.get(x.kind, "kind %d" % x.kind),
            line=x.line, col=x.col, slot=x.slot, count=x.count, choices=x.choices,
            per_token=x.rows > 0, rows=int(x.rows), tok_a=x.tok_a, tok_c=int(x.tok_c),
            per_expert=x.per_expert))
    relus = [Relu(name=text(r.name), line=r.line, col=r.col, slot=r.slot, width=int(r.width),
                  dense_out=int(r.dense_out), zero_skip=bool(r.zero_skip))
             for r in (d.relus[i] for i in range(d.n_relus))]
    manifest = {}
    for i in range(d.n_tensors):
        t = d.tensors[i]
        manifest[text(t.name)] = shape(t.rank, t.shape)
    return Info(
        name=text(d.name), source=text(d.source), default_weights=text(d.default_weights),
        embedded_weights=int(d.embedded_size) if d.embedded_weights else 0,
        input_name=text(d.in_name),
        input_dtype="int32" if d.in_elem == _capi.SL_ELEM_I32 else "float32",
        input_shape=shape(d.in_rank, d.in_shape), tokens=tokens,
        id_limit=int(d.id_limit) if d.id_limit > 0 else None,
        output_shape=shape(d.out_rank, d.out_shape),
        thresholds={text(d.threshold_names[i]): _f32(d.threshold_defaults[i])
                    for i in range(d.n_thresholds)},
        exits=[text(d.exits[i].name) for i in range(d.n_exits)],
        decisions=decisions, n_slots=int(d.n_slots), manifest=manifest, relus=relus,
        dense_flops=tuple(float(d.dense_flops[i]) for i in range(3)),
        tile_rows=int(d.tile_rows), scratch_floats=int(d.scratch_floats))


# Half an ulp above FLT_MAX: a finite float64 this large or more would round
# to infinity as float32 (the executable's .npy reader refuses it).
_F32_LIMIT = float.fromhex("0x1.ffffffp127")


def _f32(v):
    """A float32 as the shortest decimal that reads back as the same float32
    (0.99, not 0.9900000095367432)."""
    return float(str(np.float32(v)))


# ---- the ledger ---------------------------------------------------------------

def _flops_int(v):
    # The executable writes FLOPs with "%.0f" (whole numbers carried in doubles).
    return int("%.0f" % v)


class Ledger:
    """Per-input record of one run, as NumPy arrays (sl_ledger).

    exits        int32 [N]: the exit each input left by, an index into
                 exit_names; len(info.exits) (the last name, "end") when it
                 ran to the end
    exit_names   the model's exits, then "end"
    flops        float64 [N]: FLOPs each input executed
    dense_flops  float64 [N]: FLOPs with every conditional region run, at
                 each input's token count
    tokens       int32 [N]: each input's token count (None without tokens)
    slots        int32 [N, n_slots]: every decision's raw slots
    decisions    name -> int32 [N, count] (a decision per input) or
                 [N, rows, count] (per token): -1 not reached, -2 a choice
                 not taken (a route over tokens with a capacity, or expert
                 choice); views into slots
    zeros        a model compiled with -fzero-stats: ReLU name -> int32
                 [N, 2], its outputs exactly zero and the elements it
                 computed (0 0: the input did not run it); views into slots
    """

    def __init__(self, info, exits, slots, flops, dense_flops, tokens):
        self.info = info
        self.exits = exits
        self.slots = slots
        self.flops = flops
        self.dense_flops = dense_flops
        self.tokens = tokens
        self.exit_names = list(info.exits) + ["end"]
        n = len(exits)
        self.decisions = {}
        for dec in info.decisions:
            v = slots[:, dec.slot:dec.slot + dec.slots]
            v = v.reshape(n, dec.rows, dec.count) if dec.per_token else v
            name = dec.name
            k = 2
            while name in self.decisions:  # a repeated name stays reachable
                name = "%s#%d" % (dec.name, k)
                k += 1
            self.decisions[name] = v
        self.zeros = {r.name: slots[:, r.slot:r.slot + 2] for r in info.relus}

    def zero_fraction(self, name):
        """float64 [N]: the fraction of ReLU `name`'s outputs that were
        exactly zero, per input; NaN for an input that did not run it."""
        z = self.zeros[name].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(z[:, 1] > 0, z[:, 0] / z[:, 1], np.nan)

    def __len__(self):
        return len(self.exits)

    def __repr__(self):
        return "<sluice.Ledger of %d inputs of model '%s'>" % (len(self), self.info.name)

    def exit_name(self, i):
        """The name of the exit input i left by, or "end"."""
        e = int(self.exits[i])
        return self.exit_names[e] if 0 <= e < len(self.info.exits) else "end"

    def exit_counts(self):
        """{exit name: inputs}, the exits in order and "end" last (zeros kept)."""
        counts = np.bincount(np.clip(self.exits, 0, len(self.info.exits)),
                             minlength=len(self.exit_names))
        return {name: int(c) for name, c in zip(self.exit_names, counts)}

    def summary(self):
        """The batch's summary, as sl_ledger_summarize gives it."""
        n = len(self)
        mean = float(self.flops.mean()) if n else 0.0
        if n:
            dense = float(self.dense_flops.mean())
        else:
            t = self.info.tokens.max if self.info.tokens else 0
            c = self.info.dense_flops
            dense = c[0] + (c[1] + c[2] * t) * t
        return {"inputs": n, "mean_flops": mean, "dense_flops": dense,
                "ratio": mean / dense if dense > 0 else 1.0, "exits": self.exit_counts()}

    @staticmethod
    def _decision_value(dec, v, tokens):
        """One decision of one input as the JSON ledger has it (None: not
        reached); v its slots, a list."""
        if dec.per_token:  # fewer in a layer run on some tokens, after tokens_above()
            n = dec.tok_a * tokens + dec.tok_c
            n = 0 if n < 0 else min(n, dec.rows)
            while n > 0 and all(x == -1 for x in v[(n - 1) * dec.count:n * dec.count]):
                n -= 1
            v = v[:n * dec.count]
            if n == 0 or -1 in v:
                return None
            c = dec.count
            return [[x for x in v[t * c:(t + 1) * c] if x >= 0] for t in range(n)]
        if -1 in v or not v:
            return None
        if dec.kind == "gate":
            return v[0]
        return [x for x in v if x >= 0]

    def to_records(self, first_index=0):
        """A list of dicts, one per input, equal to the executable's --stats
        JSON Lines (sl_ledger_write_jsonl), keys in the same order: input,
        tokens (a sequence model's), exit, flops, dense_flops, then gates,
        routes, blocks and selected when the model has decisions of that
        kind, then zeros for a -fzero-stats model; a decision not reached is
        None, choices not taken (-2) are left out."""
        info = self.info
        n_exits = len(info.exits)
        kinds = [(key, [d for d in info.decisions if d.kind == kind])
                 for kind, key in (("gate", "gates"), ("route", "routes"),
                                   ("blocks", "blocks"), ("tokens", "selected"))]
        kinds = [(key, decs) for key, decs in kinds if decs]
        out = []
        exits = self.exits.tolist()
        flops = self.flops.tolist()
        dense = self.dense_flops.tolist()
        toks = self.tokens.tolist() if self.tokens is not None else None
        slots = self.slots.tolist()
        for i in range(len(self)):
            r = {"input": first_index + i}
            tokens = toks[i] if toks is not None else 0
            if info.tokens:
                r["tokens"] = tokens
            e = exits[i]
            r["exit"] = info.exits[e] if 0 <= e < n_exits else "end"
            r["flops"] = _flops_int(flops[i])
            r["dense_flops"] = _flops_int(dense[i])
            row = slots[i]
            for key, decs in kinds:
                r[key] = {d.name: self._decision_value(d, row[d.slot:d.slot + d.slots], tokens)
                          for d in decs}
            if info.relus:
                r["zeros"] = {z.name: row[z.slot:z.slot + 2] if row[z.slot + 1] > 0 else None
                              for z in info.relus}
            out.append(r)
        return out

    def to_jsonl(self, first_index=0):
        """The records as the executable's --stats file holds them, as text
        (the same bytes, for names without control characters)."""
        return "".join(json.dumps(r, ensure_ascii=False) + "\n"
                       for r in self.to_records(first_index))


# ---- loading ------------------------------------------------------------------

_libs = {}
_libs_lock = threading.Lock()


def _open_library(path):
    """dlopen the shared object once per path; (CDLL, API)."""
    real = os.path.realpath(path)
    with _libs_lock:
        if real in _libs:
            return _libs[real]
        try:
            with open(real, "rb") as f:
                head = f.read(8)
        except OSError as e:
            raise Error("%s: cannot open: %s" % (path, e.strerror)) from None
        if head.startswith(b"!<arch>"):
            raise Error("%s: a static library (ar archive), not a shared object: compile the "
                        "model with 'sluicec --emit=shared'" % path)
        try:
            lib = ctypes.CDLL(real)
        except OSError as e:
            raise Error("%s: cannot load: %s" % (path, e)) from None
        try:
            api = _capi.API(lib)
        except AttributeError as e:
            raise Error("%s: not a Sluice model library: it does not define %s (compile the "
                        "model with 'sluicec --emit=shared')" % (path, e)) from None
        _libs[real] = (lib, api)
        return lib, api


def _stem(path):
    base = os.path.basename(path)
    if ".so" in base:
        base = base[:base.index(".so")]
    if base.startswith("lib"):
        base = base[3:]
    return base


def _descriptor_address(lib, path, model):
    """The address of the model's sl_model_desc in the library."""
    if model is not None:
        names = [model + "_model"]
    else:
        try:  # const sl_model_desc *const sluice_main_model
            p = ctypes.c_void_p.in_dll(lib, "sluice_main_model").value
            if p:
                return p
        except ValueError:
            pass
        names = [_stem(path) + "_model"]
    for sym in names:
        try:
            return ctypes.addressof(ctypes.c_uint32.in_dll(lib, sym))
        except ValueError:
            pass
    tried = (["sluice_main_model"] if model is None else []) + names
    raise Error("%s: no model descriptor: %s not defined (name the model with "
                "load(..., model=NAME))" % (path, " nor ".join("'%s'" % s for s in tried)))


def load(path, weights=None, *, model=None, threads=None):
    """Load a model compiled with `sluicec --emit=shared` and open it.

    weights: a safetensors file; None: the model's embedded weights if any,
    else the weights path compiled in (as sl_model_open does).
    model: the model's name, when the library's descriptor is not
    `sluice_main_model` (it is then `<model>_model`; default: the file's
    name, lib<model>.so).  threads: as Model.threads (None: the default).
    """
    path = os.fspath(path)
    lib, api = _open_library(path)
    addr = _descriptor_address(lib, path, model)
    # The ABI first: with another ABI nothing after it can be trusted.
    abi = ctypes.c_uint32.from_address(addr).value
    if abi != _capi.SL_ABI_VERSION:
        raise Error("%s: the model was compiled for runtime ABI %d, but this Python package "
                    "(sluice, %s) reads ABI %d: recompile the model with the sluicec of this "
                    "package's version, or use the package that matches it"
                    % (path, abi, os.path.dirname(__file__), _capi.SL_ABI_VERSION))
    desc = ctypes.cast(ctypes.c_void_p(addr), _capi.DESC_P)
    return Model(lib, api, desc, path, weights, threads)


class _Restore:
    """Undo per-run settings on exit (in reverse)."""

    def __init__(self):
        self.undo = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        first = None
        for fn in reversed(self.undo):
            try:
                fn()
            except Error as e:
                first = first or e
        if first and not exc[0]:
            raise first
        return False


class Model:
    """An open model (sl_model).  Not for several threads at once: calls are
    serialized by a lock (the runtime runs one batch at a time per model)."""

    def __init__(self, lib, api, desc, path, weights, threads):
        self._lib = lib
        self._api = api
        self._desc = desc
        self.path = path
        self._handle = None
        self._lock = threading.RLock()
        self.info = _info(desc.contents)
        err = _capi.sl_error()
        w = None if weights is None else os.fsencode(weights)
        h = api.model_open(desc, w, ctypes.byref(err))
        if not h:
            raise Error(message(err))
        self._handle = h
        self.weights = None if weights is None else os.fspath(weights)
        self._force_exit = SL_FORCE_NONE
        self._force_gates = {}
        self._budget = 0.0
        if threads is not None:
            self.threads = threads

    # -- lifetime
    def close(self):
        """Free the model (its weights, packs and threads); idempotent."""
        with self._lock:
            h, self._handle = self._handle, None
            if h:
                self._api.model_close(h)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        state = "closed" if not self._handle else "open"
        return "<sluice.Model '%s' from %s (%s)>" % (self.info.name, self.path, state)

    @property
    def closed(self):
        return not self._handle

    def _h(self):
        if not self._handle:
            raise Error("model '%s' is closed" % self.info.name)
        return self._handle

    def _call(self, fn, *args):
        err = _capi.sl_error()
        if fn(*args, ctypes.byref(err)) != 0:
            raise Error(message(err))

    # -- settings
    def set_threshold(self, name, value):
        """Set a threshold by name (float32, as the executable's --set: a
        finite number within float32's range)."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise Error("threshold '%s': %r is not a number" % (name, value)) from None
        if v != v or v in (float("inf"), float("-inf")):
            raise Error("threshold '%s': %s is not a finite number" % (name, v))
        if abs(v) > 3.4028234663852886e38:
            raise Error("threshold '%s': %g is outside float32's range" % (name, v))
        with self._lock:
            self._call(self._api.model_set_threshold, self._h(), name.encode(), v)

    def threshold(self, name):
        """A threshold's current value."""
        with self._lock:
            v = ctypes.c_float()
            self._call(self._api.model_get_threshold, self._h(), name.encode(),
                       ctypes.byref(v))
            return _f32(v.value)

    @property
    def thresholds(self):
        """{name: current value} of every threshold."""
        return {name: self.threshold(name) for name in self.info.thresholds}

    def _exit_knob(self, k):
        if k is None:
            return SL_FORCE_NONE
        if isinstance(k, str):
            if k == "never":
                return SL_FORCE_NEVER
            if k in self.info.exits:
                return self.info.exits.index(k)
            raise Error("model '%s' has no exit '%s' (%s)" % (
                self.info.name, k, "its exits: " + ", ".join(self.info.exits)
                if self.info.exits else "it has no exits"))
        if isinstance(k, (bool, float)) or not isinstance(k, (int, np.integer)):
            raise Error("force_exit takes an exit's index or name, 'never' or None, not %r" % (k,))
        k = int(k)
        if k < 0 or k > 2**31 - 1:
            raise Error("model '%s' has no exit %d" % (self.info.name, k))
        return k

    def force_exit(self, k):
        """Leave at exit k (an index or a name) whenever it is reached, and at
        no exit before it; "never": never exit; None: decide (the default)."""
        knob = self._exit_knob(k)
        with self._lock:
            self._call(self._api.model_force_exit, self._h(), knob)
            self._force_exit = knob

    def force_gate(self, name, arm):
        """Always take a gate's "then" or "else" arm (also True/False, 1/0);
        None: decide (the default)."""
        if arm is None:
            knob = SL_FORCE_NONE
        elif arm in ("then", True, 1) and not isinstance(arm, float):
            knob = 1
        elif arm in ("else", False, 0) and not isinstance(arm, float):
            knob = 0
        else:
            raise Error("gate '%s': the arm is 'then', 'else' or None, not %r" % (name, arm))
        with self._lock:
            self._call(self._api.model_force_gate, self._h(), name.encode(), knob)
            if knob == SL_FORCE_NONE:
                self._force_gates.pop(name, None)
            else:
                self._force_gates[name] = knob

    def set_budget(self, flops):
        """A compute budget per input in FLOPs (sl_model_set_budget); 0 or None: none."""
        flops = 0.0 if flops is None else float(flops)
        with self._lock:
            self._call(self._api.model_set_budget, self._h(), flops)
            self._budget = flops

    @property
    def budget(self):
        """The budget set (0: none)."""
        return self._budget

    @property
    def forced_exit(self):
        """What force_exit set: an exit's index, "never" or None."""
        k = self._force_exit
        return None if k == SL_FORCE_NONE else "never" if k == SL_FORCE_NEVER else k

    @property
    def threads(self):
        """The threads a run uses; set 1 to 256, or 0 for the default
        (SLUICE_THREADS if set, else every CPU the process may use)."""
        with self._lock:
            return int(self._api.model_threads(self._h()))

    @threads.setter
    def threads(self, n):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise Error("threads: expected a number of threads (1 to %d, or 0 for the "
                        "default), not %r" % (_capi.SL_MAX_THREADS, n))
        n = int(n)
        with self._lock:
            if not -2**31 <= n < 2**31:
                n = -1 if n < 0 else 2**31 - 1  # out of int's range: still refused, by the runtime
            self._call(self._api.model_set_threads, self._h(), n)

    def set_threads(self, n):
        self.threads = n

    def reset(self):
        """Thresholds to their defaults, no forced exit or gate, no budget."""
        with self._lock:
            for name, v in self.info.thresholds.items():
                self.set_threshold(name, v)
            self.force_exit(None)
            for g in list(self._force_gates):
                self.force_gate(g, None)
            self.set_budget(0)

    def zero_counts(self):
        """A model compiled with -fzero-stats: {ReLU name: (zeros, rows)},
        zeros int64 [width] how often each unit was exactly zero and rows how
        many rows (tokens) ran the ReLU, summed over every run since the
        model opened or reset_zero_counts(); {} for a model without."""
        with self._lock:
            p = self._api.model_zero_counts(self._h())
            if not p:
                return {}
            d = self._desc.contents
            out = {}
            for i in range(d.n_relus):
                r = d.relus[i]
                counts = np.ctypeslib.as_array(p, shape=(int(d.n_zero_units),))
                u0, w = int(r.unit0), int(r.width)
                out[text(r.name)] = (counts[u0:u0 + w].copy(), int(counts[u0 + w]))
            return out

    def reset_zero_counts(self):
        """Set the -fzero-stats counters to zero."""
        with self._lock:
            self._api.model_reset_zero_counts(self._h())

    def dense_flops(self, tokens=None):
        """FLOPs with every conditional region run, for an input of `tokens`
        tokens (default: the most the model takes; ignored without tokens)."""
        if tokens is None:
            tokens = self.info.tokens.max if self.info.tokens else 0
        return float(self._api.model_dense_flops(self._desc, int(tokens)))

    # -- running
    def _inputs(self, x):
        """x as a C-contiguous array of the model's element type; (x, n,
        single, x_tokens)."""
        info = self.info
        x = np.asarray(x)
        if info.input_dtype == "int32":
            x = _as_int32(x, "x")
        else:
            if x.dtype.kind not in "f":
                raise Error("x: dtype %s is not supported (expected float32 or float64; model "
                            "'%s' takes %s)" % (x.dtype, info.name, info.input_str))
            if x.dtype != np.float32:
                big = np.isfinite(x) & (np.abs(x) >= _F32_LIMIT)
                if big.any():
                    i = int(np.flatnonzero(big.ravel())[0])
                    raise Error("x: element %d is %g, outside float32's range"
                                % (i, float(x.ravel()[i])))
            x = np.ascontiguousarray(x, dtype=np.float32)
        shape = info.input_shape
        rank = len(shape)

        def fits(first):
            if x.ndim != rank + first:
                return False
            for i, want in enumerate(shape):
                got = x.shape[first + i]
                if i == 0 and info.tokens:
                    if got < 1:
                        return False
                elif got != want:
                    return False
            return True

        batch = fits(1)
        if not batch and not fits(0):
            dims = [str(d) for d in shape]
            extra = ""
            if info.tokens:
                dims[0] = info.tokens.name
                extra = " with %s from %d to %d" % (info.tokens.name, info.tokens.min,
                                                    info.tokens.max)
            one = "[%s]" % ", ".join(dims)
            raise Error("x: expected shape [N%s] or %s%s, found [%s]" % (
                "".join(", " + d for d in dims), one, extra,
                ", ".join(str(d) for d in x.shape)))
        n = x.shape[0] if batch else 1
        x_tokens = x.shape[1 if batch else 0] if info.tokens else 0
        return x, n, not batch, x_tokens

    def run(self, x, lengths=None, thresholds=None, force_exit=None, budget=None):
        """Run a batch: x [N, *input_shape] (or one input, input_shape) of
        float32 (float64 converted), or of integer ids for a model of token
        ids.  A sequence model's x is [N, T, ...] with any T; lengths gives
        each input's token count ([N] integers; default: T for every input),
        the rest of its row being padding, never read.

        thresholds ({name: value}), force_exit and budget apply to this run
        only: the model's settings are restored afterwards, even when the
        run fails.  force_exit=None leaves the model's setting as it is.

        Returns (y, ledger): y float32 [N, *output_shape] (output_shape for
        one input given without the batch dimension) and a Ledger.
        """
        info = self.info
        x, n, single, x_tokens = self._inputs(x)
        tok = None
        if lengths is not None:
            if not info.tokens:
                raise Error("lengths: model '%s' has no token dimension (its input is %s)"
                            % (info.name, info.input_str))
            tok = _as_int32(np.asarray(lengths), "lengths")
            if not (tok.shape == (n,) or (single and tok.ndim == 0)):
                raise Error("lengths: expected shape [%d] (one length per input), found [%s]"
                            % (n, ", ".join(str(d) for d in tok.shape)))
            tok = np.ascontiguousarray(tok.reshape(n), dtype=np.int32)
        elif info.tokens and not (info.tokens.min <= x_tokens <= info.tokens.max):
            raise Error("x: inputs of %d tokens; model '%s' takes %d to %d (pass lengths for "
                        "padded inputs)" % (x_tokens, info.name, info.tokens.min,
                                            info.tokens.max))
        rows = max(n, 1)
        y = np.empty((rows,) + info.output_shape, dtype=np.float32)
        exits = np.zeros(rows, dtype=np.int32)
        slots = np.full((rows, max(info.n_slots, 1)), -1, dtype=np.int32)
        flops = np.zeros(rows, dtype=np.float64)
        tokens = np.zeros(rows, dtype=np.int32)
        led = _capi.sl_ledger(
            n, exits.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
            slots.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
            flops.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            tokens.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)))
        yp = y.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        xp = ctypes.c_void_p(x.ctypes.data)
        with self._lock, _Restore() as undo:
            h = self._h()
            if thresholds:
                for name, v in thresholds.items():
                    old = self.threshold(name)
                    self.set_threshold(name, v)
                    undo.undo.append(lambda name=name, old=old: self.set_threshold(name, old))
            if force_exit is not None:
                old = self.forced_exit
                self.force_exit(force_exit)
                undo.undo.append(lambda old=old: self.force_exit(old))
            if budget is not None:
                old = self._budget
                self.set_budget(budget)
                undo.undo.append(lambda old=old: self.set_budget(old))
            if info.tokens:
                tp = tok.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)) if tok is not None \
                    else None
                self._call(self._api.model_run_tokens, h, n, xp, x_tokens, tp, yp,
                           ctypes.byref(led))
            else:
                self._call(self._api.model_run, h, n, xp, yp, ctypes.byref(led))
        y, exits, slots, flops = y[:n], exits[:n], slots[:n, :info.n_slots], flops[:n]
        if info.tokens:
            tokens = tokens[:n]
            dense = np.empty(n, dtype=np.float64)
            for t in np.unique(tokens).tolist():  # sl_model_dense_flops per count
                dense[tokens == t] = self.dense_flops(t)
        else:
            tokens = None
            dense = np.full(n, self.dense_flops(0), dtype=np.float64)
        if single:
            y = y[0]
        return y, Ledger(info, exits, slots, flops, dense, tokens)


def _as_int32(a, what):
    """Integers (or floats holding whole numbers) as int32, each in range."""
    if a.dtype.kind in "iu":
        if a.size and a.dtype.itemsize >= 4 and a.dtype != np.int32:
            bad = (a < -2**31) | (a > 2**31 - 1)
            if bad.any():
                i = int(np.flatnonzero(bad.ravel())[0])
                raise Error("%s: element %d is %d, outside int32's range"
                            % (what, i, int(a.ravel()[i])))
        return np.ascontiguousarray(a, dtype=np.int32)
    if a.dtype.kind == "f":
        a64 = a.astype(np.float64)
        bad = ~np.isfinite(a64) | (np.floor(a64) != a64)
        if bad.any():
            i = int(np.flatnonzero(bad.ravel())[0])
            raise Error("%s: element %d is %r, not a whole number" % (what, i,
                                                                       float(a64.ravel()[i])))
        bad = (a64 < -2**31) | (a64 > 2**31 - 1)
        if bad.any():
            i = int(np.flatnonzero(bad.ravel())[0])
            raise Error("%s: element %d is %.17g, outside int32's range"
                        % (what, i, float(a64.ravel()[i])))
        return np.ascontiguousarray(a64, dtype=np.int32)
    raise Error("%s: dtype %s is not supported (expected integers, or floats holding whole "
                "numbers)" % (what, a.dtype))
