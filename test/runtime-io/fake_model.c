/* fake_model.c - "fakenet", written by hand the way sluicec would emit it:
 *
 *   model fakenet {
 *     input  x: f32[4]
 *     output y: f32[3]
 *     h = relu(fc1(x))                                # dense 4 -> 6
 *     p = softmax(head(h))                            # dense 6 -> 3
 *     exit p when max(p) >= t1                        # exit0, t1 = 0.8
 *     gate mean(h) > tg { h = relu(arm_then(h)) }     # gate0, tg = 0.5
 *     else             { h = relu(arm_else(h)) }      # both dense 6 -> 6
 *     h = relu(fc3(h)) in 2 blocks of 2 units, block j
 *         active when sigmoid(policy(h))[j] >= tb     # blocks "fc3", tb = 0.5
 *     y = softmax(experts[argmax(router(h))](h))      # route "experts", top 1 of 2
 *   }
 *
 * FLOPs: 2 * n_in * n_out per dense layer run (a block: its rows only).
 * Plain C, no kernels: the runtime's loaders and API are under test here,
 * so it runs its tile row by row, and its tiles are small (5 rows) so a
 * batch is cut into several. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "fake_model.h"

enum { FC1_W, FC1_B, HEAD_W, HEAD_B, THEN_W, THEN_B, ELSE_W, ELSE_B, POL_W, POL_B, FC3_W,
       FC3_B, ROUTER_W, ROUTER_B, E0_W, E0_B, E1_W, E1_B, N_TENSORS };

static const sl_tensor_desc tensors[N_TENSORS] = {
    {"fc1.weight", 2, {6, 4}},       {"fc1.bias", 1, {6}},
    {"head.weight", 2, {3, 6}},      {"head.bias", 1, {3}},
    {"arm_then.weight", 2, {6, 6}},  {"arm_then.bias", 1, {6}},
    {"arm_else.weight", 2, {6, 6}},  {"arm_else.bias", 1, {6}},
    {"policy.weight", 2, {2, 6}},    {"policy.bias", 1, {2}},
    {"fc3.weight", 2, {4, 6}},       {"fc3.bias", 1, {4}},
    {"router.weight", 2, {2, 4}},    {"router.bias", 1, {2}},
    {"experts.0.weight", 2, {3, 4}}, {"experts.0.bias", 1, {3}},
    {"experts.1.weight", 2, {3, 4}}, {"experts.1.bias", 1, {3}},
};

static const char *const threshold_names[] = {"t1", "tg", "tb"};
static const float threshold_defaults[] = {0.8f, 0.5f, 0.5f};
enum { T1, TG, TB };

static const sl_exit_desc exits[] = {{"exit0", 7, 3}};

static const sl_decision_desc decisions[] = {
    {SL_DECISION_GATE, "gate0", 8, 3, 0, 1, 2, 0, 0, 0, 0},
    {SL_DECISION_BLOCKS, "fc3", 10, 3, 1, 2, 2, 0, 0, 0, 0},
    {SL_DECISION_ROUTE, "experts", 12, 3, 3, 1, 2, 0, 0, 0, 0},
};

/* y = w x + b, rows [r0, r1) of an [n_out, n_in] layer. */
static void dense(const float *w, const float *b, const float *x, float *y, int n_in,
                  int r0, int r1)
{
    for (int o = r0; o < r1; o++) {
        float acc = b[o];
        for (int i = 0; i < n_in; i++)
            acc += w[o * n_in + i] * x[i];
        y[o] = acc;
    }
}

static void relu(float *x, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = x[i] < 0 ? 0 : x[i];
}

static void softmax(float *x, int n)
{
    float m = x[0], s = 0;
    for (int i = 1; i < n; i++)
        m = x[i] > m ? x[i] : m;
    for (int i = 0; i < n; i++)
        s += x[i] = expf(x[i] - m);
    for (int i = 0; i < n; i++)
        x[i] /= s;
}

static int32_t fakenet_run1(const sl_env *env, float *scratch, const float *x, float *y,
                            int32_t *slots, double *flops)
{
    const float *const *t = env->tensors;
    float *h1 = scratch, *p = h1 + 8, *h2 = p + 8, *score = h2 + 8, *h3 = score + 8;
    double f = 0;
    for (int i = 0; i < 4; i++)
        slots[i] = -1;

    dense(t[FC1_W], t[FC1_B], x, h1, 4, 0, 6);
    relu(h1, 6);
    dense(t[HEAD_W], t[HEAD_B], h1, p, 6, 0, 3);
    softmax(p, 3);
    f += 2 * 4 * 6 + 2 * 6 * 3;
    float pmax = fmaxf(p[0], fmaxf(p[1], p[2]));
    int32_t fe = env->force[0];
    if (fe == 0 || (fe == SL_FORCE_NONE && pmax >= env->thresholds[T1])) {
        for (int i = 0; i < 3; i++)
            y[i] = p[i];
        *flops = f;
        return 0;
    }

    float mean = 0;
    for (int i = 0; i < 6; i++)
        mean += h1[i];
    mean /= 6;
    int32_t arm = env->force[1] != SL_FORCE_NONE ? env->force[1] : mean > env->thresholds[TG];
    slots[0] = arm;
    if (arm)
        dense(t[THEN_W], t[THEN_B], h1, h2, 6, 0, 6);
    else
        dense(t[ELSE_W], t[ELSE_B], h1, h2, 6, 0, 6);
    relu(h2, 6);
    f += 2 * 6 * 6;

    dense(t[POL_W], t[POL_B], h2, score, 6, 0, 2);
    f += 2 * 6 * 2;
    for (int j = 0; j < 2; j++) {
        int32_t on = 1 / (1 + expf(-score[j])) >= env->thresholds[TB];
        slots[1 + j] = on;
        if (on) {
            dense(t[FC3_W], t[FC3_B], h2, h3, 6, 2 * j, 2 * j + 2);
            f += 2 * 6 * 2;
        } else {
            h3[2 * j] = h3[2 * j + 1] = 0;
        }
    }
    relu(h3, 4);

    float r[2];
    dense(t[ROUTER_W], t[ROUTER_B], h3, r, 4, 0, 2);
    int32_t k = r[1] > r[0];
    slots[3] = k;
    dense(t[k ? E1_W : E0_W], t[k ? E1_B : E0_B], h3, y, 4, 0, 3);
    softmax(y, 3);
    f += 2 * 4 * 2 + 2 * 4 * 3;
    *flops = f;
    return 1; /* the end: n_exits */
}

static void fakenet_tile(const sl_env *env, float *scratch, int64_t n, const void *in,
                         const int32_t *tokens, float *y, int32_t *exits_, int32_t *slots,
                         double *flops)
{
    const float *x = in;
    (void)tokens;
    for (int64_t i = 0; i < n; i++)
        exits_[i] = fakenet_run1(env, scratch, x + 4 * i, y + 3 * i, slots + 4 * i, flops + i);
}

#ifndef FAKE_WEIGHTS
#define FAKE_WEIGHTS NULL
#endif

const sl_model_desc fakenet_model = {
    .abi_version = SL_ABI_VERSION,
    .name = "fakenet",
    .source = "test/runtime-io/fake_model.c",
    .default_weights = FAKE_WEIGHTS,
    .in_rank = 1, .in_shape = {4}, .in_size = 4,
    .out_rank = 1, .out_shape = {3}, .out_size = 3,
    .n_tensors = N_TENSORS, .tensors = tensors,
    .n_thresholds = 3, .threshold_names = threshold_names,
    .threshold_defaults = threshold_defaults,
    .n_exits = 1, .exits = exits,
    .n_decisions = 3, .decisions = decisions,
    .n_slots = 4,
    .dense_flops[0] = 2 * 4 * 6 + 2 * 6 * 3 + 2 * 6 * 6 + 2 * 6 * 2 + 2 * 6 * 4 + 2 * 4 * 2 +
                   2 * 4 * 3,
    .tile_rows = 5,
    .scratch_floats = 40,
    .tile = fakenet_tile,
};
