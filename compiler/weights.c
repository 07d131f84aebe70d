/* weights.c - a safetensors file against the manifest, at compile time:
 * --verify-weights checks one, --embed-weights checks one and bakes it in.
 * The file is read by the runtime's own loader, so compile time and run
 * time accept and refuse the same files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "sluice/model.h"
#include "sluice/safetensors.h"

/* Report every tensor that is missing, not a float, or misshapen, with the
 * runtime's own check and messages. */
static int check_tensors(sl_ctx *c, const sl_program *p, const sl_st_file *f)
{
    int bad = 0;
    for (size_t i = 0; i < p->tensors.len; i++) {
        const sl_tensor *t = &p->tensors.items[i];
        sl_tensor_desc want = {t->name, t->rank, {0}};
        for (int d = 0; d < t->rank; d++)
            want.shape[d] = t->shape[d];
        sl_error e;
        if (sl_weights_check_tensor(f, &want, NULL, &e) != 0) {
            sl_error(c, SL_SPAN_NONE, "%s", e.msg);
            bad++;
        }
    }
    return bad;
}

int sl_verify_weights(sl_ctx *c, const sl_program *p, const char *path)
{
    sl_error e;
    sl_st_file *f = sl_st_open(path, &e);
    if (!f) {
        sl_error(c, SL_SPAN_NONE, "%s", e.msg);
        return 1;
    }
    int bad = check_tensors(c, p, f);
    if (!bad)
        printf("%s: ok: the %zu tensors of model '%s' are all there, with the right shapes\n",
               path, p->tensors.len, p->name);
    sl_st_close(f);
    return bad ? 1 : 0;
}

int sl_load_weights_for_embedding(sl_ctx *c, const sl_program *p, const char *path,
                                  unsigned char **data, size_t *size)
{
    FILE *in = fopen(path, "rb");
    if (!in) {
        sl_error(c, SL_SPAN_NONE, "cannot open '%s': %s", path, strerror(errno));
        return 1;
    }
    size_t cap = 1 << 20, len = 0;
    unsigned char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, in)) > 0) {
        len += n;
        if (len == cap) {
            unsigned char *bigger = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    bool failed = ferror(in);
    fclose(in);
    if (!buf)
        sl_out_of_memory();
    if (failed) {
        sl_error(c, SL_SPAN_NONE, "cannot read '%s': %s", path, strerror(errno));
        free(buf);
        return 1;
    }
    sl_error e;
    sl_st_file *f = sl_st_open_mem(buf, len, path, &e);
    if (!f) {
        sl_error(c, SL_SPAN_NONE, "%s", e.msg);
        free(buf);
        return 1;
    }
    int bad = check_tensors(c, p, f);
    sl_st_close(f);
    if (bad) {
        free(buf);
        return 1;
    }
    *data = buf;
    *size = len;
    return 0;
}
