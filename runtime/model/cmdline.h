/* cmdline.h - a model executable's command line (main.c): its options,
 * parsed and checked as far as they can be without the model, and the
 * executable's error messages.  Internal to runtime/model/ and the fuzz
 * target of the parser (fuzz/fuzz_cmdline.c). */
#ifndef SLUICE_CMDLINE_H
#define SLUICE_CMDLINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct setting {
    const char *name;        /* points into argv: NAME of NAME=VALUE, not terminated */
    int name_len;
    float value;
} setting;

typedef struct gate_force {
    const char *name;        /* as in setting */
    int name_len;
    int32_t arm;             /* 1 then, 0 else */
} gate_force;

typedef struct cmdline {
    const char *input, *output, *weights, *stats, *labels, *lengths, *summary;
    setting *sets;           /* --set, in order: [n_sets] */
    int n_sets;
    gate_force *gates;       /* --force-gate, in order: [n_gates] */
    int n_gates;
    const char *force_exit;  /* --force-exit, as given */
    const char *threads;     /* --threads, as given */
    const char *budget;      /* --budget, as given */
    bool quiet, info, help, version;
} cmdline;

/* The executable's name in messages: argv[0] ("model" until set). */
extern const char *sl_cli_prog;
/* Where the messages go: stderr when NULL (the fuzz target silences them
 * here, not by closing stderr, which libFuzzer reads). */
extern FILE *sl_cli_stream;

/* "<prog>: error: ..." on stderr; returns the exit status, 1. */
int sl_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A command-line mistake: the error, and a note on where to look; 1. */
int sl_cli_usage_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* argv into *a (zeroed by the caller): 0, or 1 after printing the error.
 * --help anywhere wins (a->help, nothing else read).  Values point into
 * argv.  sl_cmdline_free frees what it allocated, also after an error. */
int sl_cmdline_parse(int argc, char **argv, cmdline *a);
void sl_cmdline_free(cmdline *a);

#endif
