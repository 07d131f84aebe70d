#!/bin/sh
# A threshold sweep of the early-exit example, with the executable's own
# flags: for each value of the first exit's threshold t1 (the others at
# their defaults), accuracy, mean FLOPs executed against dense, and where
# the inputs left.  No recompiling: --set changes the threshold at run time.
#
#   examples/early_exit/sweep.sh EXECUTABLE [T1 ...]
#
# EXECUTABLE is examples/early_exit/digits_ee.slu compiled by sluicec
# (make demo leaves one at build/demo/digits_ee).
set -eu
exe=${1:?usage: sweep.sh EXECUTABLE [T1 ...]}
shift
here=$(dirname "$0")
[ $# -gt 0 ] || set -- 0.5 0.7 0.9 0.95 0.99 0.999 0.9999
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

printf '%-8s %-9s %-22s %s\n' t1 accuracy "mean FLOPs (of dense)" "exits: exit0 exit1 exit2 end"
for t in "$@"; do
    "$exe" "$here/test_x.npy" -o "$out/y.npy" --labels "$here/test_labels.npy" \
        --set "t1=$t" 2>"$out/summary"
    # digits_ee: 360 inputs, 24.5 kFLOPs mean executed of 100.1 kFLOPs dense (24.5%), accuracy 0.9639, ...
    # digits_ee: exits: exit0 252, exit1 45, exit2 34, end 29
    acc=$(sed -n 's/.*accuracy \([0-9.]*\).*/\1/p' "$out/summary")
    flops=$(sed -n 's/.*, \([0-9.]* [kMG]*FLOPs\) mean executed of [^(]*(\([0-9.]*%\)).*/\1 (\2)/p' "$out/summary")
    exits=$(sed -n 's/.*exits: exit0 \([0-9]*\), exit1 \([0-9]*\), exit2 \([0-9]*\), end \([0-9]*\)/\1 \2 \3 \4/p' "$out/summary")
    printf '%-8s %-9s %-22s %s\n' "$t" "$acc" "$flops" "$exits"
done
