/* fuzz_npy.c - the .npy readers on a memory buffer: sl_npy_read_mem (f32,
 * for inputs) and sl_npy_read_i32_mem (token ids, lengths, labels), every
 * element of what they return read back.  The sequence lengths and labels
 * go through sl_npy_read_i32, so this covers them. */
#include <stdlib.h>
#include <string.h>

#include "sluice/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile float f_sink;
static volatile int64_t i_sink;

static int64_t numel(int32_t rank, const int64_t *shape)
{
    int64_t n = 1;
    for (int32_t i = 0; i < rank; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(n, shape[i], &n))
            return -1; /* never a valid numel: the check below fails */
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes, so ASan sees any read past the end. */
    void *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);

    sl_error err;
    sl_npy a = {0};
    if (sl_npy_read_mem(buf, size, "fuzz.npy", &a, &err) == 0) {
        if (a.rank < 0 || a.rank > SL_NPY_MAX_RANK || a.numel != numel(a.rank, a.shape) ||
            (a.numel > 0 && !a.data))
            abort();
        float s = 0;
        for (int64_t i = 0; i < a.numel; i++)
            s += a.data[i];
        f_sink = s;
        sl_npy_free(&a);
    } else {
        i_sink = (int64_t)strlen(err.msg);
    }

    sl_npy_i32 b = {0};
    if (sl_npy_read_i32_mem(buf, size, "fuzz.npy", &b, &err) == 0) {
        if (b.rank < 0 || b.rank > SL_NPY_MAX_RANK || b.numel != numel(b.rank, b.shape) ||
            (b.numel > 0 && !b.data))
            abort();
        int64_t s = 0;
        for (int64_t i = 0; i < b.numel; i++)
            s += b.data[i];
        i_sink = s;
        sl_npy_i32_free(&b);
    } else {
        i_sink = (int64_t)strlen(err.msg);
    }
    free(buf);
    return 0;
}
