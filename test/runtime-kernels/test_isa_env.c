/* test_isa_env.c - choosing the ISA level: SLUICE_ISA forces a level, a
 * bogus name or a level the CPU lacks is an error naming it, an unset or
 * empty variable means the best level, and a kernel called without init
 * dies with exit status 2 and the message on stderr.  Each case runs this
 * program again (/proc/self/exe) in a child with the variable set, since
 * the choice is made once per process. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* setenv, unsetenv */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* Child side: "report" prints the chosen level (or the init error);
 * "lazy" calls a kernel without initializing first, "lazy-pack" packs a
 * dense layer (the pack initializes too; sl_rt_dense_rows then runs on the
 * pack's level). */
static int child(const char *mode)
{
    if (!strcmp(mode, "report")) {
        sl_error err;
        if (sl_rt_init(&err) < 0) {
            printf("init-error: %s\n", err.msg);
            return 1;
        }
        printf("level: %s\n", sl_rt_isa_name(sl_rt_isa()));
        return 0;
    }
    float x[3] = {-1.0f, 0.0f, 2.0f};
    if (!strcmp(mode, "lazy-pack")) {
        const float w[3] = {0.25f, 8.0f, 0.5f};
        float y = 0.0f;
        sl_dense_pack *p = sl_rt_dense_pack(w, NULL, 3, 1, NULL);
        sl_rt_dense_rows(p, x, 3, &y, 1, NULL, 1, 0); /* -0.25 + 0 + 1 */
        sl_rt_dense_pack_free(p);
        printf("ran: %g\n", (double)y);
        return 0;
    }
    sl_rt_exp(x, x, 3);
    printf("ran: %g\n", (double)x[1]);
    return 0;
}

/* Run this program with SLUICE_ISA = env (NULL: unset); collect output. */
static int run_child(const char *mode, const char *env, char *out, size_t out_size)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        if (env)
            setenv("SLUICE_ISA", env, 1);
        else
            unsetenv("SLUICE_ISA");
        execl("/proc/self/exe", "test_kernels_isa_env", mode, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    ssize_t got;
    while ((got = read(fd[0], out + len, out_size - 1 - len)) > 0)
        len += (size_t)got;
    out[len] = '\0';
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void expect_run(const char *mode, const char *env, int want_status,
                       const char *want_text)
{
    char out[4096];
    int status = run_child(mode, env, out, sizeof out);
    check_count++;
    if (status != want_status || !strstr(out, want_text))
        check_fail("SLUICE_ISA=%s %s: exit %d, output \"%s\"; want exit %d and \"%s\"",
                   env ? env : "(unset)", mode, status, out, want_status, want_text);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        return child(argv[1]);

    sl_isa best = SL_ISA_SCALAR;
    for (int i = 0; i < SL_ISA_COUNT; i++)
        if (sl_rt_isa_supported((sl_isa)i))
            best = (sl_isa)i;
    char want[64];
    snprintf(want, sizeof want, "level: %s\n", sl_rt_isa_name(best));
    expect_run("report", NULL, 0, want);
    expect_run("report", "", 0, want);

    for (int i = 0; i < SL_ISA_COUNT; i++) {
        const char *name = sl_rt_isa_name((sl_isa)i);
        if (sl_rt_isa_supported((sl_isa)i)) {
            snprintf(want, sizeof want, "level: %s\n", name);
            expect_run("report", name, 0, want);
            expect_run("lazy", name, 0, "ran: 1");
            expect_run("lazy-pack", name, 0, "ran: 0.75");
        } else {
            /* The message names the variable, the level and what is missing. */
            snprintf(want, sizeof want, "SLUICE_ISA=%s: this CPU cannot run", name);
            expect_run("report", name, 1, want);
            expect_run("lazy", name, 2, want);
            expect_run("lazy-pack", name, 2, want);
            printf("note: %s not supported here; checked that forcing it fails\n", name);
        }
    }

    expect_run("report", "bogus", 1,
               "init-error: SLUICE_ISA='bogus' is not an ISA level (expected scalar, avx2 or avx512)");
    expect_run("report", "AVX2", 1, "SLUICE_ISA='AVX2' is not an ISA level");
    expect_run("lazy", "bogus", 2, "sluice: error: SLUICE_ISA='bogus' is not an ISA level");
    expect_run("lazy-pack", "bogus", 2, "sluice: error: SLUICE_ISA='bogus' is not an ISA level");

    /* In process: sl_rt_set_isa and the level queries. */
    sl_error err;
    check_count += 4;
    if (sl_rt_set_isa(SL_ISA_COUNT, &err) == 0 || !strstr(err.msg, "is not an ISA level"))
        check_fail("sl_rt_set_isa(SL_ISA_COUNT) did not fail as expected");
    if (sl_rt_set_isa(SL_ISA_SCALAR, &err) != 0 || sl_rt_isa() != SL_ISA_SCALAR)
        check_fail("sl_rt_set_isa(scalar) did not take");
    if (sl_rt_init(&err) != 0 || sl_rt_isa() != SL_ISA_SCALAR)
        check_fail("sl_rt_init after sl_rt_set_isa changed the level");
    if (strcmp(sl_rt_isa_name(SL_ISA_AVX512), "avx512") || strcmp(sl_rt_isa_name(SL_ISA_COUNT), "unknown"))
        check_fail("sl_rt_isa_name");
    return check_summary("test_isa_env");
}
