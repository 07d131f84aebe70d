/* rows.c - row lists, for generated code: the sets of a tile's rows that
 * reach each conditional region.  A list holds tile-local row numbers in
 * ascending order; these helpers keep that order, so every region sees its
 * rows in the order of the batch. */
#include "sluice/kernels.h"

int64_t sl_rt_rows_merge(const int32_t *a, int64_t na, const int32_t *b, int64_t nb,
                         int32_t *out)
{
    int64_t i = 0, j = 0, n = 0;
    while (i < na && j < nb)
        out[n++] = a[i] < b[j] ? a[i++] : b[j++];
    while (i < na)
        out[n++] = a[i++];
    while (j < nb)
        out[n++] = b[j++];
    return n;
}

void sl_rt_rows_sort(int32_t *v, int64_t n)
{
    for (int64_t i = 1; i < n; i++) { /* lists are short: the k tokens a layer runs on */
        int32_t x = v[i];
        int64_t j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

void sl_rt_rows_by_expert(const int32_t *rows, int64_t n, const int32_t *idx, int64_t k,
                          int64_t n_experts, int32_t *start, int32_t *bucket_rows,
                          int32_t *bucket_pos)
{
    for (int64_t e = 0; e <= n_experts; e++)
        start[e] = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t r = 0; r < k; r++) {
            int32_t e = idx[(int64_t)rows[i] * k + r];
            if (e >= 0 && e < n_experts)
                start[e + 1]++;
        }
    for (int64_t e = 0; e < n_experts; e++)
        start[e + 1] += start[e];
    /* A second pass in row order fills each bucket in row order; start[e]
     * runs ahead as it fills, and ends at the next bucket's start. */
    for (int64_t i = 0; i < n; i++)
        for (int64_t r = 0; r < k; r++) {
            int64_t p = (int64_t)rows[i] * k + r;
            int32_t e = idx[p];
            if (e < 0 || e >= n_experts)
                continue;
            bucket_rows[start[e]] = rows[i];
            bucket_pos[start[e]++] = (int32_t)p;
        }
    for (int64_t e = n_experts; e > 0; e--)
        start[e] = start[e - 1];
    start[0] = 0;
}
