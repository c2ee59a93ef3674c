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
#include <string.h>

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

/* The value of the 8 ASCII digits at [p], or -1 if one is not a digit:
 * all eight at once in a 64-bit word (digit pairs, then quads, then the
 * two halves), little-endian. */
static inline int64_t pspf__digits8w(uint64_t x) {
  if (((x & 0xF0F0F0F0F0F0F0F0u) |
       (((x + 0x0606060606060606u) & 0xF0F0F0F0F0F0F0F0u) >> 4)) !=
      0x3333333333333333u)
    return -1;
  x -= 0x3030303030303030u;
  x = (x * 10 + (x >> 8)) & 0x00FF00FF00FF00FFu;
  x = (x * 100 + (x >> 16)) & 0x0000FFFF0000FFFFu;
  return (int64_t)((x & 0xFFFFu) * 10000 + (x >> 32));
}

static inline int64_t pspf__digits8(const char *p) {
  uint64_t x;
  memcpy(&x, p, 8);
  return pspf__digits8w(x);
}

/* pspf_parse_i64() and pspf_parse_timestamp() with the common case (1 to
 * 18 plain digits) inline, for the generated readers. Same results. */
static inline int pspf_parse_i64_fast(const char *p, size_t n, int64_t *out) {
  if (n - 1 < 18 && (unsigned)(unsigned char)p[0] - '0' <= 9) {
    uint64_t v = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      int64_t d8 = pspf__digits8(p + i);
      if (d8 < 0)
        return pspf_parse_i64(p, n, out);
      v = v * 100000000u + (uint64_t)d8;
    }
    for (; i < n; i++) {
      unsigned d = (unsigned)(unsigned char)p[i] - '0';
      if (d > 9)
        break;
      v = v * 10 + d;
    }
    if (i == n) {
      *out = (int64_t)v;
      return 0;
    }
  }
  return pspf_parse_i64(p, n, out);
}

/* Bytes after a record that readers may load (see pspf_source_t). */
#define PSPF_READ_PAD 16

/* pspf_parse_i64_fast() for a field whose 8 following bytes are readable
 * (a slice of a record as the runtime hands it over): up to 8 digits in
 * one word, whatever follows them masked off, and zeros in front. */
static inline int pspf_parse_i64_padded(const char *p, size_t n,
                                        int64_t *out) {
  if (n - 1 < 16 && (unsigned)(unsigned char)p[0] - '0' <= 9) {
    size_t head = n > 8 ? n - 8 : n; /* 1..8 digits first */
    uint64_t x;
    memcpy(&x, p, 8);
    if (head < 8)
      x = (x << (8 * (8 - head))) | (0x3030303030303030u >> (8 * head));
    int64_t a = pspf__digits8w(x);
    if (a >= 0) {
      if (n <= 8) {
        *out = a;
        return 0;
      }
      int64_t b = pspf__digits8(p + head);
      if (b >= 0) {
        *out = a * 100000000 + b;
        return 0;
      }
    }
  }
  return pspf_parse_i64(p, n, out);
}

static inline int pspf_parse_timestamp_padded(const char *p, size_t n,
                                              int64_t *ms) {
  if (n - 1 < 16 && (n < 5 || p[4] != '-') &&
      (unsigned)(unsigned char)p[0] - '0' <= 9)
    return pspf_parse_i64_padded(p, n, ms);
  return pspf_parse_timestamp(p, n, ms);
}

static inline int pspf_parse_timestamp_fast(const char *p, size_t n,
                                            int64_t *ms) {
  if (n - 1 < 18 && (n < 5 || p[4] != '-') &&
      (unsigned)(unsigned char)p[0] - '0' <= 9)
    return pspf_parse_i64_fast(p, n, ms);
  return pspf_parse_timestamp(p, n, ms);
}

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
