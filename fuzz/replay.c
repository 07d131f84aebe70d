/* replay.c - runs a fuzz target's LLVMFuzzerTestOneInput on every file
 * given, or in a directory given (not recursive), in name order, so the
 * corpora replay in any build, without clang or libFuzzer:
 *
 *   fuzz_frontend_replay fuzz/corpus/frontend [more dirs or files]
 *
 * Exits 0 when every input ran (a crash ends the process, as under
 * libFuzzer, with the sanitizer's report); 1 when a path cannot be read or
 * no input was found.  -v prints each input's name before running it. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int verbose;

/* Run one file; 0, or -1 after a message. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: error: cannot open '%s': %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0, n;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        fprintf(stderr, "replay: error: out of memory\n");
        return -1;
    }
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            unsigned char *bigger = realloc(buf, cap *= 2);
            if (!bigger) {
                free(buf);
                fclose(f);
                fprintf(stderr, "replay: error: out of memory\n");
                return -1;
            }
            buf = bigger;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        fprintf(stderr, "replay: error: cannot read '%s'\n", path);
        return -1;
    }
    if (verbose) {
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
        fflush(stderr);
    }
    /* Exactly len bytes, as libFuzzer passes them (ASan sees a read past
     * the end). */
    unsigned char *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        fprintf(stderr, "replay: error: out of memory\n");
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file of a directory, in name order; the count run, or
 * -1 after a message. */
static long run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: error: cannot open '%s': %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t len = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        if (len == cap) {
            char **bigger = realloc(names, (cap = cap ? cap * 2 : 256) * sizeof *names);
            if (!bigger)
                abort();
            names = bigger;
        }
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        if (!(names[len] = malloc(n)))
            abort();
        snprintf(names[len++], n, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (len)
        qsort(names, len, sizeof *names, compare_names);
    long count = 0;
    int rc = 0;
    for (size_t i = 0; i < len; i++) {
        struct stat st;
        if (rc == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(names[i]) != 0)
                rc = -1;
            else
                count++;
        }
        free(names[i]);
    }
    free(names);
    return rc ? -1 : count;
}

int main(int argc, char **argv)
{
    long total = 0;
    int paths = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
            continue;
        }
        paths++;
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: error: cannot open '%s': %s\n", argv[i], strerror(errno));
            return 1;
        }
        long n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : (run_file(argv[i]) == 0 ? 1 : -1);
        if (n < 0)
            return 1;
        total += n;
    }
    if (!paths) {
        fprintf(stderr, "usage: %s [-v] DIR|FILE...\n", argv[0]);
        return 1;
    }
    if (total == 0) {
        fprintf(stderr, "replay: error: no inputs found\n");
        return 1;
    }
    printf("replay: %ld inputs ran\n", total);
    return 0;
}
