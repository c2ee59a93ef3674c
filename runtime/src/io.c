/*
 * io.c -- record framing, CSV fields, JSON object scanning and escaped
 * output (see pspf/io.h).
 */
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "pspf/format.h"
#include "pspf/io.h"

/* ---- framing -------------------------------------------------------------- */

/* The first '\n' or '"' in p[0..n), or NULL. */
static const char *find_nl_or_quote(const char *p, size_t n) {
  size_t i = 0;
#ifdef __SSE2__
  const __m128i vn = _mm_set1_epi8('\n'), vq = _mm_set1_epi8('"');
  for (; i + 16 <= n; i += 16) {
    __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
    unsigned m = (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(c, vn), _mm_cmpeq_epi8(c, vq)));
    if (m)
      return p + i + __builtin_ctz(m);
  }
#endif
  for (; i < n; i++)
    if (p[i] == '\n' || p[i] == '"')
      return p + i;
  return NULL;
}

/* A CSV record with quotes (RFC 4180): a quote opens a quoted field only
 * at the start of a field, and inside one a newline is part of the field
 * and "" is a quote. A stray quote inside an unquoted field is an
 * ordinary byte here (the reader then says what is wrong with that one
 * record). An unterminated quoted field runs to the end of the input. */
static long csv_frame_quoted(const char *p, size_t n, char delim,
                             bool at_eof, size_t *consumed) {
  size_t i = 0;
  bool field_start = true;
  while (i < n) {
    char c = p[i];
    if (field_start && c == '"') {
      for (i++;;) {
        const char *q = memchr(p + i, '"', n - i);
        if (!q) {
          if (!at_eof)
            return -1; /* the field goes on in data not read yet */
          i = n;
          break;
        }
        i = (size_t)(q - p) + 1;
        if (i == n && !at_eof)
          return -1; /* "" or the end of the field? the next byte says */
        if (i < n && p[i] == '"') {
          i++;
          continue;
        }
        break;
      }
      field_start = false;
      continue;
    }
    if (c == '\n') {
      size_t end = i;
      *consumed = i + 1;
      if (end && p[end - 1] == '\r')
        end--;
      return (long)end;
    }
    field_start = c == delim;
    i++;
  }
  if (!at_eof || n == 0)
    return -1;
  *consumed = n;
  return (long)(n && p[n - 1] == '\r' ? n - 1 : n);
}

long pspf_next_record(const char *p, size_t n, pspf_framing_t f, bool at_eof,
                      size_t *consumed) {
  if (f == PSPF_FRAME_CSV) {
    /* Most records have no quote before their newline: one pass. */
    const char *q = find_nl_or_quote(p, n);
    if (q && *q == '\n') {
      size_t end = (size_t)(q - p);
      *consumed = end + 1;
      if (end && p[end - 1] == '\r')
        end--;
      return (long)end;
    }
  }
  if (f == PSPF_FRAME_CSV)
    return csv_frame_quoted(p, n, ',', at_eof, consumed);
  const char *nl = memchr(p, '\n', n);
  size_t end = nl ? (size_t)(nl - p) : n;
  if (!nl && (!at_eof || n == 0))
    return -1;
  *consumed = nl ? end + 1 : n;
  if (end && p[end - 1] == '\r')
    end--;
  return (long)end;
}

/* ---- CSV ---------------------------------------------------------------- */

long pspf_csv_frame(const char *p, size_t n, char delim, bool at_eof,
                    size_t *consumed, pspf_str_t *f, int max, int *nf) {
  int k = 0;
  size_t start = 0, i = 0, end = n;
  bool nl = false;
#ifdef __SSE2__
  const __m128i vd = _mm_set1_epi8(delim), vn = _mm_set1_epi8('\n'),
                vq = _mm_set1_epi8('"');
  for (; i + 16 <= n; i += 16) {
    __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
    unsigned md = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(c, vd));
    unsigned stop = (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(c, vn), _mm_cmpeq_epi8(c, vq)));
    if (stop) { /* the end of the record, or a quote first */
      unsigned first = stop & (0u - stop);
      if (p[i + (size_t)__builtin_ctz(first)] == '"') {
        *nf = -1; /* a quote: the careful way */
        return csv_frame_quoted(p, n, delim, at_eof, consumed);
      }
      md &= first - 1;
      end = i + (size_t)__builtin_ctz(first);
      nl = true;
    }
    for (; md; md &= md - 1) {
      size_t at = i + (size_t)__builtin_ctz(md);
      if (k < max)
        f[k] = (pspf_str_t){p + start, at - start};
      k++;
      start = at + 1;
    }
    if (nl)
      break;
  }
  if (nl)
    i = n;
#endif
  for (; i < n && !nl; i++) {
    if (p[i] == delim) {
      if (k < max)
        f[k] = (pspf_str_t){p + start, i - start};
      k++;
      start = i + 1;
    } else if (p[i] == '\n') {
      end = i;
      nl = true;
    } else if (p[i] == '"') {
      *nf = -1;
      return csv_frame_quoted(p, n, delim, at_eof, consumed);
    }
  }
  if (!nl && (!at_eof || n == 0))
    return -1;
  *consumed = nl ? end + 1 : n;
  if (end && p[end - 1] == '\r')
    end--;
  if (start > end) /* "a,\r\n": the '\r' ended the last field */
    start = end;
  if (k < max)
    f[k] = (pspf_str_t){p + start, end - start};
  k++;
  *nf = k > max ? max + 1 : k;
  return (long)end;
}


int pspf_csv_split(const char *p, size_t n, char delim, pspf_str_t *f,
                   int max) {
  int k = 0;
  size_t start = 0, i = 0;
#ifdef __SSE2__
  const __m128i vd = _mm_set1_epi8(delim), vq = _mm_set1_epi8('"');
  for (; i + 16 <= n; i += 16) {
    __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
    if (_mm_movemask_epi8(_mm_cmpeq_epi8(c, vq)))
      return -1;
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(c, vd));
    while (m) {
      size_t at = i + (size_t)__builtin_ctz(m);
      if (k == max)
        return max + 1;
      f[k++] = (pspf_str_t){p + start, at - start};
      start = at + 1;
      m &= m - 1;
    }
  }
#endif
  for (; i < n; i++) {
    if (p[i] == '"')
      return -1;
    if (p[i] == delim) {
      if (k == max)
        return max + 1;
      f[k++] = (pspf_str_t){p + start, i - start};
      start = i + 1;
    }
  }
  if (k == max)
    return max + 1;
  f[k++] = (pspf_str_t){p + start, n - start};
  return k;
}

void pspf_csv_init(pspf_csv_t *c, const char *p, size_t n, char delim) {
  c->p = p;
  c->n = n;
  c->delim = delim;
  c->done = false;
  /* One scan for quotes a record; most records have none. */
  c->quotes = memchr(p, '"', n) != NULL;
}

int pspf_csv_next(pspf_csv_t *c, pspf_buf_t *scratch, pspf_str_t *out) {
  if (c->done)
    return 0;
  const char *p = c->p;
  size_t n = c->n;
  if (c->quotes && n && p[0] == '"') {
    /* Quoted: up to the closing quote; "" is one quote. */
    size_t i = 1;
    bool escaped = false;
    for (;;) {
      const char *q = i < n ? memchr(p + i, '"', n - i) : NULL;
      if (!q)
        return PSPF_EBADREC;
      i = (size_t)(q - p) + 1;
      if (i < n && p[i] == '"') {
        escaped = true;
        i++;
        continue;
      }
      break;
    }
    /* i is past the closing quote: a delimiter or the end must follow. */
    if (i < n && p[i] != c->delim)
      return PSPF_EBADREC;
    if (!escaped) {
      out->p = p + 1;
      out->n = i - 2;
    } else {
      char *dst = scratch->p + scratch->n;
      if (scratch->cap - scratch->n < i)
        return PSPF_ENOMEM; /* the caller reserves the record's length */
      size_t k = 0;
      for (size_t j = 1; j + 1 < i; j++) {
        dst[k++] = p[j];
        if (p[j] == '"')
          j++;
      }
      scratch->n += k;
      out->p = dst;
      out->n = k;
    }
    if (i < n) {
      c->p = p + i + 1;
      c->n = n - i - 1;
    } else {
      c->done = true;
    }
    return 1;
  }
  const char *d = memchr(p, c->delim, n);
  size_t len = d ? (size_t)(d - p) : n;
  if (c->quotes && memchr(p, '"', len))
    return PSPF_EBADREC; /* RFC 4180: a quote only in a quoted field */
  out->p = p;
  out->n = len;
  if (d) {
    c->p = d + 1;
    c->n = n - len - 1;
  } else {
    c->done = true;
  }
  return 1;
}

int pspf_csv_write_field(pspf_buf_t *b, const char *p, size_t n, char delim) {
  bool quote = false;
  for (size_t i = 0; i < n && !quote; i++)
    quote = p[i] == delim || p[i] == '"' || p[i] == '\n' || p[i] == '\r';
  if (!quote)
    return pspf_buf_add(b, p, n);
  char *dst = pspf_buf_reserve(b, 2 * n + 2);
  if (!dst)
    return PSPF_ENOMEM;
  size_t k = 0;
  dst[k++] = '"';
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '"')
      dst[k++] = '"';
    dst[k++] = p[i];
  }
  dst[k++] = '"';
  b->n += k;
  return 0;
}

/* ---- JSON ----------------------------------------------------------------- */

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    p++;
  return p;
}

/* The bytes a JSON number is made of. */
static const bool number_char[256] = {
    ['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true, ['4'] = true,
    ['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true, ['9'] = true,
    ['-'] = true, ['+'] = true, ['.'] = true, ['e'] = true, ['E'] = true};

/* Past the end of the string starting at the quote [p], or NULL. */
static const char *skip_string_esc(const char *p, const char *end,
                                   bool *esc);

static const char *skip_string(const char *p, const char *end) {
  bool esc;
  return skip_string_esc(p, end, &esc);
}

/* skip_string() that also says whether the string has an escape. */
static const char *skip_string_esc(const char *p, const char *end,
                                   bool *esc) {
  *esc = false;
  p++;
#ifdef __SSE2__
  /* 16 bytes at a time to the first '"', '\\' or control character. */
  const __m128i vq = _mm_set1_epi8('"'), vb = _mm_set1_epi8('\\'),
                vc = _mm_set1_epi8(0x1F);
  while (end - p >= 16) {
    __m128i c = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(c, vq), _mm_cmpeq_epi8(c, vb)),
        _mm_cmpeq_epi8(_mm_max_epu8(c, vc), vc));
    unsigned m = (unsigned)_mm_movemask_epi8(hit);
    if (!m) {
      p += 16;
      continue;
    }
    p += __builtin_ctz(m);
    if (*p == '"')
      return p + 1;
    if (*p != '\\')
      return NULL;
    *esc = true;
    p += 2; /* an escape: its next byte is never the end */
  }
#endif
  for (; p < end; p++) {
    if (*p == '"')
      return p + 1;
    if (*p == '\\')
      p++, *esc = true;
    else if ((unsigned char)*p < 0x20)
      return NULL;
  }
  return NULL;
}

/* Past the end of the value at [p], or NULL; [depth] bounds nesting. */
static const char *skip_value(const char *p, const char *end,
                              pspf_json_kind_t *kind, int depth) {
  if (p >= end || depth > 64)
    return NULL;
  switch (*p) {
  case '"':
    *kind = PSPF_JSON_STRING;
    return skip_string(p, end);
  case '{':
  case '[': {
    char close = *p == '{' ? '}' : ']';
    *kind = *p == '{' ? PSPF_JSON_OBJECT : PSPF_JSON_ARRAY;
    bool obj = *p == '{';
    p = skip_ws(p + 1, end);
    if (p < end && *p == close)
      return p + 1;
    for (;;) {
      pspf_json_kind_t k;
      if (obj) {
        if (p >= end || *p != '"' || !(p = skip_string(p, end)))
          return NULL;
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
          return NULL;
        p = skip_ws(p + 1, end);
      }
      if (!(p = skip_value(p, end, &k, depth + 1)))
        return NULL;
      p = skip_ws(p, end);
      if (p < end && *p == ',') {
        p = skip_ws(p + 1, end);
        continue;
      }
      if (p < end && *p == close)
        return p + 1;
      return NULL;
    }
  }
  case 't':
    *kind = PSPF_JSON_BOOL;
    return end - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
  case 'f':
    *kind = PSPF_JSON_BOOL;
    return end - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
  case 'n':
    *kind = PSPF_JSON_NULL;
    return end - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
  default: {
    *kind = PSPF_JSON_NUMBER;
    const char *s = p;
    while (p < end && number_char[(unsigned char)*p])
      p++;
    return p > s ? p : NULL;
  }
  }
}

int pspf_json_begin(pspf_json_t *j, const char *p, size_t n) {
  const char *end = p + n;
  p = skip_ws(p, end);
  if (p >= end || *p != '{')
    return PSPF_EBADREC;
  j->p = p + 1;
  j->end = end;
  j->first = true;
  return 0;
}

int pspf_json_next(pspf_json_t *j, pspf_str_t *key, pspf_str_t *val,
                   pspf_json_kind_t *kind) {
  const char *p = skip_ws(j->p, j->end), *end = j->end;
  if (p < end && *p == '}') {
    if (skip_ws(p + 1, end) != end)
      return PSPF_EBADREC; /* bytes after the object */
    j->p = end;
    return 0;
  }
  if (!j->first) {
    if (p >= end || *p != ',')
      return PSPF_EBADREC;
    p = skip_ws(p + 1, end);
  }
  j->first = false;
  if (p >= end || *p != '"')
    return PSPF_EBADREC;
  const char *ke = skip_string(p, end);
  if (!ke)
    return PSPF_EBADREC;
  key->p = p + 1;
  key->n = (size_t)(ke - p - 2);
  p = skip_ws(ke, end);
  if (p >= end || *p != ':')
    return PSPF_EBADREC;
  p = skip_ws(p + 1, end);
  const char *ve = skip_value(p, end, kind, 0);
  if (!ve)
    return PSPF_EBADREC;
  val->p = p;
  val->n = (size_t)(ve - p);
  j->p = ve;
  return 1;
}

int pspf_json_key(pspf_json_t *j, pspf_str_t *key) {
  const char *p = j->p, *end = j->end;
  if (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    p = skip_ws(p, end);
  if (p < end && *p == '}') {
    if (skip_ws(p + 1, end) != end)
      return PSPF_EBADREC; /* bytes after the object */
    j->p = end;
    return 0;
  }
  if (!j->first) {
    if (p >= end || *p != ',')
      return PSPF_EBADREC;
    p = skip_ws(p + 1, end);
  }
  j->first = false;
  if (p >= end || *p != '"')
    return PSPF_EBADREC;
  const char *ke = skip_string(p, end);
  if (!ke)
    return PSPF_EBADREC;
  key->p = p + 1;
  key->n = (size_t)(ke - p - 2);
  p = ke;
  if (p < end && *p != ':')
    p = skip_ws(p, end);
  if (p >= end || *p != ':')
    return PSPF_EBADREC;
  p++;
  if (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    p = skip_ws(p, end);
  j->p = p;
  return 1;
}

int pspf_json_int(pspf_json_t *j, int64_t *out) {
  const char *p = j->p, *end = j->end;
  bool neg = p < end && *p == '-';
  const char *d = p + neg, *q = d;
  uint64_t v = 0;
  if (end - q >= 8) { /* eight digits at once */
    int64_t d8 = pspf__digits8(q);
    if (d8 >= 0) {
      v = (uint64_t)d8;
      q += 8;
    }
  }
  for (unsigned x; q < end && (x = (unsigned)(unsigned char)*q - '0') <= 9;
       q++)
    v = v * 10 + x;
  size_t n = (size_t)(q - d);
  if (n == 0 || n > 18 || (q < end && (*q == '.' || *q == 'e' || *q == 'E')))
    return 0;
  *out = neg ? -(int64_t)v : (int64_t)v;
  j->p = q;
  return 1;
}

int pspf_json_str(pspf_json_t *j, pspf_buf_t *scratch, pspf_str_t *out) {
  const char *p = j->p, *end = j->end;
  if (p >= end || *p != '"')
    return 0;
  bool esc;
  const char *e = skip_string_esc(p, end, &esc);
  if (!e)
    return 0;
  if (!esc) {
    *out = (pspf_str_t){p + 1, (size_t)(e - p - 2)};
  } else if (pspf_json_string((pspf_str_t){p, (size_t)(e - p)}, scratch,
                              out) < 0) {
    return 0;
  }
  j->p = e;
  return 1;
}

int pspf_json_value(pspf_json_t *j, pspf_str_t *val, pspf_json_kind_t *kind) {
  const char *p = j->p;
  const char *e = skip_value(p, j->end, kind, 0);
  if (!e)
    return PSPF_EBADREC;
  *val = (pspf_str_t){p, (size_t)(e - p)};
  j->p = e;
  return 1;
}

static int hex4(const char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

int pspf_json_string(pspf_str_t raw, pspf_buf_t *scratch, pspf_str_t *out) {
  const char *p = raw.p + 1;
  size_t n = raw.n - 2;
  if (!memchr(p, '\\', n)) {
    out->p = p;
    out->n = n;
    return 0;
  }
  char *dst = pspf_buf_reserve(scratch, n);
  if (!dst)
    return PSPF_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] != '\\') {
      dst[k++] = p[i];
      continue;
    }
    if (++i >= n)
      return PSPF_EBADREC;
    switch (p[i]) {
    case 'n':
      dst[k++] = '\n';
      break;
    case 't':
      dst[k++] = '\t';
      break;
    case 'r':
      dst[k++] = '\r';
      break;
    case 'b':
      dst[k++] = '\b';
      break;
    case 'f':
      dst[k++] = '\f';
      break;
    case '/':
    case '\\':
    case '"':
      dst[k++] = p[i];
      break;
    case 'u': {
      if (i + 4 >= n)
        return PSPF_EBADREC;
      int cp = hex4(p + i + 1);
      if (cp < 0)
        return PSPF_EBADREC;
      i += 4;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        int lo = i + 6 < n && p[i + 1] == '\\' && p[i + 2] == 'u'
                     ? hex4(p + i + 3)
                     : -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
          return PSPF_EBADREC;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        i += 6;
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return PSPF_EBADREC;
      }
      /* UTF-8 is never longer than the escape it came from. */
      k += pspf_utf8_put(dst + k, (uint32_t)cp);
      break;
    }
    default:
      return PSPF_EBADREC;
    }
  }
  scratch->n += k;
  out->p = dst;
  out->n = k;
  return 0;
}

/* The length of the valid UTF-8 sequence at p[0..n) (RFC 3629: no
 * overlong forms, no surrogates, at most U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  unsigned c = p[0];
  size_t len;
  unsigned lo = 0x80, hi = 0xBF; /* the range of the second byte */
  if (c >= 0xC2 && c <= 0xDF)
    len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    lo = c == 0xE0 ? 0xA0 : 0x80;
    hi = c == 0xED ? 0x9F : 0xBF;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    lo = c == 0xF0 ? 0x90 : 0x80;
    hi = c == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (n < len || p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < len; i++)
    if ((p[i] & 0xC0) != 0x80)
      return 0;
  return len;
}

int pspf_json_write_string(pspf_buf_t *b, const char *p, size_t n) {
  char *dst = pspf_buf_reserve(b, 6 * n + 2);
  if (!dst)
    return PSPF_ENOMEM;
  static const char hex[] = "0123456789abcdef";
  size_t k = 0;
  dst[k++] = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '"' || c == '\\') {
      dst[k++] = '\\';
      dst[k++] = (char)c;
    } else if (c == '\n') {
      dst[k++] = '\\';
      dst[k++] = 'n';
    } else if (c == '\t') {
      dst[k++] = '\\';
      dst[k++] = 't';
    } else if (c == '\r') {
      dst[k++] = '\\';
      dst[k++] = 'r';
    } else if (c < 0x20 || c == 0x7f) {
      dst[k++] = '\\';
      dst[k++] = 'u';
      dst[k++] = '0';
      dst[k++] = '0';
      dst[k++] = hex[c >> 4];
      dst[k++] = hex[c & 15];
    } else if (c >= 0x80) { /* valid UTF-8 as it is, else U+FFFD */
      size_t len = utf8_seq((const unsigned char *)p + i, n - i);
      if (len) {
        memcpy(dst + k, p + i, len);
        k += len;
        i += len - 1;
      } else {
        memcpy(dst + k, "\\ufffd", 6);
        k += 6;
      }
    } else {
      dst[k++] = (char)c;
    }
  }
  dst[k++] = '"';
  b->n += k;
  return 0;
}
