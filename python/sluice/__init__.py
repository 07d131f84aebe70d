"""Sluice from Python: load a model compiled with `sluicec --emit=shared`,
run it on NumPy arrays, read its ledger.

    import sluice
    m = sluice.load("libdigits_ee.so")            # weights: embedded or default
    y, ledger = m.run(x, thresholds={"t1": 0.95})  # x float32 [N, 64]
    ledger.exits, ledger.flops, ledger.to_records()

The package is ctypes over the C API of runtime/include/sluice/model.h
(docs/runtime.md, "Python"); it needs NumPy and no compiler.
"""
from ._capi import SL_ABI_VERSION as ABI_VERSION
from ._compile import compile, find_sluicec
from ._model import Decision, Error, Info, Ledger, Model, Relu, Tokens, load
from . import rank, sweep, zeros  # the research tools (docs/analysis.md); matplotlib only when drawing

__all__ = ["ABI_VERSION", "Decision", "Error", "Info", "Ledger", "Model", "Relu", "Tokens",
           "compile", "find_sluicec", "load", "rank", "sweep", "zeros"]
