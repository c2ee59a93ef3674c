/*
 * pspf_std.h -- the stdlib functions emitted programs call: one C function
 * per overload of compiler/builtins.c, named pspf_std_<name>_<params> with
 * the signature letters of that table (i int, f float, b bool, s string,
 * t timestamp, d duration). Results that need memory use the record's
 * scratch space; errors (such as int(1e300)) are faults of the record.
 */
#ifndef PSPF_STD_H
#define PSPF_STD_H

#include <math.h>

#include "pspf/rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* strings */
PSPF_EXTERN int64_t pspf_std_len_s(pspf_ctx_t *ctx, pspf_str_t s);
PSPF_EXTERN pspf_str_t pspf_std_lower_s(pspf_ctx_t *ctx, pspf_str_t s);
PSPF_EXTERN pspf_str_t pspf_std_upper_s(pspf_ctx_t *ctx, pspf_str_t s);
PSPF_EXTERN pspf_str_t pspf_std_trim_s(pspf_ctx_t *ctx, pspf_str_t s);
PSPF_EXTERN pspf_list_str pspf_std_split_ss(pspf_ctx_t *ctx, pspf_str_t s,
                                            pspf_str_t sep);
PSPF_EXTERN bool pspf_std_contains_ss(pspf_ctx_t *ctx, pspf_str_t s,
                                      pspf_str_t t);
PSPF_EXTERN bool pspf_std_starts_with_ss(pspf_ctx_t *ctx, pspf_str_t s,
                                         pspf_str_t t);
PSPF_EXTERN bool pspf_std_ends_with_ss(pspf_ctx_t *ctx, pspf_str_t s,
                                       pspf_str_t t);
PSPF_EXTERN pspf_str_t pspf_std_substr_sii(pspf_ctx_t *ctx, pspf_str_t s,
                                           int64_t start, int64_t len);
PSPF_EXTERN pspf_str_t pspf_std_substr_si(pspf_ctx_t *ctx, pspf_str_t s,
                                          int64_t start);
PSPF_EXTERN pspf_str_t pspf_std_replace_sss(pspf_ctx_t *ctx, pspf_str_t s,
                                            pspf_str_t from, pspf_str_t to);

/* numbers */
PSPF_EXTERN int64_t pspf_std_abs_i(pspf_ctx_t *ctx, int64_t x);
static inline double pspf_std_abs_f(pspf_ctx_t *ctx, double x) {
  (void)ctx;
  return fabs(x);
}
#define pspf_std_abs_d pspf_std_abs_i
#define PSPF__MINMAX(T, L)                                                     \
  static inline T pspf_std_min_##L(pspf_ctx_t *ctx, T a, T b) {               \
    (void)ctx;                                                                 \
    return b < a ? b : a;                                                      \
  }                                                                            \
  static inline T pspf_std_max_##L(pspf_ctx_t *ctx, T a, T b) {               \
    (void)ctx;                                                                 \
    return b > a ? b : a;                                                      \
  }
PSPF__MINMAX(int64_t, ii)
PSPF__MINMAX(double, ff)
PSPF__MINMAX(int64_t, tt)
PSPF__MINMAX(int64_t, dd)
#undef PSPF__MINMAX
static inline pspf_str_t pspf_std_min_ss(pspf_ctx_t *ctx, pspf_str_t a,
                                         pspf_str_t b) {
  (void)ctx;
  return pspf_str_cmp(b, a) < 0 ? b : a;
}
static inline pspf_str_t pspf_std_max_ss(pspf_ctx_t *ctx, pspf_str_t a,
                                         pspf_str_t b) {
  (void)ctx;
  return pspf_str_cmp(b, a) > 0 ? b : a;
}
static inline double pspf_std_round_f(pspf_ctx_t *ctx, double x) {
  (void)ctx;
  return round(x);
}
static inline double pspf_std_floor_f(pspf_ctx_t *ctx, double x) {
  (void)ctx;
  return floor(x);
}
static inline double pspf_std_ceil_f(pspf_ctx_t *ctx, double x) {
  (void)ctx;
  return ceil(x);
}
static inline double pspf_std_sqrt_f(pspf_ctx_t *ctx, double x) {
  (void)ctx;
  return sqrt(x);
}
static inline double pspf_std_pow_ff(pspf_ctx_t *ctx, double x, double y) {
  (void)ctx;
  return pow(x, y);
}
PSPF_EXTERN int64_t pspf_std_int_f(pspf_ctx_t *ctx, double x);
static inline int64_t pspf_std_int_i(pspf_ctx_t *ctx, int64_t x) {
  (void)ctx;
  return x;
}
static inline int64_t pspf_std_int_b(pspf_ctx_t *ctx, bool x) {
  (void)ctx;
  return x ? 1 : 0;
}
#define pspf_std_int_t pspf_std_int_i
#define pspf_std_int_d pspf_std_int_i
static inline double pspf_std_float_i(pspf_ctx_t *ctx, int64_t x) {
  (void)ctx;
  return (double)x;
}
static inline double pspf_std_float_f(pspf_ctx_t *ctx, double x) {
  (void)ctx;
  return x;
}
PSPF_EXTERN pspf_opt_i64 pspf_std_parse_int_s(pspf_ctx_t *ctx, pspf_str_t s);
PSPF_EXTERN pspf_opt_f64 pspf_std_parse_float_s(pspf_ctx_t *ctx,
                                                pspf_str_t s);
PSPF_EXTERN pspf_str_t pspf_std_to_string_i(pspf_ctx_t *ctx, int64_t x);
PSPF_EXTERN pspf_str_t pspf_std_to_string_f(pspf_ctx_t *ctx, double x);
PSPF_EXTERN pspf_str_t pspf_std_to_string_b(pspf_ctx_t *ctx, bool x);
static inline pspf_str_t pspf_std_to_string_s(pspf_ctx_t *ctx, pspf_str_t x) {
  (void)ctx;
  return x;
}
PSPF_EXTERN pspf_str_t pspf_std_to_string_t(pspf_ctx_t *ctx, int64_t x);
PSPF_EXTERN pspf_str_t pspf_std_to_string_d(pspf_ctx_t *ctx, int64_t x);

/* time */
#define pspf_std_timestamp_i pspf_std_int_i
#define pspf_std_duration_i pspf_std_int_i
#define pspf_std_format_time_t pspf_std_to_string_t
PSPF_EXTERN pspf_str_t pspf_std_format_time_ts(pspf_ctx_t *ctx, int64_t t,
                                               pspf_str_t fmt);
PSPF_EXTERN pspf_opt_i64 pspf_std_parse_time_s(pspf_ctx_t *ctx, pspf_str_t s);
PSPF_EXTERN pspf_opt_i64 pspf_std_parse_time_ss(pspf_ctx_t *ctx, pspf_str_t s,
                                                pspf_str_t fmt);
PSPF_EXTERN int64_t pspf_std_truncate_td(pspf_ctx_t *ctx, int64_t t,
                                         int64_t d);

/* hashing (64-bit FNV-1a over the value's bytes; stable across runs) */
PSPF_EXTERN int64_t pspf_std_hash_i(pspf_ctx_t *ctx, int64_t x);
PSPF_EXTERN int64_t pspf_std_hash_s(pspf_ctx_t *ctx, pspf_str_t x);
PSPF_EXTERN int64_t pspf_std_hash_f(pspf_ctx_t *ctx, double x);
static inline int64_t pspf_std_hash_b(pspf_ctx_t *ctx, bool x) {
  return pspf_std_hash_i(ctx, x ? 1 : 0);
}
#define pspf_std_hash_t pspf_std_hash_i
#define pspf_std_hash_d pspf_std_hash_i

#ifdef __cplusplus
}
#endif

#endif /* PSPF_STD_H */
