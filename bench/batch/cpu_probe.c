/* cpu_probe.c - how much of a second core this machine gives right now,
 * for bench/run-batch.
 *
 *   cpu_probe [SECONDS]      (default 0.1)
 *
 * Runs a busy loop on one thread and on two threads at once, in turns of
 * SECONDS / 20 each (so that both see the same neighbours), for SECONDS in
 * all, and prints the median over the ten turns of the work the two did
 * over the work the one did: about 2 on two free cores, nearer 1 when a
 * neighbour (another process, or another virtual machine on the host)
 * holds one of them.  On these shared 2-core machines that capacity comes
 * and goes; bench.py measures it before each configuration's turn, so that
 * 2-thread timings can be read against it.
 *
 *   cc -O2 -Wall -Wextra bench/batch/cpu_probe.c -o cpu_probe -lpthread */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Iterations of a dependent multiply-add chain done in `seconds`. */
static void *spin(void *out)
{
    double x = 1.0, t0 = now();
    long long iters = 0;
    while (now() - t0 < seconds) {
        for (int i = 0; i < 10000; i++)
            x = x * 0.999999 + 1e-6;
        iters += 10000;
    }
    /* keep x alive so the loop is not optimized away */
    *(long long *)out = iters + (x == 12345.0);
    return NULL;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    double total = argc > 1 ? atof(argv[1]) : 0.1;
    if (total <= 0) {
        fprintf(stderr, "usage: cpu_probe [SECONDS]\n");
        return 2;
    }
    enum { TURNS = 10 };
    double ratio[TURNS];
    seconds = total / (2 * TURNS);
    for (int turn = 0; turn < TURNS; turn++) {
        long long one, two[2];
        spin(&one);
        pthread_t t;
        if (pthread_create(&t, NULL, spin, &two[1]) != 0) {
            fprintf(stderr, "cpu_probe: cannot create a thread\n");
            return 1;
        }
        spin(&two[0]);
        pthread_join(t, NULL);
        ratio[turn] = (double)(two[0] + two[1]) / (double)one;
    }
    qsort(ratio, TURNS, sizeof ratio[0], by_value);
    printf("%.2f\n", (ratio[TURNS / 2 - 1] + ratio[TURNS / 2]) / 2);
    return 0;
}
