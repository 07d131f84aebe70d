/* error.h - how the runtime reports a failure.
 *
 * Every runtime function that can fail takes an sl_error * and returns 0 on
 * success, -1 on failure after writing one line into err->msg.  The message
 * says what and where ("w.safetensors: tensor 'fc1.weight': expected shape
 * [256, 64], found [64, 256]") and carries no "error:" prefix: the caller
 * adds its own ("./model: error: ...").  err may be NULL when the caller does
 * not want the text. */
#ifndef SLUICE_ERROR_H
#define SLUICE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_error {
    char msg[1024]; /* one line, NUL-terminated, no trailing newline */
} sl_error;

/* printf-style; returns -1 so callers can write `return sl_error_set(...)`. */
int sl_error_set(sl_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
