/*
 * io.c -- record framing, CSV fields, JSON object scanning and escaped
 * output (see pspf/io.h).
 */
#include <stdlib.h>
#include <string.h>

#include "pspf/format.h"
#include "pspf/io.h"

/* ---- buffers ------------------------------------------------------------ */

char *pspf_buf_reserve(pspf_buf_t *b, size_t n) {
  if (b->cap - b->n < n) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < n)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
      return NULL;
    b->p = p;
    b->cap = cap;
  }
  return b->p + b->n;
}

int pspf_buf_add(pspf_buf_t *b, const void *p, size_t n) {
  char *dst = pspf_buf_reserve(b, n);
  if (!dst)
    return PSPF_ENOMEM;
  if (n)
    memcpy(dst, p, n);
  b->n += n;
  return 0;
}

void pspf_buf_free(pspf_buf_t *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

/* ---- framing -------------------------------------------------------------- */

long pspf_next_record(const char *p, size_t n, pspf_framing_t f, bool at_eof,
                      size_t *consumed) {
  size_t from = 0;
  for (;;) {
    const char *nl = memchr(p + from, '\n', n - from);
    size_t end = nl ? (size_t)(nl - p) : n;
    if (f == PSPF_FRAME_CSV) {
      /* Inside quotes a newline belongs to the field: an odd count of
       * quotes so far means the record goes on. */
      size_t quotes = 0;
      for (const char *q = memchr(p, '"', end); q;
           q = memchr(q + 1, '"', (size_t)(p + end - q - 1)))
        quotes++;
      if ((quotes & 1) && nl) {
        from = end + 1;
        continue;
      }
    }
    if (!nl && !at_eof)
      return -1;
    if (!nl && n == 0)
      return -1;
    *consumed = nl ? end + 1 : n;
    size_t len = end;
    if (len && p[len - 1] == '\r')
      len--;
    return (long)len;
  }
}

/* ---- CSV ---------------------------------------------------------------- */

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

/* Past the end of the string starting at the quote [p], or NULL. */
static const char *skip_string(const char *p, const char *end) {
  for (p++; p < end; p++) {
    if (*p == '"')
      return p + 1;
    if (*p == '\\')
      p++;
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
    while (p < end && (strchr("+-.eE", *p) || (*p >= '0' && *p <= '9')) &&
           *p)
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
    } else {
      dst[k++] = (char)c;
    }
  }
  dst[k++] = '"';
  b->n += k;
  return 0;
}
