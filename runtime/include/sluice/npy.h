/* npy.h - NumPy .npy arrays: f32 read and written, int32 read.
 *
 * Reads format versions 1.0, 2.0 and 3.0; C order; a header of exactly the
 * keys descr, fortran_order and shape.  sl_npy_read takes dtype '<f4' (and
 * '<f8', converted to f32); sl_npy_read_i32 takes any integer dtype ('|i1',
 * '<i2', '<i4', '<i8', '|u1', '<u2', '<u4', '<u8') and '<f4' or '<f8'
 * holding whole numbers (lengths saved as floats), every value within
 * int32.  Everything else is refused with a message naming the file and
 * what was found (a value: its flat index and the value).  Writes '<f4'
 * C-order files byte for byte as NumPy's np.save does: version 1.0, or 2.0 /
 * 3.0 on request. */
#ifndef SLUICE_NPY_H
#define SLUICE_NPY_H

#include <stddef.h>
#include <stdint.h>
#include "sluice/error.h"
#include "sluice/outfile.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_NPY_MAX_RANK 8

typedef struct sl_npy {
    int32_t rank;
    int64_t shape[SL_NPY_MAX_RANK];
    int64_t numel; /* product of shape; 1 for rank 0 */
    float *data;   /* malloc'd, numel floats (NULL when numel == 0) */
} sl_npy;

int sl_npy_read(const char *path, sl_npy *out, sl_error *err);
int sl_npy_read_mem(const void *buf, size_t len, const char *name, sl_npy *out, sl_error *err);

/* An array of integers: token ids, per-input lengths, class ids. */
typedef struct sl_npy_i32 {
    int32_t rank;
    int64_t shape[SL_NPY_MAX_RANK];
    int64_t numel;   /* product of shape; 1 for rank 0 */
    int32_t *data;   /* malloc'd, numel values (NULL when numel == 0) */
} sl_npy_i32;

int sl_npy_read_i32(const char *path, sl_npy_i32 *out, sl_error *err);
int sl_npy_read_i32_mem(const void *buf, size_t len, const char *name, sl_npy_i32 *out,
                        sl_error *err);
void sl_npy_i32_free(sl_npy_i32 *a); /* frees data, leaves a reusable */
/* Write to path; on failure no file is left (see outfile.h). */
int sl_npy_write(const char *path, const float *data, int32_t rank,
                 const int64_t *shape, sl_error *err);
/* Write into an open sl_outfile and finish it; the caller commits (or
 * discards) it, so that several files can appear together. */
int sl_npy_write_to(sl_outfile *o, const float *data, int32_t rank,
                    const int64_t *shape, sl_error *err);
/* The same in format version major.0 (1, 2 or 3; 0: as NumPy chooses,
 * which for these headers is always 1.0). */
int sl_npy_write_version(sl_outfile *o, int major, const float *data, int32_t rank,
                         const int64_t *shape, sl_error *err);
void sl_npy_free(sl_npy *a); /* frees data, leaves a reusable */

#ifdef __cplusplus
}
#endif
#endif
