"""sluice.compile: run sluicec."""
import os
import shutil
import subprocess

from ._model import Error

# What --emit writes, and the default output name for a model file M.slu.
_DEFAULT_OUTPUT = {"shared": "lib{}.so", "lib": "lib{}.a", "exe": "{}", "obj": "{}.o",
                   "asm": "{}.s", "llvm": "{}.ll", "bc": "{}.bc"}


def find_sluicec():
    """sluicec: $SLUICEC, else the one of this package's own installation
    (PREFIX/lib/python3.X/dist-packages/sluice -> PREFIX/bin) or tree
    (python/sluice/ -> ../../build/compiler), whose ABI is the package's,
    else `sluicec` on PATH."""
    env = os.environ.get("SLUICEC")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    prefix = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(here))))
    repo = os.path.dirname(os.path.dirname(here))
    cands = [os.path.join(prefix, "bin", "sluicec"),
             os.path.join(repo, "build", "compiler", "sluicec")]
    for cand in cands:
        if os.access(cand, os.X_OK):
            return cand
    found = shutil.which("sluicec")
    if found:
        return found
    raise Error("sluicec not found: set SLUICEC to its path, put it on PATH, or build the "
                "repository (%s)" % cands[-1])


def compile(source, output=None, emit="shared", opt=2, extra_args=()):
    """Compile a model file with sluicec; returns the output's path.

    emit: sluicec's --emit kind ("shared": a library for sluice.load, "exe",
    "lib", "obj", ...).  output: default lib<stem>.so (emit="shared"),
    lib<stem>.a, <stem>, <stem>.o... in the current directory, <stem> being
    the model file's name without .slu.  opt: 0 to 3 (-O).  extra_args:
    more sluicec options (["--embed-weights=w.safetensors", "-I", "dir"]).
    A compile error raises sluice.Error with sluicec's diagnostics.
    """
    source = os.fspath(source)
    if output is None:
        stem = os.path.basename(source)
        if stem.endswith(".slu"):
            stem = stem[:-4]
        if emit not in _DEFAULT_OUTPUT:
            raise Error("compile: give an output path for --emit=%s" % emit)
        output = _DEFAULT_OUTPUT[emit].format(stem)
    output = os.fspath(output)
    if opt not in (0, 1, 2, 3):
        raise Error("compile: opt is 0, 1, 2 or 3, not %r" % (opt,))
    cmd = [find_sluicec(), "--emit=%s" % emit, "-O%d" % opt, "-fno-color-diagnostics"]
    cmd += [os.fspath(a) for a in extra_args]
    cmd += [source, "-o", output]
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        raise Error("cannot run %s: %s" % (cmd[0], e.strerror)) from None
    if r.returncode != 0:
        msg = r.stderr.decode("utf-8", errors="replace").rstrip("\n")
        raise Error(msg or "%s exited with status %d" % (cmd[0], r.returncode))
    return os.path.abspath(output) if output != "-" else output
