/*
 * literals.c -- decoding of literal tokens: integers with underscores,
 * floats, durations, RFC 3339 timestamps and strings with escapes. The
 * lexer matches the text; these functions give it a value or report
 * exactly what is wrong at the right column.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "literals.h"
#include "pspf/format.h"

/* Reports underscores that are not between two digits. */
static bool check_underscores(Diag *d, Loc loc, const char *t, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (t[i] != '_')
      continue;
    bool ok = i > 0 && i + 1 < n && t[i - 1] >= '0' && t[i - 1] <= '9' &&
              t[i + 1] >= '0' && t[i + 1] <= '9';
    if (!ok) {
      diag_error(d, (Loc){loc.off + (uint32_t)i, 1},
                 "'_' in a number must stand between two digits");
      return false;
    }
  }
  return true;
}

bool lit_int(Diag *d, Loc loc, const char *t, size_t n, uint64_t *out) {
  if (!check_underscores(d, loc, t, n))
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (t[i] == '_')
      continue;
    unsigned dig = (unsigned)(t[i] - '0');
    if (v > (UINT64_MAX - dig) / 10) {
      diag_error(d, loc, "integer literal is too large for int");
      diag_help(d, "int is 64-bit signed: at most 9223372036854775807");
      return false;
    }
    v = v * 10 + dig;
  }
  *out = v;
  return true;
}

bool lit_float(Diag *d, Loc loc, const char *t, size_t n, double *out) {
  if (!check_underscores(d, loc, t, n))
    return false;
  char buf[128];
  size_t k = 0;
  for (size_t i = 0; i < n && k + 1 < sizeof buf; i++)
    if (t[i] != '_')
      buf[k++] = t[i];
  buf[k] = 0;
  errno = 0;
  double v = strtod(buf, NULL);
  if (isinf(v) || (errno == ERANGE && fabs(v) > 1.0)) {
    diag_error(d, loc, "float literal is out of range");
    return false;
  }
  *out = v;
  return true;
}

static const struct {
  const char *name;
  uint64_t ms;
} units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
};

bool lit_duration(Diag *d, Loc loc, const char *t, size_t n, uint64_t *out) {
  size_t i = 0;
  while (i < n && ((t[i] >= '0' && t[i] <= '9') || t[i] == '_'))
    i++;
  size_t int_end = i, frac_start = i, frac_end = i;
  if (i < n && t[i] == '.') {
    frac_start = ++i;
    while (i < n && t[i] >= '0' && t[i] <= '9')
      i++;
    frac_end = i;
  }
  const char *unit = t + i;
  size_t unit_len = n - i;
  uint64_t mult = 0;
  for (size_t u = 0; u < sizeof units / sizeof units[0]; u++)
    if (strlen(units[u].name) == unit_len &&
        memcmp(units[u].name, unit, unit_len) == 0)
      mult = units[u].ms;
  if (!mult) {
    diag_error(d, (Loc){loc.off + (uint32_t)i, (uint32_t)unit_len},
               "unknown duration unit '%.*s'", (int)unit_len, unit);
    diag_help(d, "the units are ms, s, m, h and d, as in 250ms or 10s");
    return false;
  }
  uint64_t whole;
  if (!lit_int(d, (Loc){loc.off, (uint32_t)int_end}, t, int_end, &whole))
    return false;
  if (whole > (uint64_t)INT64_MAX / mult) {
    diag_error(d, loc, "duration is too long");
    return false;
  }
  uint64_t ms = whole * mult;
  if (frac_end > frac_start) {
    /* A fraction must come to whole milliseconds: 1.5s, not 1.5ms. */
    uint64_t num = 0, den = 1;
    bool beyond = false; /* a non-zero digit past the ninth */
    for (size_t k = frac_start; k < frac_end && k < frac_start + 9; k++) {
      num = num * 10 + (uint64_t)(t[k] - '0');
      den *= 10;
    }
    for (size_t k = frac_start + 9; k < frac_end; k++)
      if (t[k] != '0')
        beyond = true;
    if (beyond || (num * mult) % den != 0) {
      diag_error(d, loc, "duration is not a whole number of milliseconds");
      diag_help(d, "durations count milliseconds; write it in ms");
      return false;
    }
    ms += num * mult / den;
  }
  *out = ms;
  return true;
}

static int digits(const char *t, size_t n, size_t at, size_t count) {
  if (at + count > n)
    return -1;
  int v = 0;
  for (size_t i = at; i < at + count; i++) {
    if (t[i] < '0' || t[i] > '9')
      return -1;
    v = v * 10 + (t[i] - '0');
  }
  return v;
}

bool lit_timestamp(Diag *d, Loc loc, const char *t, size_t n, int64_t *out) {
  /* t excludes the leading '@'. Forms: YYYY-MM-DD, or
   * YYYY-MM-DDThh:mm[:ss[.fff]](Z|+hh:mm|-hh:mm). */
  int y = digits(t, n, 0, 4), mo = digits(t, n, 5, 2), dd = digits(t, n, 8, 2);
  if (y < 0 || mo < 0 || dd < 0 || t[4] != '-' || t[7] != '-') {
    diag_error(d, loc, "malformed timestamp literal");
    diag_help(d, "write an RFC 3339 time such as @2026-11-23T10:00:00Z");
    return false;
  }
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || dd < 1 ||
      dd > mdays[mo - 1] + (mo == 2 && leap ? 1 : 0)) {
    diag_error(d, loc, "no such date: %04d-%02d-%02d", y, mo, dd);
    return false;
  }
  int64_t ms = pspf_days_from_civil(y, (unsigned)mo, (unsigned)dd) * 86400000;
  if (n == 10) {
    *out = ms;
    return true;
  }
  size_t i = 10;
  int hh = -1, mi = -1, ss = 0, frac = 0;
  if (t[i] == 'T' || t[i] == 't') {
    hh = digits(t, n, i + 1, 2);
    mi = (i + 3 < n && t[i + 3] == ':') ? digits(t, n, i + 4, 2) : -1;
    i += 6;
    if (i < n && t[i] == ':') {
      ss = digits(t, n, i + 1, 2);
      i += 3;
      if (ss >= 0 && i < n && t[i] == '.') {
        i++;
        int nd = 0;
        while (i < n && t[i] >= '0' && t[i] <= '9') {
          if (nd < 3)
            frac = frac * 10 + (t[i] - '0');
          nd++;
          i++;
        }
        if (nd == 0)
          ss = -1;
        for (; nd < 3; nd++)
          frac *= 10;
      }
    }
  }
  if (hh < 0 || mi < 0 || ss < 0 || hh > 23 || mi > 59 || ss > 59) {
    diag_error(d, loc, "malformed time of day in timestamp literal");
    diag_help(d, "write an RFC 3339 time such as @2026-11-23T10:00:00Z");
    return false;
  }
  ms += ((int64_t)hh * 3600 + mi * 60 + ss) * 1000 + frac;
  if (i == n) {
    diag_error(d, loc, "timestamp literal has no time zone");
    diag_help(d, "add 'Z' for UTC or an offset such as +01:00");
    return false;
  }
  if ((t[i] == 'Z' || t[i] == 'z') && i + 1 == n) {
    *out = ms;
    return true;
  }
  if ((t[i] == '+' || t[i] == '-') && i + 6 == n && t[i + 3] == ':') {
    int oh = digits(t, n, i + 1, 2), om = digits(t, n, i + 4, 2);
    if (oh >= 0 && om >= 0 && oh <= 23 && om <= 59) {
      int64_t off = ((int64_t)oh * 60 + om) * 60000;
      *out = t[i] == '+' ? ms - off : ms + off;
      return true;
    }
  }
  diag_error(d, loc, "malformed time zone in timestamp literal");
  diag_help(d, "use 'Z' for UTC or an offset such as +01:00");
  return false;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Length of the valid UTF-8 sequence at t[i], or 0. */
static size_t utf8_len(const unsigned char *t, size_t n, size_t i) {
  unsigned char c = t[i];
  size_t len;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, cp = c & 0x07;
  else
    return 0;
  if (i + len > n)
    return 0;
  for (size_t k = 1; k < len; k++) {
    if ((t[i + k] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (t[i + k] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

bool lit_string(Arena *a, Diag *d, Loc loc, const char *t, size_t n,
                const char **out, size_t *out_len) {
  /* t includes the quotes. The decoded text is never longer. */
  char *o = arena_alloc(a, n + 1);
  size_t k = 0;
  bool ok = true;
  const unsigned char *u = (const unsigned char *)t;
  for (size_t i = 1; i + 1 < n;) {
    if (t[i] != '\\') {
      size_t len = utf8_len(u, n - 1, i);
      if (!len) {
        diag_error(d, (Loc){loc.off + (uint32_t)i, 1},
                   "string is not valid UTF-8");
        ok = false;
        i++;
        continue;
      }
      memcpy(o + k, t + i, len);
      k += len;
      i += len;
      continue;
    }
    char e = t[i + 1];
    Loc eloc = {loc.off + (uint32_t)i, 2};
    switch (e) {
    case 'n':
      o[k++] = '\n';
      break;
    case 't':
      o[k++] = '\t';
      break;
    case 'r':
      o[k++] = '\r';
      break;
    case '\\':
      o[k++] = '\\';
      break;
    case '"':
      o[k++] = '"';
      break;
    case 'u': {
      size_t j = i + 2;
      uint32_t cp = 0;
      int nd = 0;
      bool good = j < n && t[j] == '{';
      if (good) {
        for (j++; j < n - 1 && hexval(t[j]) >= 0; j++, nd++)
          cp = nd < 8 ? cp * 16 + (uint32_t)hexval(t[j]) : 0x110000;
        good = j < n - 1 && t[j] == '}' && nd >= 1 && nd <= 6;
      }
      eloc.len = (uint32_t)((good ? j + 1 : j) - i);
      if (!good) {
        diag_error(d, eloc, "malformed unicode escape");
        diag_help(d, "write \\u{...} with 1 to 6 hex digits, as in \\u{1F600}");
        ok = false;
      } else if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        diag_error(d, eloc, "\\u{%X} is not a Unicode scalar value", cp);
        ok = false;
      } else {
        k += pspf_utf8_put(o + k, cp);
      }
      i = good ? j + 1 : j;
      continue;
    }
    default:
      diag_error(d, eloc, "unknown escape sequence '\\%c'", e);
      diag_help(d, "the escapes are \\n \\t \\r \\\\ \\\" and \\u{...}");
      ok = false;
      break;
    }
    i += 2;
  }
  o[k] = 0;
  *out = o;
  *out_len = k;
  return ok;
}
