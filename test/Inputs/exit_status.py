"""Run a command and print how it ended, for tests that must tell a clean
error exit from a crash or a hang (lit's plain `not` accepts both).

    %python %inputs/exit_status.py <command> [args...]

The command inherits stdout and stderr; after it ends this prints one line:
"exit status: N", "killed by signal N" or "timed out after S s".  Exits 0
itself, so the caller's FileCheck decides. """
import subprocess
import sys

TIMEOUT = 30

try:
    rc = subprocess.run(sys.argv[1:], timeout=TIMEOUT).returncode
except subprocess.TimeoutExpired:
    print("timed out after %d s" % TIMEOUT, flush=True)
    sys.exit(0)
if rc < 0:
    print("killed by signal %d" % -rc, flush=True)
else:
    print("exit status: %d" % rc, flush=True)
