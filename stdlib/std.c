/*
 * std.c -- stdlib functions of emitted programs (see pspf_std.h).
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include <stdio.h>
#include <time.h>

#include "pspf_std.h"

static pspf_str_t copy(pspf_ctx_t *ctx, const char *p, size_t n) {
  char *d = pspf_scratch(ctx, n);
  if (n)
    memcpy(d, p, n);
  return (pspf_str_t){d, n};
}

int64_t pspf_std_len_s(pspf_ctx_t *ctx, pspf_str_t s) {
  (void)ctx;
  int64_t n = 0;
  for (size_t i = 0; i < s.n; i++)
    n += ((unsigned char)s.p[i] & 0xC0) != 0x80;
  return n;
}

pspf_str_t pspf_std_lower_s(pspf_ctx_t *ctx, pspf_str_t s) {
  char *d = pspf_scratch(ctx, s.n);
  for (size_t i = 0; i < s.n; i++)
    d[i] = s.p[i] >= 'A' && s.p[i] <= 'Z' ? (char)(s.p[i] + 32) : s.p[i];
  return (pspf_str_t){d, s.n};
}

pspf_str_t pspf_std_upper_s(pspf_ctx_t *ctx, pspf_str_t s) {
  char *d = pspf_scratch(ctx, s.n);
  for (size_t i = 0; i < s.n; i++)
    d[i] = s.p[i] >= 'a' && s.p[i] <= 'z' ? (char)(s.p[i] - 32) : s.p[i];
  return (pspf_str_t){d, s.n};
}

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

pspf_str_t pspf_std_trim_s(pspf_ctx_t *ctx, pspf_str_t s) {
  (void)ctx;
  while (s.n && is_space(s.p[0]))
    s.p++, s.n--;
  while (s.n && is_space(s.p[s.n - 1]))
    s.n--;
  return s;
}

/* Byte offset of [t] in [s] from [from], or -1. */
static long find(pspf_str_t s, pspf_str_t t, size_t from) {
  if (t.n == 0)
    return (long)from;
  for (size_t i = from; i + t.n <= s.n; i++)
    if (s.p[i] == t.p[0] && memcmp(s.p + i, t.p, t.n) == 0)
      return (long)i;
  return -1;
}

pspf_list_str pspf_std_split_ss(pspf_ctx_t *ctx, pspf_str_t s,
                                pspf_str_t sep) {
  pspf_list_str l = {NULL, 0};
  if (sep.n == 0) { /* split into characters */
    l.items = (pspf_str_t *)(void *)pspf_scratch(
        ctx, (s.n ? s.n : 1) * sizeof(pspf_str_t) + 8);
    for (size_t i = 0; i < s.n;) {
      size_t k = 1;
      while (i + k < s.n && ((unsigned char)s.p[i + k] & 0xC0) == 0x80)
        k++;
      l.items[l.n++] = (pspf_str_t){s.p + i, k};
      i += k;
    }
    return l;
  }
  size_t count = 1;
  for (long at = find(s, sep, 0); at >= 0; at = find(s, sep, (size_t)at + sep.n))
    count++;
  /* Keep the items array aligned in scratch memory. */
  char *raw = pspf_scratch(ctx, count * sizeof(pspf_str_t) + 8);
  l.items = (pspf_str_t *)(void *)(raw + ((8 - ((uintptr_t)raw & 7)) & 7));
  size_t start = 0;
  for (long at = find(s, sep, 0); at >= 0;
       at = find(s, sep, (size_t)at + sep.n)) {
    l.items[l.n++] = (pspf_str_t){s.p + start, (size_t)at - start};
    start = (size_t)at + sep.n;
  }
  l.items[l.n++] = (pspf_str_t){s.p + start, s.n - start};
  return l;
}

bool pspf_std_contains_ss(pspf_ctx_t *ctx, pspf_str_t s, pspf_str_t t) {
  (void)ctx;
  return find(s, t, 0) >= 0;
}

bool pspf_std_starts_with_ss(pspf_ctx_t *ctx, pspf_str_t s, pspf_str_t t) {
  (void)ctx;
  return t.n <= s.n && (t.n == 0 || memcmp(s.p, t.p, t.n) == 0);
}

bool pspf_std_ends_with_ss(pspf_ctx_t *ctx, pspf_str_t s, pspf_str_t t) {
  (void)ctx;
  return t.n <= s.n && (t.n == 0 || memcmp(s.p + s.n - t.n, t.p, t.n) == 0);
}

/* Byte offset of character [k] (clamped to the end). */
static size_t char_at(pspf_str_t s, int64_t k) {
  size_t i = 0;
  for (int64_t c = 0; c < k && i < s.n; c++) {
    i++;
    while (i < s.n && ((unsigned char)s.p[i] & 0xC0) == 0x80)
      i++;
  }
  return i;
}

pspf_str_t pspf_std_substr_sii(pspf_ctx_t *ctx, pspf_str_t s, int64_t start,
                               int64_t len) {
  (void)ctx;
  if (start < 0)
    start = 0;
  if (len < 0)
    len = 0;
  size_t a = char_at(s, start);
  pspf_str_t rest = {s.p + a, s.n - a};
  size_t b = char_at(rest, len);
  return (pspf_str_t){rest.p, b};
}

pspf_str_t pspf_std_substr_si(pspf_ctx_t *ctx, pspf_str_t s, int64_t start) {
  (void)ctx;
  size_t a = char_at(s, start < 0 ? 0 : start);
  return (pspf_str_t){s.p + a, s.n - a};
}

pspf_str_t pspf_std_replace_sss(pspf_ctx_t *ctx, pspf_str_t s,
                                pspf_str_t from, pspf_str_t to) {
  if (from.n == 0 || find(s, from, 0) < 0)
    return s;
  pspf_buf_t b = {0};
  size_t start = 0;
  for (long at = find(s, from, 0); at >= 0;
       at = find(s, from, (size_t)at + from.n)) {
    pspf_buf_add(&b, s.p + start, (size_t)at - start);
    pspf_buf_add(&b, to.p, to.n);
    start = (size_t)at + from.n;
  }
  pspf_buf_add(&b, s.p + start, s.n - start);
  pspf_str_t r = copy(ctx, b.p, b.n);
  pspf_buf_free(&b);
  return r;
}

int64_t pspf_std_abs_i(pspf_ctx_t *ctx, int64_t x) {
  if (x == INT64_MIN) {
    pspf_fault(ctx, "integer overflow in abs");
    return 0;
  }
  return x < 0 ? -x : x;
}

int64_t pspf_std_int_f(pspf_ctx_t *ctx, double x) {
  if (!(x > -9223372036854775808.0 - 1024 && x < 9223372036854775808.0)) {
    pspf_fault(ctx, "float out of int range in int()");
    return 0;
  }
  return (int64_t)x;
}

pspf_opt_i64 pspf_std_parse_int_s(pspf_ctx_t *ctx, pspf_str_t s) {
  (void)ctx;
  pspf_opt_i64 r = {false, 0};
  r.has = pspf_parse_i64(s.p, s.n, &r.v) == 0;
  return r;
}

pspf_opt_f64 pspf_std_parse_float_s(pspf_ctx_t *ctx, pspf_str_t s) {
  (void)ctx;
  pspf_opt_f64 r = {false, 0};
  r.has = pspf_parse_f64(s.p, s.n, &r.v) == 0;
  return r;
}

pspf_str_t pspf_std_to_string_i(pspf_ctx_t *ctx, int64_t x) {
  char b[PSPF_FMT_MAX];
  return copy(ctx, b, pspf_format_i64(x, b));
}

pspf_str_t pspf_std_to_string_f(pspf_ctx_t *ctx, double x) {
  char b[PSPF_FMT_MAX];
  return copy(ctx, b, pspf_format_f64(x, b));
}

pspf_str_t pspf_std_to_string_b(pspf_ctx_t *ctx, bool x) {
  (void)ctx;
  return x ? PSPF_STR("true") : PSPF_STR("false");
}

pspf_str_t pspf_std_to_string_t(pspf_ctx_t *ctx, int64_t x) {
  char b[PSPF_FMT_MAX];
  return copy(ctx, b, pspf_format_timestamp(x, b));
}

pspf_str_t pspf_std_to_string_d(pspf_ctx_t *ctx, int64_t x) {
  char b[PSPF_FMT_MAX + 2];
  size_t n = pspf_format_i64(x, b);
  memcpy(b + n, "ms", 2);
  return copy(ctx, b, n + 2);
}

pspf_str_t pspf_std_format_time_ts(pspf_ctx_t *ctx, int64_t t,
                                   pspf_str_t fmt) {
  char f[256], out[512];
  if (fmt.n >= sizeof f) {
    pspf_fault(ctx, "format_time: format too long");
    return PSPF_STR("");
  }
  memcpy(f, fmt.p, fmt.n);
  f[fmt.n] = 0;
  int64_t days = t / 86400000, rem = t % 86400000;
  if (rem < 0)
    rem += 86400000, days--;
  int64_t y;
  unsigned m, d;
  pspf_civil_from_days(days, &y, &m, &d);
  struct tm tm = {0};
  tm.tm_year = (int)(y - 1900);
  tm.tm_mon = (int)m - 1;
  tm.tm_mday = (int)d;
  tm.tm_hour = (int)(rem / 3600000);
  tm.tm_min = (int)(rem / 60000 % 60);
  tm.tm_sec = (int)(rem / 1000 % 60);
  tm.tm_wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
  size_t n = strftime(out, sizeof out, f, &tm);
  return copy(ctx, out, n);
}

pspf_opt_i64 pspf_std_parse_time_s(pspf_ctx_t *ctx, pspf_str_t s) {
  (void)ctx;
  pspf_opt_i64 r = {false, 0};
  r.has = pspf_parse_timestamp(s.p, s.n, &r.v) == 0;
  return r;
}

pspf_opt_i64 pspf_std_parse_time_ss(pspf_ctx_t *ctx, pspf_str_t s,
                                    pspf_str_t fmt) {
  (void)ctx;
  pspf_opt_i64 r = {false, 0};
  char text[256], f[256];
  if (s.n >= sizeof text || fmt.n >= sizeof f)
    return r;
  memcpy(text, s.p, s.n);
  text[s.n] = 0;
  memcpy(f, fmt.p, fmt.n);
  f[fmt.n] = 0;
  struct tm tm = {0};
  tm.tm_mday = 1;
  const char *end = strptime(text, f, &tm);
  if (!end || *end)
    return r;
  r.v = (pspf_days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                              (unsigned)tm.tm_mday) *
             86400 +
         tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec) *
        1000;
  r.has = true;
  return r;
}

int64_t pspf_std_truncate_td(pspf_ctx_t *ctx, int64_t t, int64_t d) {
  if (d <= 0) {
    pspf_fault(ctx, "truncate: duration must be positive");
    return t;
  }
  int64_t r = t % d;
  if (r < 0)
    r += d;
  return t - r;
}

static int64_t fnv(const void *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 1099511628211ull;
  }
  return (int64_t)h;
}

int64_t pspf_std_hash_i(pspf_ctx_t *ctx, int64_t x) {
  (void)ctx;
  return fnv(&x, sizeof x);
}

int64_t pspf_std_hash_s(pspf_ctx_t *ctx, pspf_str_t x) {
  (void)ctx;
  return fnv(x.p, x.n);
}

int64_t pspf_std_hash_f(pspf_ctx_t *ctx, double x) {
  (void)ctx;
  if (x == 0)
    x = 0; /* -0.0 and 0.0 are equal, so hash alike */
  return fnv(&x, sizeof x);
}
