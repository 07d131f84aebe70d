/* outfile.c - output files written beside their destination and renamed
 * into place, so that a failed run leaves nothing behind. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/outfile.h"

/* A new file beside path, "PATH.tmp-PID-N", opened with O_EXCL; the mode is
 * 0666 less the umask, as fopen would give. */
static FILE *open_temp(const char *path, char **tmp)
{
    static unsigned counter;
    size_t cap = strlen(path) + 48;
    char *name = malloc(cap);
    if (!name)
        return NULL;
    for (int tries = 0; tries < 100; tries++) {
        snprintf(name, cap, "%s.tmp-%ld-%u", path, (long)getpid(), counter++);
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            break;
        FILE *f = fdopen(fd, "wb");
        if (!f) {
            int e = errno;
            close(fd);
            unlink(name);
            errno = e;
            break;
        }
        *tmp = name;
        return f;
    }
    int e = errno;
    free(name);
    errno = e;
    return NULL;
}

int sl_outfile_open(sl_outfile *o, const char *path, sl_error *err)
{
    *o = (sl_outfile){.path = path};
    if (!*path)
        return sl_error_set(err, "an output file name is empty");
    struct stat st;
    bool exists = lstat(path, &st) == 0, in_place = exists && !S_ISREG(st.st_mode);
    if (exists && !in_place && access(path, W_OK) != 0)
        return sl_error_set(err, "%s: cannot create: %s", path, strerror(errno));
    o->f = in_place ? fopen(path, "wb") : open_temp(path, &o->tmp);
    if (!o->f)
        return sl_error_set(err, "%s: cannot create: %s", path, strerror(errno));
    return 0;
}

int sl_outfile_finish(sl_outfile *o, int ok, sl_error *err)
{
    int e = errno;
    if (ok && ferror(o->f)) {
        ok = 0;
        e = EIO;
    }
    if (fclose(o->f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    o->f = NULL;
    if (!ok)
        return sl_error_set(err, "%s: cannot write: %s", o->path, strerror(e));
    return 0;
}

int sl_outfile_commit(sl_outfile *o, sl_error *err)
{
    if (!o->tmp)
        return 0;
    if (rename(o->tmp, o->path) != 0)
        return sl_error_set(err, "%s: cannot create: %s", o->path, strerror(errno));
    free(o->tmp);
    o->tmp = NULL;
    return 0;
}

void sl_outfile_discard(sl_outfile *o)
{
    if (o->f) {
        fclose(o->f);
        o->f = NULL;
    }
    if (o->tmp) {
        unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
    }
}
