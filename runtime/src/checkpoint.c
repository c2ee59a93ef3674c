/*
 * checkpoint.c -- checkpoint files (checkpoint.h): CRC-32C, atomic
 * writing, reading with every check, listing a directory, and the
 * inspection that `pspfc inspect-checkpoint` prints. No libuv here: pspfc
 * links this file too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckpt_meta.h"
#include "pspf/checkpoint.h"
#include "pspf/format.h"

/* ---- CRC-32C ------------------------------------------------------------- */

static uint32_t crc_table[8][256];

static void crc_init_table(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    crc_table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++)
      crc_table[t][i] =
          (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

/* Slicing-by-8 over the table. */
static uint32_t crc_soft(uint32_t c, const unsigned char *p, size_t n) {
  while (n >= 8) {
    uint32_t lo, hi;
    memcpy(&lo, p, 4);
    memcpy(&hi, p + 4, 4);
    lo ^= c;
    c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
        crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
        crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
        crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--)
    c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t c, const unsigned char *p, size_t n) {
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c64 = __builtin_ia32_crc32di(c64, w);
    p += 8;
    n -= 8;
  }
  c = (uint32_t)c64;
  while (n--)
    c = __builtin_ia32_crc32qi(c, *p++);
  return c;
}
#endif

uint32_t pspf_crc32c(uint32_t crc, const void *p, size_t n) {
  static int mode; /* 0 unknown, 1 table, 2 sse4.2 */
  if (!mode) {
    crc_init_table();
    mode = 1;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2"))
      mode = 2;
#endif
  }
  uint32_t c = ~crc;
#if defined(__x86_64__)
  if (mode == 2)
    return ~crc_hw(c, p, n);
#endif
  return ~crc_soft(c, p, n);
}

uint64_t pspf_fingerprint(uint64_t h, const char *p, size_t n) {
  if (!h)
    h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* ---- writing ----------------------------------------------------------- */

void pspf_ck_oom(void) {
  fprintf(stderr, "pspf: error: out of memory while taking a checkpoint\n");
  exit(2);
}

void pspf_ck_grow(pspf_buf_t *w, size_t n) {
  size_t cap = w->cap ? w->cap : 4096;
  while (cap - w->n < n)
    cap *= 2;
  if (cap < ((size_t)4 << 20)) {
    if (!pspf_buf_reserve(w, n))
      pspf_ck_oom();
    return;
  }
  /* Megabytes of state: fresh memory on huge pages takes a page fault a
   * 2 MiB instead of a 4 KiB, which on a virtual machine is most of the
   * cost of filling it. */
  void *p;
  if (posix_memalign(&p, (size_t)2 << 20, cap) != 0)
    pspf_ck_oom();
#ifdef MADV_HUGEPAGE
  madvise(p, cap, MADV_HUGEPAGE);
#endif
  if (w->n)
    memcpy(p, w->p, w->n);
  free(w->p);
  w->p = p;
  w->cap = cap;
}

/* The body's checksum: the CRC-32C of its section headers, each of which
 * holds its payload's CRC-32C (one pass over the payloads, not two). */
static uint32_t body_crc(const char *b, size_t n, uint32_t nsections) {
  uint32_t crc = 0;
  size_t at = 0;
  for (uint32_t i = 0; i < nsections && n - at >= PSPF_CKPT_SECTION; i++) {
    uint64_t len;
    memcpy(&len, b + at + 8, 8);
    crc = pspf_crc32c(crc, b + at, PSPF_CKPT_SECTION);
    if (len > n - at - PSPF_CKPT_SECTION)
      break;
    at += PSPF_CKPT_SECTION + (size_t)len;
  }
  return crc;
}

pspf_str_t pspf_ckr_str(pspf_ckr_t *r) {
  pspf_str_t v = pspf_ckr_view(r);
  char *p = malloc(v.n + 1);
  if (!p)
    pspf_ck_oom();
  if (v.n)
    memcpy(p, v.p, v.n);
  p[v.n] = 0;
  return (pspf_str_t){p, v.n};
}

static void put32(char *at, uint32_t v) { memcpy(at, &v, 4); }
static void put64(char *at, uint64_t v) { memcpy(at, &v, 8); }
static uint32_t get32(const char *at) {
  uint32_t v;
  memcpy(&v, at, 4);
  return v;
}
static uint64_t get64(const char *at) {
  uint64_t v;
  memcpy(&v, at, 8);
  return v;
}

size_t pspf_ckpt_section_begin(pspf_buf_t *body, uint32_t kind,
                               uint32_t index) {
  size_t at = body->n;
  char h[PSPF_CKPT_SECTION] = {0};
  put32(h, kind);
  put32(h + 4, index);
  pspf_ck_bytes(body, h, sizeof h);
  return at;
}

void pspf_ckpt_section_end(pspf_buf_t *body, size_t at, uint64_t items) {
  char *h = body->p + at;
  size_t size = body->n - at - PSPF_CKPT_SECTION;
  put64(h + 8, size);
  put64(h + 16, items);
  put32(h + 24, pspf_crc32c(0, h + PSPF_CKPT_SECTION, size));
}

char *pspf_ckpt_path(const char *dir, uint64_t id) {
  size_t n = strlen(dir) + 40;
  char *p = malloc(n);
  if (!p)
    pspf_ck_oom();
  snprintf(p, n, "%s/checkpoint-%012" PRIu64, dir, id);
  return p;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* The file header of a checkpoint of [body]. */
static void header(char *h, uint64_t id, uint64_t fingerprint, uint32_t flags,
                   const pspf_buf_t *body, uint32_t nsections) {
  memset(h, 0, PSPF_CKPT_HEADER);
  memcpy(h, PSPF_CKPT_MAGIC, 8);
  put32(h + 8, PSPF_CKPT_VERSION);
  put32(h + 12, PSPF_CKPT_HEADER);
  put64(h + 16, id);
  put64(h + 24, fingerprint);
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  put64(h + 32, (uint64_t)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
  put64(h + 40, body->n);
  put32(h + 48, body_crc(body->p, body->n, nsections));
  put32(h + 52, nsections);
  put32(h + 56, flags);
  put32(h + 60, pspf_crc32c(0, h, 60));
}

void pspf_ckpt_image(pspf_buf_t *out, uint64_t id, uint64_t fingerprint,
                     uint32_t flags, const pspf_buf_t *body,
                     uint32_t nsections) {
  char h[PSPF_CKPT_HEADER];
  header(h, id, fingerprint, flags, body, nsections);
  if (pspf_buf_add(out, h, sizeof h) || pspf_buf_add(out, body->p, body->n))
    pspf_ck_oom();
}

int pspf_ckpt_write(const char *dir, uint64_t id, uint64_t fingerprint,
                    uint32_t flags, const pspf_buf_t *body,
                    uint32_t nsections, char *why, size_t whylen) {
  char h[PSPF_CKPT_HEADER];
  header(h, id, fingerprint, flags, body, nsections);
  char *final = pspf_ckpt_path(dir, id);
  size_t tn = strlen(dir) + 48;
  char *tmp = malloc(tn);
  if (!tmp)
    pspf_ck_oom();
  snprintf(tmp, tn, "%s/.checkpoint-%012" PRIu64 ".tmp", dir, id);
  int rc = -1;
  const char *step = "open";
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    step = "write";
    if (write_all(fd, h, sizeof h) == 0 &&
        write_all(fd, body->p, body->n) == 0) {
      step = "fsync";
      if (fsync(fd) == 0) {
        step = "close";
        int c = close(fd);
        fd = -1;
        step = "rename";
        if (c == 0 && rename(tmp, final) == 0) {
          step = "fsync the directory of";
          int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
          if (dfd >= 0 && fsync(dfd) == 0)
            rc = 0;
          if (dfd >= 0)
            close(dfd);
        }
      }
    }
  }
  if (rc < 0) {
    int err = errno;
    if (strcmp(step, "rename") == 0)
      snprintf(why, whylen, "cannot rename %s to %s: %s", tmp, final,
               strerror(err));
    else
      snprintf(why, whylen, "cannot %s %s: %s", step,
               strcmp(step, "fsync the directory of") == 0 ? final : tmp,
               strerror(err));
    if (fd >= 0)
      close(fd);
    unlink(tmp);
  }
  free(tmp);
  free(final);
  return rc;
}

/* ---- reading ----------------------------------------------------------- */

void pspf_ckpt_file_free(pspf_ckpt_file_t *f) {
  if (f->mapped)
    munmap(f->bytes, f->size ? f->size : 1);
  else
    free(f->bytes);
  free(f->sections);
  memset(f, 0, sizeof *f);
}

static int parse(pspf_ckpt_file_t *f, char *why, size_t whylen);

int pspf_ckpt_read(const char *path, pspf_ckpt_file_t *f, char *why,
                   size_t whylen) {
  memset(f, 0, sizeof *f);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    snprintf(why, whylen, "cannot read it: %s", strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  size_t size = (size_t)st.st_size, got = 0;
  /* Mapped, not copied: a big checkpoint is read once, from the page
   * cache. */
  void *m = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0)
                 : MAP_FAILED;
  if (m != MAP_FAILED) {
    f->bytes = m;
    f->mapped = true;
    got = size;
  } else {
    f->bytes = malloc(size ? size : 1);
    if (!f->bytes)
      pspf_ck_oom();
  }
  while (got < size) {
    ssize_t r = read(fd, f->bytes + got, size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  f->size = got;
  return parse(f, why, whylen);
}

int pspf_ckpt_from(char *bytes, size_t n, pspf_ckpt_file_t *f, char *why,
                   size_t whylen) {
  memset(f, 0, sizeof *f);
  f->bytes = bytes;
  f->size = n;
  return parse(f, why, whylen);
}

/* Checks and indexes what f->bytes (f->size of them) hold. */
static int parse(pspf_ckpt_file_t *f, char *why, size_t whylen) {
  size_t got = f->size;
  const char *h = f->bytes;
  if (got < PSPF_CKPT_HEADER) {
    snprintf(why, whylen, "truncated: %zu bytes, less than its header", got);
    goto bad;
  }
  if (memcmp(h, PSPF_CKPT_MAGIC, 8) != 0) {
    snprintf(why, whylen, "not a pspf checkpoint (bad magic)");
    goto bad;
  }
  if (get32(h + 60) != pspf_crc32c(0, h, 60)) {
    snprintf(why, whylen, "its header is damaged (checksum mismatch)");
    goto bad;
  }
  if (get32(h + 8) != PSPF_CKPT_VERSION || get32(h + 12) != PSPF_CKPT_HEADER) {
    snprintf(why, whylen, "format version %u, this program reads version %u",
             get32(h + 8), PSPF_CKPT_VERSION);
    goto bad;
  }
  f->id = get64(h + 16);
  f->fingerprint = get64(h + 24);
  f->written = (int64_t)get64(h + 32);
  f->flags = get32(h + 56);
  uint64_t body = get64(h + 40);
  if (body != got - PSPF_CKPT_HEADER) {
    snprintf(why, whylen, "truncated: %zu bytes of body, the header says "
             "%" PRIu64, got - PSPF_CKPT_HEADER, body);
    goto bad;
  }
  const char *b = f->bytes + PSPF_CKPT_HEADER;
  uint32_t ns = get32(h + 52);
  if (get32(h + 48) != body_crc(b, (size_t)body, ns)) {
    snprintf(why, whylen, "its body is damaged (checksum mismatch)");
    goto bad;
  }
  if (ns > body / PSPF_CKPT_SECTION) {
    snprintf(why, whylen, "%u sections do not fit in %" PRIu64 " bytes", ns,
             body);
    goto bad;
  }
  f->sections = calloc(ns ? ns : 1, sizeof *f->sections);
  if (!f->sections)
    pspf_ck_oom();
  size_t at = 0;
  for (uint32_t i = 0; i < ns; i++) {
    if (body - at < PSPF_CKPT_SECTION) {
      snprintf(why, whylen, "section %u is cut off", i);
      goto bad;
    }
    const char *s = b + at;
    uint64_t len = get64(s + 8);
    if (len > body - at - PSPF_CKPT_SECTION) {
      snprintf(why, whylen, "section %u is longer than the file", i);
      goto bad;
    }
    pspf_ckpt_section_t *x = &f->sections[i];
    x->kind = get32(s);
    x->index = get32(s + 4);
    x->items = get64(s + 16);
    x->payload = s + PSPF_CKPT_SECTION;
    x->size = (size_t)len;
    if (get32(s + 24) != pspf_crc32c(0, x->payload, x->size)) {
      snprintf(why, whylen, "section %u is damaged (checksum mismatch)", i);
      goto bad;
    }
    at += PSPF_CKPT_SECTION + (size_t)len;
  }
  if (at != body) {
    snprintf(why, whylen, "%" PRIu64 " bytes after the last section",
             body - at);
    goto bad;
  }
  f->nsections = ns;
  return 0;
bad:
  pspf_ckpt_file_free(f);
  return -1;
}

static int cmp_desc(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

long pspf_ckpt_list(const char *dir, uint64_t **ids) {
  *ids = NULL;
  DIR *d = opendir(dir);
  if (!d)
    return -1;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    const char *nm = de->d_name;
    if (strncmp(nm, "checkpoint-", 11) != 0 || strlen(nm) != 23)
      continue;
    uint64_t id = 0;
    bool ok = true;
    for (int i = 11; i < 23; i++) {
      if (nm[i] < '0' || nm[i] > '9')
        ok = false;
      id = id * 10 + (uint64_t)(nm[i] - '0');
    }
    if (!ok)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 8;
      uint64_t *nv = realloc(*ids, cap * sizeof *nv);
      if (!nv)
        pspf_ck_oom();
      *ids = nv;
    }
    (*ids)[n++] = id;
  }
  closedir(d);
  if (n)
    qsort(*ids, n, sizeof **ids, cmp_desc);
  return (long)n;
}

/* ---- the META, SOURCE and SINK payloads ---------------------------------- */

static pspf_ckr_t reader(const pspf_ckpt_section_t *s) {
  return pspf_ckr_of(s->payload, s->size);
}

const char *ck_meta_read(const pspf_ckpt_section_t *s, ck_meta_t *m) {
  memset(m, 0, sizeof *m);
  pspf_ckr_t r = reader(s);
  m->name = pspf_ckr_view(&r);
  m->nlayout = pspf_ckr_count(&r, 2);
  m->layout = calloc(m->nlayout + 1, sizeof *m->layout);
  m->where = calloc(m->nlayout + 1, sizeof *m->where);
  if (!m->layout || !m->where)
    pspf_ck_oom();
  for (size_t i = 0; i < m->nlayout; i++) {
    m->layout[i] = pspf_ckr_view(&r);
    m->where[i] = pspf_ckr_view(&r);
  }
  m->records_in = pspf_ckr_u64(&r);
  m->bad = pspf_ckr_u64(&r);
  m->late = pspf_ckr_u64(&r);
  m->dead_path = pspf_ckr_view(&r);
  m->dead_len = pspf_ckr_u64(&r);
  if (!r.error && r.p != r.end)
    pspf_ckr_fail(&r, "bytes left over");
  return r.error;
}

void ck_meta_free(ck_meta_t *m) {
  free(m->layout);
  free(m->where);
  m->layout = m->where = NULL;
}

const char *ck_source_read(const pspf_ckpt_section_t *s, ck_source_t *src) {
  memset(src, 0, sizeof *src);
  pspf_ckr_t r = reader(s);
  src->name = pspf_ckr_view(&r);
  src->path = pspf_ckr_view(&r);
  src->ended = pspf_ckr_bool(&r);
  src->records = pspf_ckr_u64(&r);
  src->header = pspf_ckr_view(&r);
  src->npos = pspf_ckr_count(&r, 2);
  for (size_t i = 0; i < src->npos; i++) {
    int64_t p = pspf_ckr_i64(&r), o = pspf_ckr_i64(&r);
    if (i < 64) {
      src->partition[i] = p;
      src->offset[i] = o;
    }
  }
  if (!r.error && r.p != r.end)
    pspf_ckr_fail(&r, "bytes left over");
  return r.error;
}

const char *ck_sink_read(const pspf_ckpt_section_t *s, ck_sink_t *sk) {
  memset(sk, 0, sizeof *sk);
  pspf_ckr_t r = reader(s);
  sk->name = pspf_ckr_view(&r);
  sk->kind = pspf_ckr_view(&r);
  sk->path = pspf_ckr_view(&r);
  sk->position = pspf_ckr_u64(&r);
  sk->records = pspf_ckr_u64(&r);
  if (!r.error && r.p != r.end)
    pspf_ckr_fail(&r, "bytes left over");
  return r.error;
}

/* ---- inspection --------------------------------------------------------- */

/* What a sink's committed position counts. */
static const char *sk_unit(pspf_str_t kind) {
  if (kind.n >= 6 && strncmp(kind.p, "sqlite", 6) == 0)
    return "row id";
  if (kind.n >= 5 && (strncmp(kind.p, "kafka", 5) == 0 ||
                      strncmp(kind.p, "mqtt", 4) == 0))
    return "records";
  return "length";
}

static void inspect_one(FILE *out, const pspf_ckpt_file_t *f) {
  char when[PSPF_FMT_MAX + 1];
  when[pspf_format_timestamp(f->written, when)] = 0;
  fprintf(out, "  id %" PRIu64 ", written %s, %" PRIu64 " bytes, fingerprint "
          "%016" PRIx64 "%s\n", f->id, when, f->size, f->fingerprint,
          f->flags & PSPF_CKPT_FINAL ? ", taken at the end of the input" : "");
  ck_meta_t m = {0};
  size_t ends = 0; /* sources and sinks: the layout's lines before states */
  for (uint32_t i = 0; i < f->nsections; i++)
    ends += f->sections[i].kind == PSPF_CKPT_SOURCE ||
            f->sections[i].kind == PSPF_CKPT_SINK;
  for (uint32_t i = 0; i < f->nsections; i++) {
    const pspf_ckpt_section_t *s = &f->sections[i];
    const char *err = NULL;
    switch (s->kind) {
    case PSPF_CKPT_META:
      err = ck_meta_read(s, &m);
      if (!err)
        fprintf(out, "  program %.*s: %" PRIu64 " records read, %" PRIu64
                " bad (dead letters: %.*s, %" PRIu64 " bytes), %" PRIu64
                " late\n", (int)m.name.n, m.name.p, m.records_in, m.bad,
                (int)m.dead_path.n, m.dead_path.p, m.dead_len, m.late);
      break;
    case PSPF_CKPT_SOURCE: {
      ck_source_t src;
      err = ck_source_read(s, &src);
      if (err)
        break;
      fprintf(out, "  source %.*s (%.*s): %" PRIu64 " records seen (a CSV "
              "header included)%s, at", (int)src.name.n, src.name.p,
              (int)src.path.n, src.path.p, src.records,
              src.ended ? ", ended" : "");
      for (size_t k = 0; k < src.npos && k < 64; k++) {
        if (src.partition[k] < 0)
          fprintf(out, " byte %" PRId64, src.offset[k]);
        else
          fprintf(out, " partition %" PRId64 " offset %" PRId64,
                  src.partition[k], src.offset[k]);
      }
      fprintf(out, "\n");
      break;
    }
    case PSPF_CKPT_SINK: {
      ck_sink_t sk;
      err = ck_sink_read(s, &sk);
      if (!err)
        fprintf(out, "  sink %.*s (%.*s %.*s): %" PRIu64 " records, "
                "committed %s %" PRIu64 "\n", (int)sk.name.n, sk.name.p,
                (int)sk.kind.n, sk.kind.p, (int)sk.path.n, sk.path.p,
                sk.records, sk_unit(sk.kind), sk.position);
      break;
    }
    case PSPF_CKPT_STATE:
      fprintf(out, "  state %u", s->index);
      if (m.layout && ends + s->index < m.nlayout) {
        pspf_str_t w = m.where[ends + s->index], l = m.layout[ends + s->index];
        if (l.n > 7 && memcmp(l.p, "state: ", 7) == 0)
          l.p += 7, l.n -= 7;
        fprintf(out, " (%.*s, %.*s)", (int)w.n, w.p, (int)l.n, l.p);
      }
      fprintf(out, ": %" PRIu64 " keys, %zu bytes\n", s->items, s->size);
      break;
    default:
      fprintf(out, "  section of unknown kind %u: %zu bytes\n", s->kind,
              s->size);
    }
    if (err)
      fprintf(out, "  section %u (kind %u) does not read back: %s\n", i,
              s->kind, err);
  }
  ck_meta_free(&m);
}

int pspf_ckpt_inspect(const char *dir, void *outp) {
  FILE *out = outp;
  uint64_t *ids;
  long n = pspf_ckpt_list(dir, &ids);
  if (n < 0) {
    fprintf(out, "%s: cannot read the directory: %s\n", dir, strerror(errno));
    return 1;
  }
  if (n == 0) {
    fprintf(out, "%s: no checkpoints\n", dir);
    free(ids);
    return 1;
  }
  int status = 1;
  for (long i = 0; i < n; i++) {
    char *path = pspf_ckpt_path(dir, ids[i]);
    pspf_ckpt_file_t f;
    char why[256];
    if (pspf_ckpt_read(path, &f, why, sizeof why) == 0) {
      fprintf(out, "%s: good\n", path);
      inspect_one(out, &f);
      if (i == 0)
        status = 0;
      pspf_ckpt_file_free(&f);
    } else {
      fprintf(out, "%s: damaged: %s\n", path, why);
    }
    free(path);
  }
  free(ids);
  return status;
}
