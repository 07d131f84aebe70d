/* pool.c - a fixed pool of POSIX threads for a model's batches.
 *
 * One job at a time: sl_pool_run publishes it under the lock and bumps the
 * generation; every thread (the caller too) takes item after item from an
 * atomic counter until none is left, and the last one to finish wakes the
 * caller.  Between jobs a thread spins a little (SPIN_NS) before it sleeps
 * on the condition variable, and so does the caller waiting for a job's
 * end: jobs that follow each other closely (the layers of a batch of one,
 * cut between threads) then pass without a wake-up.  Items are independent
 * (a batch's tiles, ranges of a layer's outputs), so who runs which does
 * not change any result. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool.h"

struct sl_pool {
    int threads;             /* including the caller */
    pthread_t *workers;      /* [threads - 1] */
    int started;             /* workers created */
    pthread_mutex_t lock;
    pthread_cond_t wake;     /* a new job, or stop */
    pthread_cond_t done;     /* the job's last item finished */
    _Atomic uint64_t generation; /* jobs published so far */
    bool stop;
    atomic_bool stopping;    /* stop, for the spinners */
    sl_pool_fn *fn;          /* the current job */
    void *ctx;
    int64_t n;
    atomic_int_fast64_t next; /* next item to take */
    atomic_int busy;         /* threads still working on the job */
};

typedef struct worker_arg {
    sl_pool *pool;
    int thread;
} worker_arg;

static void take_items(sl_pool *p, int thread)
{
    for (;;) {
        int64_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->n)
            return;
        p->fn(p->ctx, thread, i);
    }
}

/* How long a thread keeps checking for the next job (or the caller for the
 * job's end) before it sleeps: a layer cut between threads hands work over
 * every few hundred microseconds, and waking a sleeping thread costs tens. */
enum { SPIN_NS = 50 * 1000 };

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spin until cond(p, arg) or SPIN_NS go by; true if it came true. */
static bool spin_until(sl_pool *p, bool (*cond)(sl_pool *, uint64_t), uint64_t arg)
{
    int64_t end = now_ns() + SPIN_NS;
    for (int i = 0;; i++) {
        if (cond(p, arg))
            return true;
        cpu_relax();
        if (i % 64 == 63 && now_ns() > end)
            return false;
    }
}

static bool new_job(sl_pool *p, uint64_t seen)
{
    return atomic_load_explicit(&p->generation, memory_order_acquire) != seen ||
           atomic_load_explicit(&p->stopping, memory_order_acquire);
}

static bool job_done(sl_pool *p, uint64_t unused)
{
    (void)unused;
    return atomic_load_explicit(&p->busy, memory_order_acquire) == 0;
}

/* Finished with the job: the last one out wakes the caller if it sleeps. */
static void leave_job(sl_pool *p)
{
    if (atomic_fetch_sub_explicit(&p->busy, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->lock);
    }
}

static void *worker_main(void *arg)
{
    sl_pool *p = ((worker_arg *)arg)->pool;
    int thread = ((worker_arg *)arg)->thread;
    free(arg);
    uint64_t seen = 0;
    for (;;) {
        if (!spin_until(p, new_job, seen)) {
            pthread_mutex_lock(&p->lock);
            while (!p->stop && atomic_load(&p->generation) == seen)
                pthread_cond_wait(&p->wake, &p->lock);
            pthread_mutex_unlock(&p->lock);
        }
        if (atomic_load(&p->stopping))
            return NULL;
        seen = atomic_load(&p->generation);
        take_items(p, thread);
        leave_job(p);
    }
}

sl_pool *sl_pool_new(int threads, sl_error *err)
{
    sl_pool *p = calloc(1, sizeof *p);
    if (!p || threads < 1) {
        free(p);
        sl_error_set(err, threads < 1 ? "a pool of %d threads" : "out of memory for a pool "
                     "of %d threads", threads);
        return NULL;
    }
    p->threads = threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next, 0);
    p->workers = calloc((size_t)threads, sizeof *p->workers);
    if (!p->workers) {
        sl_pool_free(p);
        sl_error_set(err, "out of memory for a pool of %d threads", threads);
        return NULL;
    }
    for (int t = 1; t < threads; t++) {
        worker_arg *a = malloc(sizeof *a);
        int rc = a ? 0 : -1;
        if (a) {
            *a = (worker_arg){p, t};
            rc = pthread_create(&p->workers[t - 1], NULL, worker_main, a);
            if (rc != 0)
                free(a);
        }
        if (rc != 0) {
            sl_error_set(err, "cannot start thread %d of %d: %s", t + 1, threads,
                         rc > 0 ? strerror(rc) : "out of memory");
            sl_pool_free(p);
            return NULL;
        }
        p->started++;
    }
    return p;
}

void sl_pool_free(sl_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    atomic_store(&p->stopping, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int t = 0; t < p->started; t++)
        pthread_join(p->workers[t], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

int sl_pool_threads(const sl_pool *p) { return p->threads; }

void sl_pool_run(sl_pool *p, sl_pool_fn *fn, void *ctx, int64_t n)
{
    if (n <= 0)
        return;
    if (p->threads == 1 || n == 1) { /* nothing to share */
        for (int64_t i = 0; i < n; i++)
            fn(ctx, 0, i);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->busy, p->threads, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);

    take_items(p, 0);
    if (atomic_fetch_sub_explicit(&p->busy, 1, memory_order_acq_rel) > 1 &&
        !spin_until(p, job_done, 0)) {
        pthread_mutex_lock(&p->lock);
        while (atomic_load(&p->busy) > 0)
            pthread_cond_wait(&p->done, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
}
