/*
 * arena.c -- bump allocation and string interning for the compiler.
 *
 * Everything the compiler builds (AST, types, interned names) is allocated
 * here and freed at once when the compile ends, so no pass frees anything.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pspfc.h"

/* Chunks start small (a short program stays small) and double up to
 * CHUNK_MAX. Chunks of HUGE bytes or more are mapped and advised as huge
 * pages: a big program touches fresh memory at a high rate, and with 4 KiB
 * pages the page faults cost as much as the parsing (bench/README.md). */
#define CHUNK_MIN (64 * 1024)
#define CHUNK_MAX (32 * 1024 * 1024)
#define HUGE (2 * 1024 * 1024)

struct ArenaChunk {
  ArenaChunk *next; /* older chunk */
  size_t used;      /* bytes handed out from [data] */
  size_t cap;       /* bytes in [data] */
  size_t mapped;    /* bytes mapped with mmap, or 0 if malloc'd */
  _Alignas(max_align_t) char data[];
};

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) {
    fputs("pspfc: out of memory\n", stderr);
    exit(4);
  }
  return p;
}

void arena_init(Arena *a) { memset(a, 0, sizeof *a); }

void arena_free(Arena *a) {
  ArenaChunk *c = a->head;
  while (c) {
    ArenaChunk *next = c->next;
    if (c->mapped)
      munmap(c, c->mapped);
    else
      free(c);
    c = next;
  }
  free(a->interned);
  memset(a, 0, sizeof *a);
}

void *arena_alloc(Arena *a, size_t size) {
  size = (size + 15) & ~(size_t)15;
  ArenaChunk *c = a->head;
  if (!c || c->cap - c->used < size) {
    size_t cap = c ? (c->cap * 2 > CHUNK_MAX ? CHUNK_MAX : c->cap * 2)
                   : CHUNK_MIN;
    if (cap < size)
      cap = size;
    size_t total = sizeof *c + cap, mapped = 0;
    ArenaChunk *nc = NULL;
    if (total >= HUGE) {
      total = (total + HUGE - 1) & ~(size_t)(HUGE - 1);
      void *m = mmap(NULL, total, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m != MAP_FAILED) {
        madvise(m, total, MADV_HUGEPAGE); /* a hint: fine if refused */
        nc = m;
        mapped = total;
        cap = total - sizeof *c;
      }
    }
    if (!nc)
      nc = xmalloc(sizeof *c + cap);
    nc->cap = cap;
    nc->used = 0;
    nc->mapped = mapped;
    nc->next = a->head;
    a->head = nc;
    c = nc;
  }
  void *p = c->data + c->used;
  c->used += size;
  memset(p, 0, size);
  return p;
}

char *arena_strndup(Arena *a, const char *s, size_t len) {
  char *p = arena_alloc(a, len + 1);
  memcpy(p, s, len);
  p[len] = 0;
  return p;
}

static uint64_t hash_bytes(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

static void intern_grow(Arena *a) {
  size_t ncap = a->interned_cap ? a->interned_cap * 2 : 256;
  char **tab = calloc(ncap, sizeof *tab);
  if (!tab) {
    fputs("pspfc: out of memory\n", stderr);
    exit(4);
  }
  for (size_t i = 0; i < a->interned_cap; i++) {
    char *s = a->interned[i];
    if (!s)
      continue;
    size_t j = hash_bytes(s, strlen(s)) & (ncap - 1);
    while (tab[j])
      j = (j + 1) & (ncap - 1);
    tab[j] = s;
  }
  free(a->interned);
  a->interned = tab;
  a->interned_cap = ncap;
}

const char *arena_intern(Arena *a, const char *s, size_t len) {
  if ((a->interned_count + 1) * 2 > a->interned_cap)
    intern_grow(a);
  size_t mask = a->interned_cap - 1;
  size_t j = hash_bytes(s, len) & mask;
  for (;;) {
    char *t = a->interned[j];
    if (!t)
      break;
    if (strncmp(t, s, len) == 0 && t[len] == 0)
      return t;
    j = (j + 1) & mask;
  }
  char *copy = arena_strndup(a, s, len);
  a->interned[j] = copy;
  a->interned_count++;
  return copy;
}

const char *arena_intern_cstr(Arena *a, const char *s) {
  return arena_intern(a, s, strlen(s));
}

char *arena_printf(Arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = arena_alloc(a, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

void vec_push(Arena *a, PtrVec *v, void *item) {
  if (v->len == v->cap) {
    int ncap = v->cap ? v->cap * 2 : 8;
    void **items = arena_alloc(a, (size_t)ncap * sizeof *items);
    if (v->len)
      memcpy(items, v->items, (size_t)v->len * sizeof *items);
    v->items = items;
    v->cap = ncap;
  }
  v->items[v->len++] = item;
}
