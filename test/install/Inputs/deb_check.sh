#!/bin/sh
# deb_check.sh BUILD WORK EXAMPLES - the Debian package, end to end
# (test/install/deb.test): cpack -G DEB from the build tree BUILD into WORK,
# dpkg -i, the early-exit example compiled by /usr/bin/sluicec and run on
# its test inputs, checked against PyTorch's reference, the installed
# pkg-config file, Python package, man page and Vim files found where Debian
# looks; then dpkg -r, always, whatever failed before.  Runs under a lock, so
# two test runs on one machine take turns.  While the package is in, a
# marker file says it is this test's: a run that was killed before removing
# it leaves the marker, and the next run removes the leftover first (a
# package without the marker is someone's, and is left alone).
set -eu
build=$1 work=$2 examples=$3
marker=/var/lib/sluice-deb-test.installed

exec 9>/var/lock/sluice-deb-test.lock
flock -w 600 9

# dpkg refuses to run while another dpkg or apt holds its lock: wait a while.
dpkg_retry() {
    n=0
    while ! dpkg "$@" > "$work/dpkg.log" 2>&1; do
        n=$((n + 1))
        if [ "$n" -ge 30 ] || ! grep -q "lock" "$work/dpkg.log"; then
            cat "$work/dpkg.log"
            return 1
        fi
        sleep 2
    done
}

if [ -e "$marker" ]; then
    dpkg_retry -r sluice
    rm -f "$marker"
fi
if dpkg-query -W -f='${Status}' sluice 2> /dev/null | grep -q "ok installed" ||
   [ -e /usr/bin/sluicec ]; then
    echo "deb_check: error: a Sluice is installed in /usr; not replacing it"
    exit 1
fi

installed=no
cleanup() {
    status=$?
    if [ "$installed" = yes ]; then
        if dpkg_retry -r sluice && [ ! -e /usr/bin/sluicec ]; then
            rm -f "$marker"
            echo "removed: /usr/bin/sluicec is gone"
        else
            echo "deb_check: error: dpkg -r sluice failed"
            status=1
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

cpack -G DEB -B "$work/pkg" --config "$build/CPackConfig.cmake" > "$work/cpack.log"
deb=$(ls "$work"/pkg/sluice_*.deb)
echo "package: $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)"
echo "depends: $(dpkg-deb -f "$deb" Depends)"

installed=yes
touch "$marker"
dpkg_retry -i "$deb"
echo "status: $(dpkg-query -W -f='${Status}' sluice)"

cd "$work"
/usr/bin/sluicec "$examples/early_exit/digits_ee.slu" -o digits_ee
./digits_ee "$examples/early_exit/test_x.npy" -o y.npy --stats ledger.jsonl -q
/usr/bin/python3 "$examples/common/compare.py" "$examples/early_exit" --outputs y.npy \
    --ledger ledger.jsonl
echo "pkg-config: $(pkg-config --libs sluice-runtime)"
# No __pycache__ in the package's folder: dpkg -r would leave it behind, an
# empty `sluice` that later imports would find.
env -u PYTHONPATH PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -c "import sluice; print('python:', sluice.__file__)"
echo "man: $(man -w sluicec)"
if command -v vim > /dev/null; then
    printf 'model m {\n}\n' > m.slu
    vim -Es -N -i NONE -u NONE -c 'filetype on' -c 'syntax on' -c 'edit m.slu' \
        -c 'redir! > vim.out' -c 'echo "vim:" &filetype b:current_syntax' -c 'redir END' \
        -c 'qa!'
    tail -n 1 vim.out; echo
else
    echo "vim: sluice sluice (no vim to ask)"
fi
