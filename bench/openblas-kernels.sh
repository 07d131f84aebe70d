# Sourced by bench scripts that time OpenBLAS (directly or through
# PyTorch).  OpenBLAS picks its kernels by CPU model; a model newer than the
# library (0.3.21 and Emerald Rapids, say) gets the SSE3 "Prescott"
# fallback, which would make any comparison meaningless.  Then use its best
# kernels for the features the CPU has, unless OPENBLAS_CORETYPE is already
# set.  Needs $build/bench/kernel-bench (it reports OpenBLAS's choice);
# sets $openblas_note to a line saying what was forced, or "".
openblas_note=""
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -x "$build/bench/kernel-bench" ] &&
   [ "$("$build/bench/kernel-bench" --blas-core)" = Prescott ]; then
    if grep -q '^flags.* avx512f' /proc/cpuinfo; then
        export OPENBLAS_CORETYPE=SkylakeX
    elif grep -q '^flags.* avx2' /proc/cpuinfo; then
        export OPENBLAS_CORETYPE=Haswell
    fi
    openblas_note="- note: OpenBLAS does not know this CPU model (it would use its SSE3 Prescott kernels); forced OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Prescott}"
fi
