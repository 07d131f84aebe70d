/* route.c - the choices of routes over tokens, for generated code: a
 * capacity per expert (token choice), the experts choosing their tokens
 * (expert choice) and Switch-style weights.  Each works on one input's
 * tokens, so an input's choices never depend on the rest of its batch. */
#include <math.h>

#include "sluice/kernels.h"

/* SL_RT_DROPPED marks a choice that is not taken: over capacity, or no
 * expert chose the token in that slot. */

void sl_rt_route_capacity(int32_t *idx, int64_t n, int64_t k, int64_t n_experts, double factor,
                          int32_t *count)
{
    double c = ceil(factor * (double)n * (double)k / (double)n_experts);
    int64_t cap = c < 1 ? 1 : (int64_t)c;
    for (int64_t e = 0; e < n_experts; e++)
        count[e] = 0;
    /* Every token's first choice before any second one, tokens in order. */
    for (int64_t j = 0; j < k; j++)
        for (int64_t t = 0; t < n; t++) {
            int32_t *e = &idx[t * k + j];
            if (*e < 0 || *e >= n_experts)
                continue;
            if (count[*e] < cap)
                count[*e]++;
            else
                *e = SL_RT_DROPPED;
        }
}

void sl_rt_expert_choice(const float *scores, int64_t n, int64_t n_experts, int64_t c,
                         int32_t *idx, float *w, float *col, int32_t *top)
{
    for (int64_t i = 0; i < n * n_experts; i++) {
        idx[i] = SL_RT_DROPPED;
        w[i] = 0;
    }
    for (int64_t e = 0; e < n_experts; e++) {
        for (int64_t t = 0; t < n; t++)
            col[t] = scores[t * n_experts + e];
        sl_rt_topk(col, n, c, top, col + n);
        for (int64_t j = 0; j < c; j++) {
            int64_t t = top[j];
            idx[t * n_experts + e] = (int32_t)e;
            w[t * n_experts + e] = scores[t * n_experts + e];
        }
    }
}

void sl_rt_mean_rest(const float *x, int64_t n, int64_t d, const int32_t *kept, int64_t k,
                     float *y)
{
    for (int64_t i = 0; i < d; i++)
        y[i] = 0;
    int64_t j = 0, rest = 0;
    for (int64_t t = 0; t < n; t++) { /* the others, in order (kept is ascending) */
        if (j < k && kept[j] == t) {
            j++;
            continue;
        }
        for (int64_t i = 0; i < d; i++)
            y[i] += x[t * d + i];
        rest++;
    }
    for (int64_t i = 0; rest && i < d; i++)
        y[i] /= (float)rest;
}

void sl_rt_switch_weights(const float *scores, int64_t n_experts, const int32_t *idx, int64_t k,
                          float *w)
{
    float most = scores[0];
    for (int64_t e = 1; e < n_experts; e++)
        most = scores[e] > most ? scores[e] : most;
    double sum = 0;
    for (int64_t e = 0; e < n_experts; e++)
        sum += exp((double)scores[e] - (double)most);
    for (int64_t j = 0; j < k; j++)
        w[j] = (float)(exp((double)scores[idx[j]] - (double)most) / sum);
}
