/* outfile.h - an output file that appears only when all of it was written.
 *
 * A plain file (or a path that does not exist yet) is written to a
 * temporary file beside it and renamed over it by sl_outfile_commit, so a
 * failed run leaves neither a half-written file nor a new empty one, and
 * an existing file keeps its old contents.  Anything else (a device such as
 * /dev/null or /dev/full, a pipe, a symlink such as /dev/stdout) is written
 * in place: renaming over it would replace the node itself. */
#ifndef SLUICE_OUTFILE_H
#define SLUICE_OUTFILE_H

#include <stdio.h>
#include "sluice/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_outfile {
    FILE *f;          /* write here; NULL once finished */
    const char *path; /* the destination, as given */
    char *tmp;        /* the temporary beside it; NULL when written in place */
} sl_outfile;

/* Open for writing; "PATH: cannot create: REASON" on failure. */
int sl_outfile_open(sl_outfile *o, const char *path, sl_error *err);

/* Close o->f; "PATH: cannot write: REASON" if a write or the close failed
 * (pass ok = false when a write already failed, with errno still set). */
int sl_outfile_finish(sl_outfile *o, int ok, sl_error *err);

/* Put a finished file in place (rename the temporary over the path). */
int sl_outfile_commit(sl_outfile *o, sl_error *err);

/* Give up: close if open, remove the temporary.  Safe on a zeroed or
 * committed sl_outfile, and more than once. */
void sl_outfile_discard(sl_outfile *o);

#ifdef __cplusplus
}
#endif
#endif
