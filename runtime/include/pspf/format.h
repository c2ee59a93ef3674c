/*
 * format.h -- scalar text conversions shared by every format reader and
 * writer: integers, floats, booleans and RFC 3339 timestamps.
 *
 * Parsers take a slice [p, p+n) (not NUL-terminated) and return 0 or a
 * negative PSPF_E* code; they never read outside the slice. Writers fill
 * a caller buffer of at least PSPF_FMT_MAX bytes and return the length
 * written (no NUL is counted; one is stored).
 */
#ifndef PSPF_FORMAT_H
#define PSPF_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "pspf/pspf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Room enough for any value the writers produce, with its NUL. */
#define PSPF_FMT_MAX 40

/* Parses a decimal int64 with an optional sign. Errors: PSPF_EBADREC for
 * anything else (empty, spaces, trailing bytes), PSPF_EOVERFLOW when out
 * of range. */
PSPF_EXTERN int pspf_parse_i64(const char *p, size_t n, int64_t *out);

/* Parses a decimal or exponent float ("1.5", "-2e3", "inf" is refused).
 * The result is the correctly rounded double. */
PSPF_EXTERN int pspf_parse_f64(const char *p, size_t n, double *out);

/* Parses "true" or "false". */
PSPF_EXTERN int pspf_parse_bool(const char *p, size_t n, int *out);

/* Parses a timestamp: an integer (epoch milliseconds) or RFC 3339 text
 * (YYYY-MM-DDThh:mm:ss[.fff...](Z|+hh:mm|-hh:mm), 'T' or ' ', or a bare
 * date). Digits past milliseconds are truncated. */
PSPF_EXTERN int pspf_parse_timestamp(const char *p, size_t n, int64_t *ms);

/* Writes [v] in decimal. */
PSPF_EXTERN size_t pspf_format_i64(int64_t v, char *buf);

/* Writes [v] in the shortest decimal form that reads back to the same
 * double ("0.1", "1e+100", "-0"); integral values keep a ".0" so they read
 * back as floats ("3.0"). NaN and infinities are written "nan", "inf",
 * "-inf". */
PSPF_EXTERN size_t pspf_format_f64(double v, char *buf);

/* Writes [ms] as RFC 3339 UTC with milliseconds:
 * "2026-11-23T10:00:00.000Z". Years outside 0000-9999 are written with a
 * sign and more digits, as ISO 8601 allows. */
PSPF_EXTERN size_t pspf_format_timestamp(int64_t ms, char *buf);

/* Writes code point [cp] (at most 0x10FFFF) as UTF-8 into [out] (room for
 * 4 bytes); returns the bytes written. */
PSPF_EXTERN size_t pspf_utf8_put(char *out, uint32_t cp);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
PSPF_EXTERN int64_t pspf_days_from_civil(int64_t y, unsigned m, unsigned d);
PSPF_EXTERN void pspf_civil_from_days(int64_t days, int64_t *y, unsigned *m,
                                      unsigned *d);

#ifdef __cplusplus
}
#endif

#endif /* PSPF_FORMAT_H */
