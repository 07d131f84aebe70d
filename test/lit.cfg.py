# lit configuration for Sluice.  Run through CTest (see CMakeLists.txt), which
# passes --param sluice_site_config=<build>/test/lit.site.cfg.py.
import os
import lit.formats

config.name = "Sluice"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".slu", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in"]

site = lit_config.params.get("sluice_site_config")
if not site:
    lit_config.fatal("run lit through ctest, or pass --param sluice_site_config=<build>/test/lit.site.cfg.py")
lit_config.load_config(config, site)

config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.sluice_obj_root, "test")

sluicec = os.path.join(config.sluice_tools_dir, "sluicec")
config.substitutions.append(("%sluicec", sluicec))
config.substitutions.append(("%stdlib", os.path.join(config.sluice_src_root, "stdlib")))
config.substitutions.append(("%examples", os.path.join(config.sluice_src_root, "examples")))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
config.substitutions.append(("%python_dir", config.python_dir))
config.substitutions.append(("%python", config.python))
config.substitutions.append(("%obj_root", config.sluice_obj_root))
config.substitutions.append(("FileCheck", config.filecheck))

# Nothing from the developer's environment leaks into a test, except what a
# sanitizer build needs to report.
config.environment["NO_COLOR"] = "1"
config.environment.pop("SLUICE_ISA", None)
config.environment.pop("SLUICE_THREADS", None)
config.environment.pop("SLUICE_PROGRESS", None)
if config.sanitize:
    config.available_features.add("asan")
    config.environment["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
    config.environment["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"

# CPU features, for REQUIRES: avx2 / avx512.
try:
    with open("/proc/cpuinfo") as f:
        flags = next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
except OSError:
    flags = []
if "avx2" in flags and "fma" in flags:
    config.available_features.add("avx2")
if "avx512f" in flags:
    config.available_features.add("avx512")

# PyTorch and scikit-learn, for tests that train (REQUIRES: torch); the rest
# of the suite runs on the committed fixtures without them.
import subprocess
_probe = "import importlib.util as u, sys; sys.exit(not (u.find_spec('torch') and u.find_spec('sklearn')))"
if subprocess.run([config.python, "-c", _probe], capture_output=True).returncode == 0:
    config.available_features.add("torch")

# ---- runtime I/O (test/runtime-io) and model executables (test/runtime-main) ----
# %fake_model: fakenet, a hand-written model linked like sluicec's executables;
# %fake_seq, %fake_ids: fakeseq and fakeids, hand-written sequence models
# (test/runtime-io/fake_seq.c), linked the same way;
# %io_tool: the loaders from the command line (npy-cmp compares outputs);
# %corpus: the committed fixtures, written by test/runtime-io/gen_fixtures.py.
config.substitutions.append(("%fake_model", os.path.join(config.sluice_obj_root, "test", "runtime-io", "fake_model")))
config.substitutions.append(("%fake_seq", os.path.join(config.sluice_obj_root, "test", "runtime-io", "fake_seq")))
config.substitutions.append(("%fake_ids", os.path.join(config.sluice_obj_root, "test", "runtime-io", "fake_ids")))
config.substitutions.append(("%io_tool", os.path.join(config.sluice_obj_root, "test", "runtime-io", "io_tool")))
config.substitutions.append(("%corpus", os.path.join(config.sluice_src_root, "test", "runtime-io", "corpus")))
