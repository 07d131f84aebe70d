/* check.h - shared helpers of the kernel tests: a deterministic RNG,
 * exactly-sized buffers (so AddressSanitizer sees any overrun), the error
 * measures the tolerances are stated in, and failure counting. */
#ifndef SLUICE_TEST_CHECK_H
#define SLUICE_TEST_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/kernels.h"

/* xorshift64*: the same numbers on every machine and run. */
typedef struct rng {
    uint64_t s;
} rng;

uint64_t rng_next(rng *r);
float rng_uniform(rng *r, float lo, float hi);

/* n floats at an address one float short of a 64-byte boundary (aligned
 * for no vector width), with nothing addressable after the last one, so ASan
 * flags any overrun.  Freed by buf_free. */
float *buf_alloc(int64_t n);
void buf_free(float *p);
float *buf_copy(const float *src, int64_t n);
void buf_fill(rng *r, float *p, int64_t n, float lo, float hi);

/* Fisher-Yates: v in a random order. */
void shuffle_rows(rng *r, int32_t *v, int64_t n);
/* n distinct rows of [0, n + extra), ascending, the last one (n + extra - 1)
 * always among them (so a buffer sized to it ends at the last listed row). */
void pick_rows(rng *r, int32_t *rows, int64_t n, int64_t extra);

/* A NaN with a payload no kernel makes: fill memory a kernel must not
 * write, then check every float there still has these bits. */
float canary(void);
int is_canary(float f);

/* Distance in units in the last place between two floats (0 for two NaNs,
 * INT64_MAX for a NaN against a number). */
int64_t ulp_diff(float a, float b);

/* Failures so far; check_fail prints one line (and stops printing after a
 * few dozen so a broken kernel does not flood the log). */
extern int check_failures;
extern int64_t check_count;
void check_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Switch the kernels to isa (abort the test on failure: a bug here). */
void use_isa(sl_isa isa);

/* The SIMD levels to test: those the CPU has (a skip line for the rest). */
int isa_levels(sl_isa *out);

/* Exit status of a test program: prints the summary line. */
int check_summary(const char *test);

#endif
