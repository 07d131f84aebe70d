/* test_loaders.c - what the corpus files cannot show: OS errors (missing
 * file, directory), memory entry points given nothing, lookups, the int32
 * reader beside the f32 one, and the .npy writer, whose files must equal
 * NumPy's byte for byte.
 *
 *   test_loaders CORPUS_DIR SCRATCH_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "sluice/npy.h"
#include "sluice/safetensors.h"

static const char *corpus, *scratch;

static char *path_in(const char *dir, const char *name)
{
    static char buf[8][4096];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static void os_errors(void)
{
    sl_error err;
    sl_npy a;
    CHECK(sl_st_open("no-such.safetensors", &err) == NULL);
    CHECK_STR(err.msg, "no-such.safetensors: cannot open: No such file or directory");
    CHECK(sl_npy_read("no-such.npy", &a, &err) == -1);
    CHECK_STR(err.msg, "no-such.npy: cannot open: No such file or directory");
    CHECK(a.data == NULL && a.rank == 0);

    char want[4200];
    CHECK(sl_st_open(corpus, &err) == NULL);
    snprintf(want, sizeof want, "%s: is a directory, not a safetensors file", corpus);
    CHECK_STR(err.msg, want);
    CHECK(sl_npy_read(corpus, &a, &err) == -1);
    snprintf(want, sizeof want, "%s: is a directory, not a .npy file", corpus);
    CHECK_STR(err.msg, want);

    CHECK(sl_st_open("/dev/null", &err) == NULL);
    CHECK_STR(err.msg, "/dev/null: not a regular file");

    /* Memory given nothing: an empty file. */
    CHECK(sl_st_open_mem(NULL, 0, "nothing", &err) == NULL);
    CHECK_STR(err.msg, "nothing: empty file (a safetensors file starts with an 8-byte header "
                       "length)");
    CHECK(sl_npy_read_mem(NULL, 0, "nothing", &a, &err) == -1);
    CHECK_STR(err.msg, "nothing: empty file (a .npy file starts with \\x93NUMPY)");
    CHECK(sl_st_open_mem(NULL, 0, NULL, &err) == NULL);
    CHECK_STR(err.msg, "<memory>: empty file (a safetensors file starts with an 8-byte header "
                       "length)");

    /* err may be NULL. */
    CHECK(sl_st_open("no-such.safetensors", NULL) == NULL);
    CHECK(sl_npy_read("no-such.npy", &a, NULL) == -1);
    sl_st_close(NULL);
    sl_npy_free(NULL);

    /* The int32 reader says the same. */
    sl_npy_i32 n;
    CHECK(sl_npy_read_i32("no-such.npy", &n, &err) == -1);
    CHECK_STR(err.msg, "no-such.npy: cannot open: No such file or directory");
    CHECK(n.data == NULL && n.rank == 0);
    CHECK(sl_npy_read_i32(corpus, &n, &err) == -1);
    CHECK_STR(err.msg, want);
    CHECK(sl_npy_read_i32("/dev/null", &n, &err) == -1);
    CHECK_STR(err.msg, "/dev/null: not a regular file");
    CHECK(sl_npy_read_i32_mem(NULL, 0, NULL, &n, &err) == -1);
    CHECK_STR(err.msg, "<memory>: empty file (a .npy file starts with \\x93NUMPY)");
    CHECK(sl_npy_read_i32("no-such.npy", &n, NULL) == -1);
    sl_npy_i32_free(NULL);
}

/* The int32 reader takes what the f32 reader takes, as whole numbers, and
 * the f32 reader still refuses integers. */
static void int_reader(void)
{
    sl_error err;
    sl_npy_i32 n;
    CHECK(sl_npy_read_i32(path_in(corpus, "npy/rank4.npy"), &n, &err) == 0);
    CHECK(n.rank == 4 && n.numel == 24 && n.shape[3] == 4);
    for (int i = 0; i < 24 && n.data; i++)
        CHECK(n.data[i] == i);
    sl_npy_i32_free(&n);
    CHECK(n.data == NULL && n.numel == 0);
    CHECK(sl_npy_read_i32(path_in(corpus, "npy/v1.npy"), &n, &err) == -1); /* k / 4 */
    char want[4200];
    snprintf(want, sizeof want, "%s: element 1 is 0.25, not a whole number",
             path_in(corpus, "npy/v1.npy"));
    CHECK_STR(err.msg, want);
    sl_npy a;
    CHECK(sl_npy_read(path_in(corpus, "npy_int/i4.npy"), &a, &err) == -1);
    snprintf(want, sizeof want, "%s: dtype '<i4' is not supported (expected '<f4' or '<f8', "
             "float32 or float64)", path_in(corpus, "npy_int/i4.npy"));
    CHECK_STR(err.msg, want);
}

static void lookups(void)
{
    sl_error err;
    sl_st_file *f = sl_st_open(path_in(corpus, "st/order.safetensors"), &err);
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(sl_st_count(f) == 3);
    CHECK_STR(sl_st_at(f, 0)->name, "b"); /* file order is data order */
    CHECK_STR(sl_st_at(f, 2)->name, "c");
    CHECK(sl_st_at(f, 3) == NULL && sl_st_at(f, -1) == NULL);
    CHECK(sl_st_find(f, "a") && sl_st_find(f, "a")->data[0] == 1.0f);
    CHECK(sl_st_find(f, "c") && sl_st_find(f, "c")->data[0] == 3.0f);
    CHECK(sl_st_find(f, "d") == NULL);
    CHECK(sl_st_find(f, "") == NULL);
    CHECK_STR(sl_st_name(f), path_in(corpus, "st/order.safetensors"));
    sl_st_close(f);

    f = sl_st_open(path_in(corpus, "st/rank0.safetensors"), &err);
    CHECK(f && sl_st_at(f, 0)->rank == 0 && sl_st_at(f, 0)->numel == 1 &&
          sl_st_at(f, 0)->data[0] == 3.5f);
    sl_st_close(f);

    f = sl_st_open(path_in(corpus, "st/zero_elements.safetensors"), &err);
    CHECK(f && sl_st_find(f, "z") && sl_st_find(f, "z")->numel == 0 &&
          sl_st_find(f, "z")->data != NULL);
    sl_st_close(f);

    f = sl_st_open(path_in(corpus, "st/other_dtypes.safetensors"), &err);
    CHECK(f && sl_st_find(f, "i") && sl_st_find(f, "i")->dtype == SL_ST_OTHER &&
          sl_st_find(f, "i")->data == NULL);
    CHECK(f && sl_st_find(f, "v") && sl_st_find(f, "v")->dtype == SL_ST_F32);
    sl_st_close(f);

    /* A memory file stays valid as long as its buffer: F32 data are views. */
    size_t len;
    unsigned char *buf = slurp(path_in(corpus, "st/f32.safetensors"), &len);
    f = buf ? sl_st_open_mem(buf, len, "f32", &err) : NULL;
    CHECK(f != NULL);
    if (f) {
        const float *d = sl_st_find(f, "a")->data;
        CHECK((const unsigned char *)d > buf && (const unsigned char *)d < buf + len);
        CHECK(d[5] == 6.0f);
    }
    sl_st_close(f);
    free(buf);
}

/* The writer in format version `major` (0: its own choice) against
 * NumPy's file `name` in corpus/npy (np.save, or write_array with that
 * version). */
static void writer_matches_numpy_v(const char *name, int major, const float *data,
                                   int32_t rank, const int64_t *shape)
{
    sl_error err;
    char *out = path_in(scratch, "written.npy"), golden[4200];
    snprintf(golden, sizeof golden, "%s/npy/%s", corpus, name);
    sl_outfile o;
    CHECK(sl_outfile_open(&o, out, &err) == 0);
    CHECK(sl_npy_write_version(&o, major, data, rank, shape, &err) == 0);
    CHECK(sl_outfile_commit(&o, &err) == 0);
    sl_outfile_discard(&o);
    size_t la, lb;
    unsigned char *a = slurp(out, &la), *b = slurp(golden, &lb);
    CHECK(a && b && la == lb && memcmp(a, b, la) == 0);
    if (!(a && b && la == lb && memcmp(a, b, la) == 0))
        printf("  %s differs from NumPy's %s (%zu bytes against %zu)\n", out, golden, la, lb);
    free(a);
    free(b);
    /* And reads back. */
    sl_npy r;
    CHECK(sl_npy_read(out, &r, &err) == 0 && r.rank == rank);
    for (int i = 0; i < rank && i < r.rank; i++)
        CHECK(r.shape[i] == shape[i]);
    for (int64_t i = 0; i < r.numel; i++)
        CHECK(r.data[i] == data[i]);
    sl_npy_free(&r);
    unlink(out);
}

/* sl_npy_write (NumPy's choice of version) against corpus/npy/writer. */
static void writer_matches_numpy(const char *name, const float *data, int32_t rank,
                                 const int64_t *shape)
{
    char golden[256];
    snprintf(golden, sizeof golden, "writer/%s", name);
    writer_matches_numpy_v(golden, 0, data, rank, shape);
}

static void writer(void)
{
    float v[24];
    for (int i = 0; i < 24; i++)
        v[i] = (float)i;
    float r0 = 3.5f, r1[3] = {1, 2, 3}, r2[6] = {0, 0.25f, 0.5f, 0.75f, 1, 1.25f};
    writer_matches_numpy("write_rank0.npy", &r0, 0, NULL);
    writer_matches_numpy("write_rank1.npy", r1, 1, (int64_t[]){3});
    writer_matches_numpy("write_rank2.npy", r2, 2, (int64_t[]){2, 3});
    writer_matches_numpy("write_empty.npy", NULL, 2, (int64_t[]){0, 4});
    writer_matches_numpy("write_rank4.npy", v, 4, (int64_t[]){1, 2, 3, 4});
    writer_matches_numpy("write_wide.npy", NULL, 2, (int64_t[]){1234567, 0});
    /* Each format version, against NumPy's write_array(version=...). */
    writer_matches_numpy_v("v1.npy", 1, r2, 2, (int64_t[]){2, 3});
    writer_matches_numpy_v("v2.npy", 2, r2, 2, (int64_t[]){2, 3});
    writer_matches_numpy_v("v3.npy", 3, r2, 2, (int64_t[]){2, 3});

    /* NaN, infinities and -0 survive a round trip bit for bit. */
    float special[4] = {NAN, INFINITY, -INFINITY, -0.0f};
    sl_error err;
    sl_npy r;
    char *out = path_in(scratch, "special.npy");
    CHECK(sl_npy_write(out, special, 1, (int64_t[]){4}, &err) == 0);
    CHECK(sl_npy_read(out, &r, &err) == 0 && r.numel == 4 &&
          memcmp(r.data, special, sizeof special) == 0);
    sl_npy_free(&r);
    unlink(out);

    /* Refusals. */
    char want[4200];
    snprintf(want, sizeof want, "%s/no-such-dir/y.npy: cannot create: No such file or directory",
             scratch);
    CHECK(sl_npy_write(path_in(scratch, "no-such-dir/y.npy"), r1, 1, (int64_t[]){3}, &err) == -1);
    CHECK_STR(err.msg, want);
    CHECK(sl_npy_write(scratch, r1, 1, (int64_t[]){3}, &err) == -1);
    snprintf(want, sizeof want, "%s: cannot create: Is a directory", scratch);
    CHECK_STR(err.msg, want);
    CHECK(sl_npy_write("x.npy", r1, 9, (int64_t[9]){1}, &err) == -1);
    CHECK_STR(err.msg, "x.npy: cannot write an array of 9 dimensions (at most 8)");
    CHECK(sl_npy_write("x.npy", r1, 1, (int64_t[]){-1}, &err) == -1);
    CHECK_STR(err.msg, "x.npy: cannot write an array with dimension -1 (negative, or too many "
                       "elements)");
    CHECK(sl_npy_write("x.npy", NULL, 1, (int64_t[]){3}, &err) == -1);
    CHECK_STR(err.msg, "x.npy: no data to write");
    CHECK(access("x.npy", F_OK) != 0); /* nothing was created */
}

/* The memory reader on a buffer cut at every length: an error each time
 * (never a crash or an over-read: ASan watches), until the whole file.
 * npy: 0 safetensors, 1 .npy as f32, 2 .npy as int32. */
static void every_prefix(const char *name, int npy)
{
    size_t len;
    unsigned char *full = slurp(path_in(corpus, name), &len);
    CHECK(full != NULL);
    int loaded = 0;
    for (size_t n = 0; full && n <= len; n++) {
        unsigned char *cut = malloc(n ? n : 1); /* exactly n bytes, for ASan */
        memcpy(cut, full, n);
        sl_error err;
        if (npy == 2) {
            sl_npy_i32 a;
            loaded += sl_npy_read_i32_mem(cut, n, name, &a, &err) == 0;
            sl_npy_i32_free(&a);
        } else if (npy) {
            sl_npy a;
            loaded += sl_npy_read_mem(cut, n, name, &a, &err) == 0;
            sl_npy_free(&a);
        } else {
            sl_st_file *f = sl_st_open_mem(cut, n, name, &err);
            loaded += f != NULL;
            sl_st_close(f);
        }
        free(cut);
    }
    CHECK(loaded == 1); /* the whole file only */
    free(full);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_loaders CORPUS_DIR SCRATCH_DIR\n");
        return 2;
    }
    corpus = argv[1];
    scratch = argv[2];
    mkdir(scratch, 0777);
    os_errors();
    lookups();
    writer();
    int_reader();
    every_prefix("st/f16.safetensors", 0);
    every_prefix("st/metadata.safetensors", 0);
    every_prefix("npy/v1.npy", 1);
    every_prefix("npy/v3.npy", 1);
    every_prefix("npy/f8.npy", 1);
    every_prefix("npy_int/i8.npy", 2);
    every_prefix("npy_int/u1.npy", 2);
    every_prefix("npy_int/f8.npy", 2);
    return check_report("test_loaders");
}
