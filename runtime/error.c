/* error.c - sl_error, the runtime's one-line failure report. */
#include <stdarg.h>
#include <stdio.h>

#include "sluice/error.h"

int sl_error_set(sl_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}
