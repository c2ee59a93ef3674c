/*
 * test_format.c -- libpspf scalar conversions: exact edges of int64,
 * float round trips, RFC 3339 both ways.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pspf/format.h"

#define S(lit) lit, sizeof(lit) - 1

Test(format, parse_i64_edges) {
  int64_t v;
  cr_assert_eq(pspf_parse_i64(S("9223372036854775807"), &v), 0);
  cr_assert_eq(v, INT64_MAX);
  cr_assert_eq(pspf_parse_i64(S("-9223372036854775808"), &v), 0);
  cr_assert_eq(v, INT64_MIN);
  cr_assert_eq(pspf_parse_i64(S("9223372036854775808"), &v), PSPF_EOVERFLOW);
  cr_assert_eq(pspf_parse_i64(S("-9223372036854775809"), &v),
               PSPF_EOVERFLOW);
  cr_assert_eq(pspf_parse_i64(S(""), &v), PSPF_EBADREC);
  cr_assert_eq(pspf_parse_i64(S("-"), &v), PSPF_EBADREC);
  cr_assert_eq(pspf_parse_i64(S("12a"), &v), PSPF_EBADREC);
  cr_assert_eq(pspf_parse_i64(S(" 1"), &v), PSPF_EBADREC);
  cr_assert_eq(pspf_parse_i64("123", 2, &v), 0);
  cr_assert_eq(v, 12);
}

Test(format, parse_f64) {
  double v;
  cr_assert_eq(pspf_parse_f64(S("0.908"), &v), 0);
  cr_assert_eq(v, 0.908);
  cr_assert_eq(pspf_parse_f64(S("-1e-3"), &v), 0);
  cr_assert_eq(v, -1e-3);
  cr_assert_eq(pspf_parse_f64(S("1e999"), &v), PSPF_EOVERFLOW);
  cr_assert_eq(pspf_parse_f64(S("inf"), &v), PSPF_EBADREC);
  cr_assert_eq(pspf_parse_f64(S("1."), &v), 0);
  cr_assert_eq(pspf_parse_f64(S("."), &v), PSPF_EBADREC);
  cr_assert_eq(pspf_parse_f64(S("1e"), &v), PSPF_EBADREC);
}

Test(format, shortest_float_round_trips) {
  char b[PSPF_FMT_MAX];
  pspf_format_f64(0.1, b);
  cr_assert_str_eq(b, "0.1");
  pspf_format_f64(0.1 + 0.2, b);
  cr_assert_str_eq(b, "0.30000000000000004");
  pspf_format_f64(3.0, b);
  cr_assert_str_eq(b, "3.0");
  pspf_format_f64(10.0, b);
  cr_assert_str_eq(b, "10.0");
  pspf_format_f64(1200.0, b);
  cr_assert_str_eq(b, "1200.0");
  pspf_format_f64(1e16, b);
  cr_assert_str_eq(b, "10000000000000000.0");
  pspf_format_f64(1e100, b);
  cr_assert_str_eq(b, "1e+100");
  pspf_format_f64(-0.0, b);
  cr_assert_str_eq(b, "-0.0");
  srand(7);
  for (int i = 0; i < 20000; i++) {
    uint64_t bits = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^
                    (uint64_t)rand();
    double v;
    memcpy(&v, &bits, sizeof v);
    if (!isfinite(v))
      continue;
    pspf_format_f64(v, b);
    cr_assert_eq(strtod(b, NULL), v, "%s", b);
  }
}

Test(format, timestamps_both_ways) {
  int64_t t;
  char b[PSPF_FMT_MAX];
  cr_assert_eq(pspf_parse_timestamp(S("2026-11-23T10:00:00Z"), &t), 0);
  cr_assert_eq(t, 1795428000000ll);
  pspf_format_timestamp(t, b);
  cr_assert_str_eq(b, "2026-11-23T10:00:00.000Z");
  cr_assert_eq(pspf_parse_timestamp(S("1795428000123"), &t), 0);
  cr_assert_eq(t, 1795428000123ll);
  cr_assert_eq(pspf_parse_timestamp(S("2026-11-23 11:00:00.1234+01:00"), &t),
               0);
  cr_assert_eq(t, 1795428000123ll);
  pspf_format_timestamp(-1, b);
  cr_assert_str_eq(b, "1969-12-31T23:59:59.999Z");
  cr_assert_eq(pspf_parse_timestamp(S("2026-02-30T00:00:00Z"), &t),
               PSPF_EBADREC);
  cr_assert_eq(pspf_parse_timestamp(S("2026-11-23T10:00:00"), &t),
               PSPF_EBADREC);
  cr_assert_eq(pspf_parse_timestamp(S("yesterday"), &t), PSPF_EBADREC);
  /* Every day of four centuries reads back. */
  for (int64_t d = -146097; d < 146097 * 2; d += 13) {
    pspf_format_timestamp(d * 86400000 + 45296789, b);
    cr_assert_eq(pspf_parse_timestamp(b, strlen(b), &t), 0, "%s", b);
    cr_assert_eq(t, d * 86400000 + 45296789, "%s", b);
  }
}

Test(format, i64_text) {
  char b[PSPF_FMT_MAX];
  pspf_format_i64(INT64_MIN, b);
  cr_assert_str_eq(b, "-9223372036854775808");
  pspf_format_i64(0, b);
  cr_assert_str_eq(b, "0");
}

/* The generated readers' inline fast paths give exactly what the plain
 * parsers give, on random digit strings with stray bytes and signs. */
Test(format, fast_paths_agree) {
  unsigned seed = 12345;
  for (int t = 0; t < 300000; t++) {
    char b[40];
    seed = seed * 1103515245u + 12345u;
    int n = 1 + (int)(seed >> 16) % 22;
    for (int i = 0; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      unsigned r = seed >> 16;
      b[i] = r % 40 == 0 ? (char)(r >> 8) : (char)('0' + r % 10);
    }
    if (t % 7 == 0)
      b[0] = t % 2 ? '-' : '+';
    if (t % 11 == 0 && n > 10)
      b[4] = '-';
    int64_t a = 0, c = 0;
    int ra = pspf_parse_i64_fast(b, (size_t)n, &a);
    int rc = pspf_parse_i64(b, (size_t)n, &c);
    cr_assert(ra == rc && (ra != 0 || a == c), "%.*s", n, b);
    ra = pspf_parse_timestamp_fast(b, (size_t)n, &a);
    rc = pspf_parse_timestamp(b, (size_t)n, &c);
    cr_assert(ra == rc && (ra != 0 || a == c), "%.*s", n, b);
  }
}

/* Short decimals are written without printf: the same text as the %g
 * search gives, for values of every kind. */
Test(format, f64_short_decimals) {
  static const struct {
    double v;
    const char *want;
  } cases[] = {{22.23692, "22.23692"},   {0.908, "0.908"},
               {100.0, "100.0"},         {-3.5, "-3.5"},
               {0.0001, "0.0001"},       {0.00012, "0.00012"},
               {1e-5, "1e-05"},          {123456789012345.0, "123456789012345.0"},
               {1e15, "1000000000000000.0"}, {0.1 + 0.2, "0.30000000000000004"},
               {1.0 / 3, "0.3333333333333333"}, {2.5e-4, "0.00025"}};
  char b[PSPF_FMT_MAX];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pspf_format_f64(cases[i].v, b);
    cr_expect_str_eq(b, cases[i].want);
  }
  /* And every short decimal reads back. */
  for (int i = 1; i < 200000; i += 7) {
    double v = i / 1000.0 * 0.908;
    pspf_format_f64(v, b);
    cr_assert_eq(strtod(b, NULL), v, "%s", b);
  }
}

/* pspf_parse_i64_padded() reads whole words past the field: with any
 * bytes there, it gives what pspf_parse_i64() gives. */
Test(format, padded_parse_agrees) {
  unsigned seed = 777;
  for (int t = 0; t < 300000; t++) {
    char b[64];
    seed = seed * 1103515245u + 12345u;
    int n = 1 + (int)(seed >> 16) % 20;
    for (int i = 0; i < 40; i++) {
      seed = seed * 1103515245u + 12345u;
      unsigned r = seed >> 16;
      b[i] = i >= n || r % 30 == 0 ? (char)(r >> 7) : (char)('0' + r % 10);
    }
    int64_t a = 0, c = 0;
    int ra = pspf_parse_i64_padded(b, (size_t)n, &a);
    int rc = pspf_parse_i64(b, (size_t)n, &c);
    cr_assert(ra == rc && (ra != 0 || a == c), "%.*s", n, b);
    ra = pspf_parse_timestamp_padded(b, (size_t)n, &a);
    rc = pspf_parse_timestamp(b, (size_t)n, &c);
    cr_assert(ra == rc && (ra != 0 || a == c), "%.*s", n, b);
  }
}
