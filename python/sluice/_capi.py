"""ctypes mirror of runtime/include/sluice/model.h and error.h.

The structs below follow model.h field for field (order and C types); they
are only valid for the ABI named by SL_ABI_VERSION.  A shared object's
descriptor carries its own abi_version as its first field, which load()
reads (as a bare uint32) before it trusts anything else in the descriptor.
Change this file together with model.h, compiler/lower_desc.c and
SL_ABI_VERSION.
"""
from ctypes import (POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int,
                    c_int32, c_int64, c_uint32, c_uint64, c_ubyte, c_void_p)

SL_ABI_VERSION = 6
SL_MAX_RANK = 4
SL_MAX_THREADS = 256

SL_FORCE_NONE = -1
SL_FORCE_NEVER = -2

SL_DECISION_GATE = 0
SL_DECISION_ROUTE = 1
SL_DECISION_BLOCKS = 2
SL_DECISION_TOKENS = 3
DECISION_KINDS = {SL_DECISION_GATE: "gate", SL_DECISION_ROUTE: "route",
                  SL_DECISION_BLOCKS: "blocks", SL_DECISION_TOKENS: "tokens"}

SL_ELEM_F32 = 0
SL_ELEM_I32 = 1


class sl_error(Structure):
    _fields_ = [("msg", c_char * 1024)]


class sl_tensor_desc(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("rank", c_int32),
        ("shape", c_int64 * SL_MAX_RANK),
    ]


class sl_decision_desc(Structure):
    _fields_ = [
        ("kind", c_int32),
        ("name", c_char_p),
        ("line", c_int32),
        ("col", c_int32),
        ("slot", c_int32),
        ("count", c_int32),
        ("choices", c_int32),
        ("tok_a", c_int32),
        ("tok_c", c_int64),
        ("rows", c_int64),
        ("per_expert", c_int32),
    ]


class sl_exit_desc(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("line", c_int32),
        ("col", c_int32),
    ]


class sl_dense_desc(Structure):
    _fields_ = [
        ("weight", c_int32),
        ("bias", c_int32),
        ("row0", c_int64),
        ("rows", c_int64),
        ("zero_skip", c_int32),
    ]


class sl_relu_desc(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("line", c_int32),
        ("col", c_int32),
        ("slot", c_int32),
        ("width", c_int64),
        ("unit0", c_int64),
        ("dense_out", c_int64),
        ("zero_skip", c_int32),
    ]


# void (*)(const sl_env *, float *, int64_t, const void *, const int32_t *,
#          float *, int32_t *, int32_t *, double *): never called from Python,
# so an opaque pointer of the same size.
sl_tile_fn = c_void_p


class sl_model_desc(Structure):
    _fields_ = [
        ("abi_version", c_uint32),
        ("name", c_char_p),
        ("source", c_char_p),
        ("default_weights", c_char_p),
        ("in_name", c_char_p),
        ("in_elem", c_int32),
        ("in_rank", c_int32),
        ("in_shape", c_int64 * SL_MAX_RANK),
        ("in_size", c_int64),
        ("tokens_name", c_char_p),
        ("tokens_min", c_int64),
        ("tokens_max", c_int64),
        ("id_limit", c_int64),
        ("out_rank", c_int32),
        ("out_shape", c_int64 * SL_MAX_RANK),
        ("out_size", c_int64),
        ("n_tensors", c_int32),
        ("tensors", POINTER(sl_tensor_desc)),
        ("n_dense", c_int32),
        ("dense", POINTER(sl_dense_desc)),
        ("n_thresholds", c_int32),
        ("threshold_names", POINTER(c_char_p)),
        ("threshold_defaults", POINTER(c_float)),
        ("n_exits", c_int32),
        ("exits", POINTER(sl_exit_desc)),
        ("n_decisions", c_int32),
        ("decisions", POINTER(sl_decision_desc)),
        ("n_slots", c_int32),
        ("dense_flops", c_double * 3),
        ("tile_rows", c_int64),
        ("scratch_floats", c_int64),
        ("embedded_weights", POINTER(c_ubyte)),
        ("embedded_size", c_uint64),
        ("tile", sl_tile_fn),
        ("n_relus", c_int32),
        ("relus", POINTER(sl_relu_desc)),
        ("n_zero_units", c_int64),
    ]


class sl_ledger(Structure):
    _fields_ = [
        ("n", c_int64),
        ("exits", POINTER(c_int32)),
        ("slots", POINTER(c_int32)),
        ("flops", POINTER(c_double)),
        ("tokens", POINTER(c_int32)),
    ]


DESC_P = POINTER(sl_model_desc)
MODEL_P = c_void_p  # sl_model *, opaque
ERR_P = POINTER(sl_error)
LEDGER_P = POINTER(sl_ledger)

# name: (restype, argtypes), exactly as model.h declares them.
FUNCTIONS = {
    "sl_model_open": (MODEL_P, [DESC_P, c_char_p, ERR_P]),
    "sl_model_close": (None, [MODEL_P]),
    "sl_model_desc_of": (DESC_P, [MODEL_P]),
    "sl_model_set_threshold": (c_int, [MODEL_P, c_char_p, c_float, ERR_P]),
    "sl_model_get_threshold": (c_int, [MODEL_P, c_char_p, POINTER(c_float), ERR_P]),
    "sl_model_force_exit": (c_int, [MODEL_P, c_int32, ERR_P]),
    "sl_model_force_gate": (c_int, [MODEL_P, c_char_p, c_int32, ERR_P]),
    "sl_model_set_budget": (c_int, [MODEL_P, c_double, ERR_P]),
    "sl_model_zero_counts": (POINTER(c_int64), [MODEL_P]),
    "sl_model_reset_zero_counts": (None, [MODEL_P]),
    "sl_model_set_threads": (c_int, [MODEL_P, c_int, ERR_P]),
    "sl_model_threads": (c_int, [MODEL_P]),
    "sl_model_run": (c_int, [MODEL_P, c_int64, c_void_p, POINTER(c_float), LEDGER_P, ERR_P]),
    "sl_model_run_tokens": (c_int, [MODEL_P, c_int64, c_void_p, c_int64, POINTER(c_int32),
                                    POINTER(c_float), LEDGER_P, ERR_P]),
    "sl_model_dense_flops": (c_double, [DESC_P, c_int64]),
    "sl_ledger_alloc": (c_int, [LEDGER_P, DESC_P, c_int64, ERR_P]),
    "sl_ledger_free": (None, [LEDGER_P]),
}


class API:
    """The C API of one loaded shared object, with prototypes set."""

    def __init__(self, lib):
        self.lib = lib
        missing = [name for name in FUNCTIONS if not hasattr(lib, name)]
        if missing:
            raise AttributeError(", ".join(missing))
        for name, (restype, argtypes) in FUNCTIONS.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name[3:], fn)  # sl_model_open -> self.model_open


def message(err):
    """The text of an sl_error (UTF-8; a bad byte is replaced, not fatal)."""
    return err.msg.decode("utf-8", errors="replace")


def text(p):
    """A C string from the descriptor as str (None stays None)."""
    return None if p is None else p.decode("utf-8", errors="replace")
