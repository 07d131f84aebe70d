/* names.h - a name -> int index in the arena, for the checker's lookups
 * (variables, layers, decision names), so that a model with many names is
 * checked in time proportional to its size.  Internal to compiler/. */
#ifndef SLUICE_NAMES_H
#define SLUICE_NAMES_H

#include "lang.h"

typedef struct sl_names {
    const char **keys; /* [cap], NULL where empty; the strings are not copied */
    int *vals;         /* [cap] */
    size_t cap, len;
} sl_names;

/* The value stored for key, or -1. */
int sl_names_get(const sl_names *t, const char *key);
/* Store val for key (replacing any value); key must outlive t. */
void sl_names_put(sl_arena *a, sl_names *t, const char *key, int val);
/* An independent copy. */
sl_names sl_names_copy(sl_arena *a, const sl_names *t);

#endif
