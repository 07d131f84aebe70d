/* fuzz_safetensors.c - the safetensors loader on a memory buffer
 * (sl_st_open_mem: header parsed and validated, F16/BF16/F64 converted),
 * every tensor's data read, then the manifest check sl_model_open runs
 * (sl_weights_check_tensor) against a fixed manifest: the fake model's of
 * test/runtime-io, whose fixtures seed the corpus. */
#include <stdlib.h>
#include <string.h>

#include "sluice/model.h"
#include "sluice/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const sl_tensor_desc manifest[] = {
    {"fc1.weight", 2, {6, 4}},       {"fc1.bias", 1, {6}},
    {"head.weight", 2, {3, 6}},      {"head.bias", 1, {3}},
    {"arm_then.weight", 2, {6, 6}},  {"arm_then.bias", 1, {6}},
    {"arm_else.weight", 2, {6, 6}},  {"arm_else.bias", 1, {6}},
    {"policy.weight", 2, {2, 6}},    {"policy.bias", 1, {2}},
    {"fc3.weight", 2, {4, 6}},       {"fc3.bias", 1, {4}},
    {"router.weight", 2, {2, 4}},    {"router.bias", 1, {2}},
    {"experts.0.weight", 2, {3, 4}}, {"experts.0.bias", 1, {3}},
    {"experts.1.weight", 2, {3, 4}}, {"experts.1.bias", 1, {3}},
    {"cls", 1, {4}},                 /* a [1, 1, 4] in the file matches too */
    {"scale", 0, {0}},               /* a learned scalar */
};

/* Read every float of every tensor and every name byte, so that a view
 * past the buffer or a bad conversion shows under ASan. */
static volatile float sum_sink;
static volatile size_t len_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The loader keeps pointers into the buffer: give it a copy of exactly
     * `size` bytes, so ASan sees any read past the end. */
    void *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    sl_error err;
    sl_st_file *f = sl_st_open_mem(buf, size, "fuzz.safetensors", &err);
    if (!f) {
        len_sink = strlen(err.msg);
        free(buf);
        return 0;
    }
    float sum = 0;
    int64_t n = sl_st_count(f);
    for (int64_t i = 0; i < n; i++) {
        const sl_st_tensor *t = sl_st_at(f, i);
        len_sink = strlen(t->name) + strlen(t->dtype_name);
        if (sl_st_find(f, t->name) == NULL)
            abort(); /* every tensor is found by its own name */
        if (t->data)
            for (int64_t k = 0; k < t->numel; k++)
                sum += t->data[k];
    }
    sum_sink = sum;
    len_sink = strlen(sl_st_name(f));
    for (size_t i = 0; i < sizeof manifest / sizeof *manifest; i++) {
        const sl_st_tensor *t = NULL;
        if (sl_weights_check_tensor(f, &manifest[i], &t, &err) == 0) {
            if (!t || !t->data)
                abort(); /* a tensor that passes has F32 data */
        } else {
            len_sink = strlen(err.msg);
        }
    }
    sl_st_close(f);
    free(buf);
    return 0;
}
