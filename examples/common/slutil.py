"""Shared helpers for the Sluice example models.

- a strict safetensors writer and reader for F32 (python/sluice/safetensors.py's),
- the fixed digits split used by every example,
- seeding / determinism set-up,
- the fixture writers: test inputs, reference outputs, the per-input ledger
  (the exact line format of the Sluice executable's ``--stats``) and a summary.

Run with /usr/bin/python3 (Debian's torch 1.13, sklearn 1.2, numpy).
"""

import json
import os
import random
from collections import OrderedDict

import numpy as np

# The package's safetensors reader and writer (python/sluice).
import sys  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "python"))
import sluice.safetensors as _st  # noqa: E402

# ---------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------

def save_safetensors(path, tensors, metadata=None):
    """Write ``tensors`` (an ordered mapping name -> array-like or torch
    tensor) as F32, with the package's writer (python/sluice/safetensors.py:
    u64 header length, the JSON header padded to 8 bytes, the data back to
    back in order)."""
    _st.save(path, OrderedDict((name, _st.as_array(t).astype("<f4"))
                               for name, t in tensors.items()), metadata)


def load_safetensors(path):
    """Read a safetensors file strictly (the package's reader: no holes, no
    trailing bytes), F32 only; returns an OrderedDict name -> float32 array
    in data-offset order, and the metadata dict."""
    tensors, meta = _st.load(path)
    for name, a in tensors.items():
        if a.dtype != np.float32:
            raise ValueError(f"{path}: tensor {name}: dtype {a.dtype} unsupported (F32 only)")
    return tensors, meta


# ---------------------------------------------------------------------------
# data and determinism
# ---------------------------------------------------------------------------

def setup(seed=0):
    """Seeds, 2 threads, deterministic algorithms."""
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    try:
        torch.use_deterministic_algorithms(True)
    except Exception:  # pragma: no cover - old torch
        pass


def digits_split():
    """The split shared by all examples.

    Returns dict with float32 X in [0, 1] (pixel / 16) and int64 labels:
      train (fit weights), val (choose thresholds / early stopping), test (the
      fixtures).  test = 20% stratified with random_state=0 (360 images);
      val = 20% of the remaining 80%, stratified, random_state=0.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    y = y.astype(np.int64)
    Xtv, Xte, ytv, yte = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    Xtr, Xva, ytr, yva = train_test_split(Xtv, ytv, test_size=0.2, random_state=0, stratify=ytv)
    return {"train": (Xtr, ytr), "val": (Xva, yva), "test": (Xte, yte)}


def batches(n, batch_size, gen):
    """Shuffled index batches from a torch.Generator."""
    import torch
    perm = torch.randperm(n, generator=gen)
    for i in range(0, n, batch_size):
        yield perm[i:i + batch_size]


def state_dict_f32(module):
    return OrderedDict((k, v.detach().cpu().float().contiguous()) for k, v in module.state_dict().items())


def save_weights(path, module, manifest):
    """Save the module's state_dict in the order of the model's manifest,
    after checking that names and shapes match it exactly."""
    sd = state_dict_f32(module)
    want = OrderedDict(manifest)
    if set(sd) != set(want):
        raise ValueError(f"state_dict/manifest mismatch: missing {sorted(set(want) - set(sd))}, "
                         f"extra {sorted(set(sd) - set(want))}")
    for k, shp in want.items():
        if list(sd[k].shape) != list(shp):
            raise ValueError(f"{k}: state_dict shape {list(sd[k].shape)} != manifest {shp}")
    save_safetensors(path, OrderedDict((k, sd[k]) for k in want))


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------

def ledger_line(rec):
    """One JSON line, keys in the executable's order."""
    o = OrderedDict()
    o["input"] = rec["input"]
    if "tokens" in rec:  # a sequence model's: the input's token count
        o["tokens"] = rec["tokens"]
    o["exit"] = rec["exit"]
    o["flops"] = rec["flops"]
    o["dense_flops"] = rec["dense_flops"]
    for k in ("gates", "routes", "blocks", "selected"):  # selected: rows a layer ran on
        if rec.get(k):
            o[k] = rec[k]
    o["near_threshold"] = bool(rec["near_threshold"])
    return json.dumps(o)


def write_fixtures(folder, model, X, labels, outputs, records, extra_summary=None):
    """test_x.npy, test_labels.npy, ref/outputs.npy, ref/ledger.jsonl,
    ref/summary.json.  ``records`` are dicts from sluref.Model.run."""
    os.makedirs(os.path.join(folder, "ref"), exist_ok=True)
    np.save(os.path.join(folder, "test_x.npy"), np.ascontiguousarray(X, dtype=np.float32))
    np.save(os.path.join(folder, "test_labels.npy"), np.asarray(labels, dtype=np.float32))
    return write_ref(os.path.join(folder, "ref"), model, labels, outputs, records, extra_summary)


def write_ref(refdir, model, labels, outputs, records, extra_summary=None, thresholds=None):
    """outputs.npy, ledger.jsonl and summary.json in ``refdir`` (for the
    default thresholds, or for the ``thresholds`` overrides given)."""
    os.makedirs(refdir, exist_ok=True)
    outputs = np.ascontiguousarray(outputs, dtype=np.float32)
    np.save(os.path.join(refdir, "outputs.npy"), outputs)
    with open(os.path.join(refdir, "ledger.jsonl"), "w") as f:
        for r in records:
            f.write(ledger_line(r) + "\n")
    summary = summarize(model, outputs, labels, records, thresholds)
    if extra_summary:
        summary.update(extra_summary)
    with open(os.path.join(refdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    return summary


def summarize(model, outputs, labels, records, overrides=None):
    n = len(records)
    pred = outputs.argmax(axis=1)
    acc = float((pred == np.asarray(labels).astype(np.int64)).mean())
    flops = np.array([r["flops"] for r in records], dtype=np.float64)
    s = OrderedDict()
    s["model"] = model.name
    s["n"] = n
    s["accuracy"] = round(acc, 6)
    s["mean_flops"] = round(float(flops.mean()), 3)
    s["min_flops"] = int(flops.min())
    s["max_flops"] = int(flops.max())
    s["dense_flops"] = int(model.dense_flops())
    s["flops_ratio"] = round(float(flops.mean()) / model.dense_flops(), 6)
    th = OrderedDict(model.thresholds)
    th.update(overrides or {})
    s["thresholds"] = OrderedDict((k, float(v)) for k, v in th.items())
    exits = OrderedDict((f"exit{i}", 0) for i in range(model.n_exits))
    exits["end"] = 0
    for r in records:
        exits[r["exit"]] += 1
    s["exits"] = exits
    if model.gate_names:
        g = OrderedDict()
        for name in model.gate_names:
            c = OrderedDict([("1", 0), ("0", 0), ("null", 0)])
            for r in records:
                v = r["gates"][name]
                c["null" if v is None else str(v)] += 1
            g[name] = c
        s["gates"] = g
    if model.route_names:
        rt = OrderedDict()
        for name in model.route_names:
            N = model.bank_size(name)
            chosen = [0] * N
            first = [0] * N
            pairs = {}
            reached = 0
            for r in records:
                v = r["routes"][name]
                if v is None:
                    continue
                reached += 1
                first[v[0]] += 1
                for e in v:
                    chosen[e] += 1
                key = ",".join(str(e) for e in sorted(v))
                pairs[key] = pairs.get(key, 0) + 1
            rt[name] = OrderedDict([("reached", reached), ("chosen", chosen), ("top1", first),
                                    ("sets", OrderedDict(sorted(pairs.items(), key=lambda kv: -kv[1])))])
        s["routes"] = rt
    if model.block_names:
        bl = OrderedDict()
        for name in model.block_names:
            K = model.n_blocks(name)
            active = [0] * K
            reached = 0
            nact = []
            for r in records:
                v = r["blocks"][name]
                if v is None:
                    continue
                reached += 1
                nact.append(sum(v))
                for j, b in enumerate(v):
                    active[j] += b
            hist = [0] * (K + 1)
            for a in nact:
                hist[a] += 1
            bl[name] = OrderedDict([("reached", reached), ("active_per_block", active),
                                    ("mean_active_fraction", round(float(np.mean(nact)) / K, 6) if nact else None),
                                    ("n_active_histogram", hist)])
        s["blocks"] = bl
    s["near_threshold"] = int(sum(1 for r in records if r["near_threshold"]))
    return s


def file_sizes(folder):
    out = OrderedDict()
    for root, _, files in os.walk(folder):
        for fn in sorted(files):
            p = os.path.join(root, fn)
            if "__pycache__" in p:
                continue
            out[os.path.relpath(p, folder)] = os.path.getsize(p)
    return out


def set_slu_thresholds(slu_path, values):
    """Rewrite the default value of `threshold NAME = V` lines in a .slu file
    (comments and layout kept).  Returns True if the file changed."""
    import re
    with open(slu_path) as f:
        src = f.read()
    new = src
    for name, v in values.items():
        pat = re.compile(r"^(\s*threshold\s+%s\s*=\s*)([-+0-9.eE]+)" % re.escape(name), re.M)
        if not pat.search(new):
            raise ValueError(f"{slu_path}: no threshold {name}")
        new = pat.sub(lambda m: m.group(1) + fmt_threshold(v), new, count=1)
    if new != src:
        with open(slu_path, "w") as f:
            f.write(new)
        return True
    return False


def fmt_threshold(v):
    s = repr(float(v))
    return s[:-2] if s.endswith(".0") else s


def max_abs_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))
