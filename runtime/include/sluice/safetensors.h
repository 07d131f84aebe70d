/* safetensors.h - a validated, zero-copy reader of safetensors files.
 *
 * The file is mmap'd; F32 tensors point into the mapping (no copy, no
 * alignment assumed); F16, BF16 and F64 tensors are converted to F32 once, on
 * open (an F64 value beyond F32's range is an error naming it).
 * The header is parsed with jansson and validated as the format's reference
 * implementation does (see docs/runtime.md for the list). */
#ifndef SLUICE_SAFETENSORS_H
#define SLUICE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "sluice/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_ST_MAX_RANK 8

typedef enum sl_st_dtype {
    SL_ST_F32, SL_ST_F16, SL_ST_BF16, SL_ST_F64, /* loaded, as F32 (F64: when it fits) */
    SL_ST_OTHER                       /* a dtype the format knows but Sluice does not compute in */
} sl_st_dtype;

typedef struct sl_st_tensor {
    const char *name;       /* NUL-terminated, owned by the file */
    sl_st_dtype dtype;      /* as stored in the file */
    const char *dtype_name; /* "F32", "I64", ... as stored */
    int32_t rank;
    int64_t shape[SL_ST_MAX_RANK];
    int64_t numel;          /* product of shape; 1 for rank 0 */
    const float *data;      /* F32 view (NULL for SL_ST_OTHER) */
} sl_st_tensor;

typedef struct sl_st_file sl_st_file;

/* Open and validate.  `name` is used in messages (the path, or a label for
 * a memory buffer).  The buffer of sl_st_open_mem must outlive the file. */
sl_st_file *sl_st_open(const char *path, sl_error *err);
sl_st_file *sl_st_open_mem(const void *buf, size_t len, const char *name, sl_error *err);
void sl_st_close(sl_st_file *f); /* NULL is fine */

const char *sl_st_name(const sl_st_file *f);
int64_t sl_st_count(const sl_st_file *f);
const sl_st_tensor *sl_st_at(const sl_st_file *f, int64_t i);           /* in file order */
const sl_st_tensor *sl_st_find(const sl_st_file *f, const char *name);  /* NULL if absent */

#ifdef __cplusplus
}
#endif
#endif
