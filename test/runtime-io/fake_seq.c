/* fake_seq.c - two sequence models, written by hand against ABI 4 the way
 * sluicec would emit them, for the runtime's token handling:
 *
 *   model fakeseq {
 *     input  x: f32[T, 2], T from 2 to 5
 *     output y: f32[2]
 *     h[t] = relu(W x[t] + b)                   # per token: 8 FLOPs
 *     s = sum_{t,u} h[t] . h[u] / (T * T)       # per pair of tokens: 4 FLOPs
 *     m = mean_t h[t]
 *     exit m when s >= te                       # exit0, te = 1
 *     y = m + V m + c                           # 8 FLOPs
 *   }
 *   dense FLOPs: 8 + 8 T + 4 T^2
 *
 *   model fakeids {
 *     input  ids: i32[T], T from 1 to 8, ids in [0, 10)
 *     output y: f32[2]
 *     y = mean_t emb[ids[t]],  emb[k] = (k / 4, 1 - k / 8)   # 2 FLOPs per token, 2 to divide
 *   }
 *   dense FLOPs: 2 + 2 T
 *
 * Neither has weights to load: the constants are in the code.  A row is
 * laid out at tokens_max tokens and only its first tokens[i] are read, so
 * the tests can put NaN (or bad ids) in the rest.  Tiles are small (3 and
 * 4 rows) so a batch is cut into several. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "fake_model.h"

enum { SEQ_MAX = 5, IDS_MAX = 8 };

static const float W[2][2] = {{1, -0.5f}, {0.25f, 1}}, B[2] = {0.5f, -0.25f};
static const float V[2][2] = {{0.5f, 0}, {-1, 0.5f}}, C[2] = {0, 1};

static const char *const seq_threshold_names[] = {"te"};
static const float seq_threshold_defaults[] = {1.0f};
static const sl_exit_desc seq_exits[] = {{"exit0", 7, 3}};

/* One sequence of n tokens: y [2]; returns its exit (1: the end). */
static int32_t fakeseq_run1(const sl_env *env, float *h, const float *x, int64_t n, float *y,
                            double *flops)
{
    for (int64_t t = 0; t < n; t++)
        for (int o = 0; o < 2; o++) {
            float v = B[o] + W[o][0] * x[2 * t] + W[o][1] * x[2 * t + 1];
            h[2 * t + o] = v < 0 ? 0 : v;
        }
    float s = 0, m[2] = {0, 0};
    for (int64_t t = 0; t < n; t++) {
        for (int64_t u = 0; u < n; u++)
            s += h[2 * t] * h[2 * u] + h[2 * t + 1] * h[2 * u + 1];
        m[0] += h[2 * t];
        m[1] += h[2 * t + 1];
    }
    s /= (float)(n * n);
    m[0] /= (float)n;
    m[1] /= (float)n;
    double f = 8.0 * (double)n + 4.0 * (double)n * (double)n;
    int32_t fe = env->force[0];
    if (fe == 0 || (fe == SL_FORCE_NONE && s >= env->thresholds[0])) {
        y[0] = m[0];
        y[1] = m[1];
        *flops = f;
        return 0;
    }
    for (int o = 0; o < 2; o++)
        y[o] = m[o] + (V[o][0] * m[0] + V[o][1] * m[1] + C[o]);
    *flops = f + 8;
    return 1;
}

static void fakeseq_tile(const sl_env *env, float *scratch, int64_t n, const void *in,
                         const int32_t *tokens, float *y, int32_t *exits, int32_t *slots,
                         double *flops)
{
    const float *x = in;
    (void)slots;
    for (int64_t i = 0; i < n; i++)
        exits[i] = fakeseq_run1(env, scratch, x + i * SEQ_MAX * 2, tokens[i], y + 2 * i,
                                flops + i);
}

const sl_model_desc fakeseq_model = {
    .abi_version = SL_ABI_VERSION,
    .name = "fakeseq",
    .source = "test/runtime-io/fake_seq.c",
    .in_name = "x",
    .in_elem = SL_ELEM_F32,
    .in_rank = 2, .in_shape = {SEQ_MAX, 2}, .in_size = SEQ_MAX * 2,
    .tokens_name = "T", .tokens_min = 2, .tokens_max = SEQ_MAX,
    .out_rank = 1, .out_shape = {2}, .out_size = 2,
    .n_thresholds = 1, .threshold_names = seq_threshold_names,
    .threshold_defaults = seq_threshold_defaults,
    .n_exits = 1, .exits = seq_exits,
    .dense_flops = {8, 8, 4},
    .tile_rows = 3,
    .scratch_floats = SEQ_MAX * 2,
    .tile = fakeseq_tile,
};

static void fakeids_tile(const sl_env *env, float *scratch, int64_t n, const void *in,
                         const int32_t *tokens, float *y, int32_t *exits, int32_t *slots,
                         double *flops)
{
    const int32_t *ids = in;
    (void)env, (void)scratch, (void)slots;
    for (int64_t i = 0; i < n; i++) {
        float m[2] = {0, 0};
        for (int64_t t = 0; t < tokens[i]; t++) {
            int32_t k = ids[i * IDS_MAX + t];
            m[0] += (float)k / 4;
            m[1] += 1 - (float)k / 8;
        }
        y[2 * i] = m[0] / (float)tokens[i];
        y[2 * i + 1] = m[1] / (float)tokens[i];
        exits[i] = 0; /* the end: n_exits */
        flops[i] = 2 + 2.0 * tokens[i];
    }
}

const sl_model_desc fakeids_model = {
    .abi_version = SL_ABI_VERSION,
    .name = "fakeids",
    .source = "test/runtime-io/fake_seq.c",
    .in_name = "ids",
    .in_elem = SL_ELEM_I32,
    .in_rank = 1, .in_shape = {IDS_MAX}, .in_size = IDS_MAX,
    .tokens_name = "T", .tokens_min = 1, .tokens_max = IDS_MAX,
    .id_limit = 10,
    .out_rank = 1, .out_shape = {2}, .out_size = 2,
    .dense_flops = {2, 2, 0},
    .tile_rows = 4,
    .scratch_floats = 0,
    .tile = fakeids_tile,
};
