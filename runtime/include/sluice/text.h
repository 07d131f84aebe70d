/* text.h - small text helpers shared by the runtime's messages and the
 * compiler's: a shape as "[2, 3]", and the edit distance behind "did you
 * mean". */
#ifndef SLUICE_TEXT_H
#define SLUICE_TEXT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "[2, 3]" (rank 0: "[]") into buf, truncated to cap; returns buf. */
const char *sl_shape_str(const int64_t *shape, int rank, char *buf, size_t cap);

/* Levenshtein distance between a and b; SIZE_MAX when either is longer than
 * 128 bytes (names that long are not worth a suggestion). */
size_t sl_edit_distance(const char *a, const char *b);

#ifdef __cplusplus
}
#endif
#endif
