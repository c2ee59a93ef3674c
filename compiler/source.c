/*
 * source.c -- the program text, its line table, and byte offset to
 * line:column conversion (computed only when a message is printed).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pspfc.h"

Source *source_from_string(Arena *a, const char *path, const char *text,
                           size_t len) {
  Source *s = arena_alloc(a, sizeof *s);
  s->path = arena_intern_cstr(a, path);
  s->text = arena_strndup(a, text, len);
  s->len = len;
  int n = 1;
  const char *end = text + len;
  for (const char *p = memchr(text, '\n', len); p;
       p = memchr(p + 1, '\n', (size_t)(end - p - 1)))
    n++;
  s->lines = arena_alloc(a, (size_t)n * sizeof *s->lines);
  s->lines[0] = 0;
  int k = 1;
  for (const char *p = memchr(text, '\n', len); p;
       p = memchr(p + 1, '\n', (size_t)(end - p - 1)))
    s->lines[k++] = (uint32_t)(p - text + 1);
  s->nlines = n;
  return s;
}

Source *source_read_file(Arena *a, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    errno = ENOMEM;
    return NULL;
  }
  for (;;) {
    if (len == cap) {
      if (cap >= ((size_t)1 << 31)) { /* offsets are 32-bit */
        free(buf);
        fclose(f);
        errno = EFBIG;
        return NULL;
      }
      cap *= 2;
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        errno = ENOMEM;
        return NULL;
      }
      buf = nb;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0)
      break;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    errno = EIO;
    return NULL;
  }
  Source *s = source_from_string(a, path, buf, len);
  free(buf);
  return s;
}

int source_line(const Source *s, uint32_t off) {
  int lo = 0, hi = s->nlines - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (s->lines[mid] <= off)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo + 1;
}

int source_col(const Source *s, uint32_t off) {
  int line = source_line(s, off);
  uint32_t i = s->lines[line - 1];
  int col = 0;
  if (off > s->len)
    off = (uint32_t)s->len;
  for (; i < off; i++) {
    unsigned char ch = (unsigned char)s->text[i];
    if (ch == '\t')
      col = (col / 8 + 1) * 8;
    else if ((ch & 0xC0) != 0x80) /* count code points, not bytes */
      col++;
  }
  return col + 1;
}

const char *source_line_text(const Source *s, int line, size_t *len) {
  if (line < 1 || line > s->nlines) {
    *len = 0;
    return "";
  }
  uint32_t start = s->lines[line - 1];
  uint32_t end = start;
  while (end < s->len && s->text[end] != '\n')
    end++;
  if (end > start && s->text[end - 1] == '\r')
    end--;
  *len = end - start;
  return s->text + start;
}

Loc loc_join(Loc a, Loc b) {
  uint32_t start = a.off < b.off ? a.off : b.off;
  uint32_t ea = a.off + a.len, eb = b.off + b.len;
  uint32_t end = ea > eb ? ea : eb;
  return (Loc){start, end - start};
}
