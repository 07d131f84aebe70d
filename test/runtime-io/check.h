/* check.h - the few assertions the runtime I/O tests need (failures are
 * counted and reported with their line, and the program's status says
 * whether any check failed), and slurp, to load a file into memory for
 * the loaders' memory entry points. */
#ifndef SLUICE_TEST_CHECK_H
#define SLUICE_TEST_CHECK_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures, check_count;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        check_count++;                                                                \
        if (!(cond)) {                                                                \
            check_failures++;                                                         \
            printf("%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                             \
    } while (0)

/* Two strings equal; both printed when not. */
#define CHECK_STR(got, want)                                                          \
    do {                                                                              \
        const char *got_ = (got), *want_ = (want);                                    \
        check_count++;                                                                \
        if (!got_ || strcmp(got_, want_) != 0) {                                      \
            check_failures++;                                                         \
            printf("%s:%d: check failed: %s\n  got:  %s\n  want: %s\n", __FILE__,      \
                   __LINE__, #got, got_ ? got_ : "(null)", want_);                    \
        }                                                                             \
    } while (0)

/* The whole file, malloc'd; NULL (and *len 0) if it cannot be read. */
static inline unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = buf ? (size_t)n : 0;
    return buf;
}

static inline int check_report(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
