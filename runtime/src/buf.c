/*
 * buf.c -- growable byte buffers (pspf_buf_t, see pspf/io.h). On its own
 * so that pspfc links it with checkpoint.c.
 */
#include <stdlib.h>
#include <string.h>

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
