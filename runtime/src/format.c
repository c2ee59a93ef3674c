/*
 * format.c -- scalar text conversions (see pspf/format.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pspf/format.h"

int pspf_parse_i64(const char *p, size_t n, int64_t *out) {
  size_t i = 0;
  int neg = 0;
  if (n && (p[0] == '-' || p[0] == '+')) {
    neg = p[0] == '-';
    i = 1;
  }
  if (i == n)
    return PSPF_EBADREC;
  uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  uint64_t v = 0;
  if (n - i <= 18) {
    /* Up to 18 digits cannot overflow: no check a digit. */
    for (; i < n; i++) {
      unsigned d = (unsigned)(unsigned char)p[i] - '0';
      if (d > 9)
        return PSPF_EBADREC;
      v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
  }
  for (; i < n; i++) {
    unsigned d = (unsigned)(unsigned char)p[i] - '0';
    if (d > 9)
      return PSPF_EBADREC;
    if (v > (limit - d) / 10)
      return PSPF_EOVERFLOW;
    v = v * 10 + d;
  }
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}

int pspf_parse_f64(const char *p, size_t n, double *out) {
  char buf[128];
  if (n == 0 || n >= sizeof buf)
    return PSPF_EBADREC;
  /* Only the JSON/CSV number shape: sign, digits, fraction, exponent. */
  size_t i = 0;
  if (p[i] == '-' || p[i] == '+')
    i++;
  size_t digits = 0;
  while (i < n && p[i] >= '0' && p[i] <= '9')
    i++, digits++;
  if (i < n && p[i] == '.') {
    i++;
    while (i < n && p[i] >= '0' && p[i] <= '9')
      i++, digits++;
  }
  if (!digits)
    return PSPF_EBADREC;
  if (i < n && (p[i] == 'e' || p[i] == 'E')) {
    i++;
    if (i < n && (p[i] == '-' || p[i] == '+'))
      i++;
    size_t ed = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9')
      i++, ed++;
    if (!ed)
      return PSPF_EBADREC;
  }
  if (i != n)
    return PSPF_EBADREC;
  memcpy(buf, p, n);
  buf[n] = 0;
  errno = 0;
  double v = strtod(buf, NULL);
  if (isinf(v))
    return PSPF_EOVERFLOW;
  *out = v;
  return 0;
}

int pspf_parse_bool(const char *p, size_t n, int *out) {
  if (n == 4 && memcmp(p, "true", 4) == 0)
    *out = 1;
  else if (n == 5 && memcmp(p, "false", 5) == 0)
    *out = 0;
  else
    return PSPF_EBADREC;
  return 0;
}

size_t pspf_utf8_put(char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

int64_t pspf_days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void pspf_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int two(const char *p, size_t n, size_t at) {
  if (at + 2 > n || p[at] < '0' || p[at] > '9' || p[at + 1] < '0' ||
      p[at + 1] > '9')
    return -1;
  return (p[at] - '0') * 10 + (p[at + 1] - '0');
}

int pspf_parse_timestamp(const char *p, size_t n, int64_t *ms) {
  /* Epoch milliseconds. */
  if (n && (p[0] == '-' || (p[0] >= '0' && p[0] <= '9')) &&
      (n < 5 || p[4] != '-'))
    return pspf_parse_i64(p, n, ms);
  if (n < 10 || p[4] != '-' || p[7] != '-')
    return PSPF_EBADREC;
  int y = 0;
  for (int i = 0; i < 4; i++) {
    if (p[i] < '0' || p[i] > '9')
      return PSPF_EBADREC;
    y = y * 10 + (p[i] - '0');
  }
  int mo = two(p, n, 5), d = two(p, n, 8);
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap))
    return PSPF_EBADREC;
  int64_t t = pspf_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400000;
  if (n == 10) {
    *ms = t;
    return 0;
  }
  if (p[10] != 'T' && p[10] != 't' && p[10] != ' ')
    return PSPF_EBADREC;
  int hh = two(p, n, 11), mi = two(p, n, 14), ss = two(p, n, 17);
  if (n < 19 || p[13] != ':' || p[16] != ':' || hh < 0 || hh > 23 || mi < 0 ||
      mi > 59 || ss < 0 || ss > 60)
    return PSPF_EBADREC;
  if (ss == 60) /* a leap second reads as the last millisecond before */
    ss = 59;
  size_t i = 19;
  int frac = 0, nd = 0;
  if (i < n && p[i] == '.') {
    i++;
    while (i < n && p[i] >= '0' && p[i] <= '9') {
      if (nd < 3)
        frac = frac * 10 + (p[i] - '0');
      nd++;
      i++;
    }
    if (!nd)
      return PSPF_EBADREC;
    for (; nd < 3; nd++)
      frac *= 10;
  }
  t += ((int64_t)hh * 3600 + mi * 60 + ss) * 1000 + frac;
  if (i + 1 == n && (p[i] == 'Z' || p[i] == 'z')) {
    *ms = t;
    return 0;
  }
  if (i + 6 == n && (p[i] == '+' || p[i] == '-') && p[i + 3] == ':') {
    int oh = two(p, n, i + 1), om = two(p, n, i + 4);
    if (oh < 0 || oh > 23 || om < 0 || om > 59)
      return PSPF_EBADREC;
    int64_t off = ((int64_t)oh * 60 + om) * 60000;
    *ms = p[i] == '+' ? t - off : t + off;
    return 0;
  }
  return PSPF_EBADREC;
}

size_t pspf_format_i64(int64_t v, char *buf) {
  char tmp[24];
  size_t k = 0;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[k++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  size_t n = 0;
  if (v < 0)
    buf[n++] = '-';
  while (k)
    buf[n++] = tmp[--k];
  buf[n] = 0;
  return n;
}

/* The shortest round trip of a value that is a short decimal (most data:
 * prices, rates, measurements), without printf: the fewest decimals k
 * such that round(v * 10^k) / 10^k is v again (exact: both integers are
 * below 2^53 and division rounds correctly, as reading the text does).
 * Only where %g would write no exponent; 0 if none fits. */
static size_t format_f64_short(double v, char *buf) {
  static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,
                               1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17};
  double mag = fabs(v);
  if (!(mag >= 1e-4 && mag < 1e15))
    return 0;
  int int_digits = 0; /* digits before the point; 0 below 1 */
  while (int_digits < 16 && mag >= p10[int_digits])
    int_digits++;
  static const double tenths[] = {1e-1, 1e-2, 1e-3, 1e-4};
  int zeros = 0; /* below 1: zeros after the point */
  while (int_digits == 0 && zeros < 4 && mag < tenths[zeros])
    zeros++;
  for (int k = 0; k <= 17; k++) {
    int sig = int_digits ? int_digits + k : k - zeros;
    if (sig > 17)
      break;
    double r = nearbyint(mag * p10[k]);
    if (r >= 9007199254740992.0)
      break;
    if (r / p10[k] != mag)
      continue;
    /* Found: r with k decimals. */
    uint64_t u = (uint64_t)r, ip = u, fp = 0;
    if (k) {
      uint64_t d = (uint64_t)p10[k];
      ip = u / d;
      fp = u % d;
    }
    char *o = buf;
    if (v < 0)
      *o++ = '-';
    o += pspf_format_i64((int64_t)ip, o);
    *o++ = '.';
    if (k == 0) {
      *o++ = '0';
    } else {
      for (int i = k - 1; i >= 0; i--, fp /= 10)
        o[i] = (char)('0' + fp % 10);
      o += k;
    }
    *o = 0;
    return (size_t)(o - buf);
  }
  return 0;
}

size_t pspf_format_f64(double v, char *buf) {
  size_t fast = format_f64_short(v, buf);
  if (fast)
    return fast;
  if (isnan(v))
    return (size_t)snprintf(buf, PSPF_FMT_MAX, "nan");
  if (isinf(v))
    return (size_t)snprintf(buf, PSPF_FMT_MAX, v < 0 ? "-inf" : "inf");
  /* The shortest precision that reads back the same double: whether a
   * precision reads back only gets truer as it grows, so search it. */
  int lo = 1, hi = 17;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    snprintf(buf, PSPF_FMT_MAX, "%.*g", mid, v);
    if (strtod(buf, NULL) == v)
      hi = mid;
    else
      lo = mid + 1;
  }
  /* %g switches to an exponent when the precision is shorter than the
   * integer part (10 -> "1e+01"): give it all the integer digits. */
  double mag = fabs(v);
  if (mag >= 1 && mag < 1e17) {
    int int_digits = 1;
    for (double p10 = 10; p10 <= mag && int_digits < 17; p10 *= 10)
      int_digits++;
    if (lo < int_digits)
      lo = int_digits;
  }
  int len = snprintf(buf, PSPF_FMT_MAX, "%.*g", lo, v);
  /* Keep it recognisably a float: 3 -> 3.0 (but not 1e+100). */
  if (!strpbrk(buf, ".en") && len + 2 < PSPF_FMT_MAX) {
    buf[len++] = '.';
    buf[len++] = '0';
    buf[len] = 0;
  }
  return (size_t)len;
}

size_t pspf_format_timestamp(int64_t ms, char *buf) {
  int64_t days = ms / 86400000, rem = ms % 86400000;
  if (rem < 0) {
    rem += 86400000;
    days--;
  }
  int64_t y;
  unsigned m, d;
  pspf_civil_from_days(days, &y, &m, &d);
  unsigned hh = (unsigned)(rem / 3600000), mi = (unsigned)(rem / 60000 % 60),
           ss = (unsigned)(rem / 1000 % 60), fr = (unsigned)(rem % 1000);
  int n;
  if (y >= 0 && y <= 9999) { /* the common case, without printf */
    buf[0] = (char)('0' + y / 1000);
    buf[1] = (char)('0' + y / 100 % 10);
    buf[2] = (char)('0' + y / 10 % 10);
    buf[3] = (char)('0' + y % 10);
    n = 4;
  } else {
    n = snprintf(buf, PSPF_FMT_MAX, "%+05lld", (long long)y);
  }
  char *o = buf + n;
  const unsigned parts[] = {m, d, hh, mi, ss};
  static const char seps[] = "--T::";
  for (int i = 0; i < 5; i++) {
    *o++ = seps[i];
    *o++ = (char)('0' + parts[i] / 10);
    *o++ = (char)('0' + parts[i] % 10);
  }
  *o++ = '.';
  *o++ = (char)('0' + fr / 100);
  *o++ = (char)('0' + fr / 10 % 10);
  *o++ = (char)('0' + fr % 10);
  *o++ = 'Z';
  *o = 0;
  return (size_t)(o - buf);
}
