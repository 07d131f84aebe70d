/* pool.h - the model's threads: a fixed pool that runs the items of a job
 * (a batch's tiles) on every thread, the caller included.  Internal to the
 * runtime. */
#ifndef SLUICE_POOL_H
#define SLUICE_POOL_H

#include <stdint.h>

#include "sluice/error.h"

typedef struct sl_pool sl_pool;

/* fn(ctx, thread, item) for one item; `thread` in [0, threads) names the
 * thread running it (0 is the caller), so each can use its own scratch. */
typedef void sl_pool_fn(void *ctx, int thread, int64_t item);

/* A pool of `threads` (>= 1): threads - 1 new POSIX threads, which wait
 * until sl_pool_run gives them work.  NULL with a message on failure. */
sl_pool *sl_pool_new(int threads, sl_error *err);
void sl_pool_free(sl_pool *p); /* NULL is fine; joins the threads */
int sl_pool_threads(const sl_pool *p);

/* Run fn on items [0, n) spread over the pool's threads; returns when all
 * are done.  Which thread runs which item is not fixed. */
void sl_pool_run(sl_pool *p, sl_pool_fn *fn, void *ctx, int64_t n);

#endif
