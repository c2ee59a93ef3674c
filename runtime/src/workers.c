/*
 * workers.c -- --workers N: see workers.h.
 *
 * One mutex guards the chunks in flight; a worker takes work under it and
 * does it without it. Work, in order of preference: a command of the
 * loop's thread (save, load, finish), parsing the next chunk it parses,
 * running the next chunk (every worker runs every chunk, in order, once
 * it is parsed). Wake-ups are uv_async_send() on each worker's own loop;
 * a worker that has run a chunk wakes the loop's thread, which writes out
 * the chunks every worker has run, in order.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers.h"

#define RING_PER_WORKER 4 /* chunks in flight, per worker */

/* A parsed record in a chunk: this header, then [size] bytes (the
 * emitted record struct), rounded up to 8. A bad one has a fault and no
 * bytes. */
typedef struct ent_s {
  uint32_t off, len;  /* the record's text in the chunk */
  uint32_t recno;     /* records framed before it in the chunk */
  uint32_t size;      /* bytes after this header */
  const char *fault;  /* why it could not be parsed, or NULL */
} ent_t;

/* Output of one chunk by one worker, for one sink. */
typedef struct out_s {
  pspf_buf_t bytes;
  pspf_buf_t segs;  /* seg_t */
  uint64_t records; /* written */
} out_t;

/* A bad record a worker noted (par_note_bad()). */
typedef struct bad_s {
  seg_key_t at;       /* where it happened (path -1: it was not parsed) */
  bool rec;           /* the record's own fault (else a result's) */
  int worker;
  uint32_t idx;       /* noted before it by the worker */
  const char *reason;
  uint64_t offset, line;
  size_t text, ntext; /* its input, in the worker's text buffer */
} bad_t;

/* A worker's bad records of one chunk. */
typedef struct bads_s {
  pspf_buf_t list; /* bad_t */
  pspf_buf_t text;
} bads_t;

/* What a worker's operator did in one chunk (for /metrics). */
typedef struct opd_s {
  uint64_t in, out; /* records into it and out of it */
  int64_t wm;       /* an event_time's watermark after it */
} opd_t;

typedef struct kept_s { /* a string copied for the chunk */
  struct kept_s *next;
  char s[];
} kept_t;

typedef struct chunk_s {
  uint64_t seq;
  char *data;         /* the bytes, with PSPF_READ_PAD after them */
  size_t len;
  char *mem;          /* the block they are in (data - mem: a header) */
  size_t cap;         /* its size, less the padding */
  uint64_t base;      /* input offset of data[0] */
  bool parsed;
  pspf_buf_t ents;    /* ent_t ... */
  uint32_t nents, framed, nbad;
  kept_t *kept;
  ent_t cur;          /* the record being parsed */
  bool got;           /* ... was kept */
  int ran;            /* workers that have run it */
  out_t *out;         /* [worker * nsinks + sink] */
  bads_t *bads;       /* [worker] */
  opd_t *ops;         /* [worker * nops + op] */
} chunk_t;

typedef struct worker_s {
  par_t *par;
  int id;
  uv_thread_t thread;
  uv_loop_t loop;
  uv_async_t kick;
  pspf_ctx_t ctx;
  pspf_sink_t *sinks;   /* its thread's */
  pspf_op_stat_t *ops;  /* its thread's operators */
  uint64_t next_parse;  /* the next chunk it parses: id, id + N, ... */
  uint64_t next_run;    /* the next chunk it runs */
  uint64_t recno;       /* records framed before next_run */
  bads_t bads;          /* the bad records of the chunk it runs */
  const chunk_t *at_chunk; /* ... that chunk */
  const struct ent_s *at;  /* ... and the record it runs, or NULL */
  void (*cmd)(struct worker_s *, void *); /* a command, or NULL */
  void *cmd_arg;
} worker_t;

struct par_s {
  pspf_program_t *prog;
  pspf_source_t *src;
  pspf_ctx_t *ctx;      /* the run's */
  uv_loop_t *loop;
  uv_async_t done;      /* workers -> the loop's thread */
  bool done_open;
  void (*on_room)(void *);
  void *room_arg;
  int n;
  worker_t *w;
  uv_mutex_t mu;
  uv_cond_t cv;         /* commands done */
  int cmd_left;
  chunk_t **ring;       /* chunks in flight, by seq % cap */
  size_t cap;
  uint64_t pushed;      /* chunks pushed */
  uint64_t written;     /* chunks written out */
  uint64_t recno0;      /* records before the first chunk */
  uint64_t framed;      /* ... and in the chunks written out */
  uint64_t offset;      /* input offset after them */
  chunk_t *pool;        /* written chunks kept for reuse (their memory:
                           fresh pages each time would cost page faults) */
  size_t npool;
  bool input_end;
  bool quit;
  bool draining;        /* par_drain() writes out: no on_room() (a
                           checkpoint is being taken) */
};

/* [p], or the program ends with status 2 (out of memory). */
static void *need(void *p) {
  if (!p) {
    pspf_log(NULL, 0, "out of memory");
    exit(PSPF_EXIT_FAILURE);
  }
  return p;
}

/* The same for pspf_buf_add()'s result. */
static void added(int rc) {
  if (rc)
    need(NULL);
}

/* ---- cutting the input ------------------------------------------------------ */

size_t par_cut(const pspf_source_t *src, const char *buf, size_t len,
               size_t seen, bool at_eof) {
  if (at_eof)
    return len;
  if (src->format == PSPF_FMT_CSV && memchr(buf, '"', len)) {
    /* Quotes may hold newlines: frame record by record. */
    pspf_str_t f[1];
    size_t off = 0, used;
    int nf;
    while (off < len &&
           pspf_csv_frame(buf + off, len - off, src->delim, false, &used, f,
                          0, &nf) >= 0)
      off += used;
    return off;
  }
  size_t k = len;
  while (k > seen && buf[k - 1] != '\n')
    k--;
  return k > seen ? k : 0; /* after the last newline, or 0 */
}

/* ---- parsing (any worker) --------------------------------------------------- */

pspf_str_t pspf_chunk_str(pspf_ctx_t *ctx, pspf_str_t s) {
  if (ctx->routed) /* (routed at once: the input is still there) */
    return s;
  chunk_t *c = ctx->collect;
  if (!s.n || (s.p >= c->data && s.p + s.n <= c->data + c->len))
    return s;
  kept_t *k = need(malloc(sizeof *k + s.n));
  memcpy(k->s, s.p, s.n);
  k->next = c->kept;
  c->kept = k;
  return (pspf_str_t){k->s, s.n};
}

void pspf_chunk_record(pspf_ctx_t *ctx, const void *r, size_t n) {
  if (ctx->routed) {
    ctx->routed(ctx, r, n);
    return;
  }
  chunk_t *c = ctx->collect;
  ent_t e = c->cur;
  e.size = (uint32_t)n;
  size_t at = c->ents.n, padded = (n + 7) & ~(size_t)7;
  need(pspf_buf_reserve(&c->ents, sizeof e + padded));
  memcpy(c->ents.p + at, &e, sizeof e);
  memcpy(c->ents.p + at + sizeof e, r, n);
  c->ents.n = at + sizeof e + padded;
  c->nents++;
  c->got = true;
}

static void add_bad(chunk_t *c, const char *why) {
  ent_t e = c->cur;
  e.size = 0;
  e.fault = why;
  c->nbad++;
  added(pspf_buf_add(&c->ents, &e, sizeof e));
  c->nents++;
}

/* Frames the chunk's records as rt.c's process() does, and parses each. */
static void parse_chunk(worker_t *wk, chunk_t *c) {
  pspf_ctx_t *ctx = &wk->ctx;
  const pspf_source_t *src = wk->par->src;
  pspf_framing_t f =
      src->format == PSPF_FMT_CSV ? PSPF_FRAME_CSV : PSPF_FRAME_LINES;
  pspf_buf_reserve(&c->ents, c->len / 2 + 64);
  ctx->collect = c;
  size_t off = 0;
  while (off < c->len) {
    size_t used;
    int nf = -2;
    long n = f == PSPF_FRAME_CSV
                 ? pspf_csv_frame(c->data + off, c->len - off, src->delim,
                                  true, &used, ctx->csv_f, PSPF_CSV_MAX_FIELDS,
                                  &nf)
                 : pspf_next_record(c->data + off, c->len - off, f, true,
                                    &used);
    if (n < 0)
      break;
    const char *p = c->data + off;
    c->cur = (ent_t){(uint32_t)off, (uint32_t)n, c->framed, 0, NULL};
    c->framed++;
    off += used;
    if (no_record(src, p, (size_t)n))
      continue;
    ctx->csv_nf = nf;
    ctx->input = (pspf_str_t){p, (size_t)n};
    c->got = false;
    src->on_record(ctx, p, (size_t)n);
    if (ctx->fault || !c->got) {
      add_bad(c, ctx->fault ? ctx->fault : "bad record");
      ctx->fault = NULL;
    }
    ctx->scratch.n = 0;
    pspf_scratch_reset(ctx);
  }
  ctx->collect = NULL;
}

/* ---- running (every worker) ------------------------------------------------- */

/* Moves what this worker's sinks hold into [o] (one out_t a sink, empty:
 * their buffers go to the sinks). */
static void take_output(worker_t *wk, out_t *o) {
  int ns = wk->par->prog->nsinks;
  for (int k = 0; k < ns; k++) {
    pspf_sink_t *s = &wk->sinks[k];
    pspf_buf_t b = o[k].bytes, g = o[k].segs;
    o[k].bytes = s->buf;
    o[k].segs = s->segs;
    o[k].records = s->records;
    s->records = 0;
    s->buf = b;
    s->segs = g;
    s->buf.n = s->segs.n = 0;
    s->seg_prev = 0;
  }
}

static worker_t *worker_of(pspf_ctx_t *ctx) {
  return (worker_t *)(void *)((char *)ctx - offsetof(worker_t, ctx));
}

void par_note_bad(pspf_ctx_t *ctx, bool rec) {
  worker_t *wk = worker_of(ctx);
  bads_t *b = &wk->bads;
  if (wk->at) { /* where the record at hand came from */
    const chunk_t *c = wk->at_chunk;
    ctx->pos.offset = c->base + wk->at->off;
    ctx->pos.line = wk->recno + wk->at->recno + 1;
    ctx->input = (pspf_str_t){c->data + wk->at->off, wk->at->len};
  } else { /* the end of the input: no record */
    ctx->input = (pspf_str_t){"", 0};
  }
  bad_t x = {seg_key(ctx), rec, wk->id, (uint32_t)(b->list.n / sizeof x),
             ctx->fault ? ctx->fault : "bad record", ctx->pos.offset,
             ctx->pos.line, b->text.n, ctx->input.n};
  ctx->fault = NULL;
  added(pspf_buf_add(&b->text, ctx->input.p, ctx->input.n));
  added(pspf_buf_add(&b->list, &x, sizeof x));
}

/* Moves the worker's bad records into [to] (empty: its buffers go back). */
static void take_bads(worker_t *wk, bads_t *to) {
  bads_t t = *to;
  *to = wk->bads;
  wk->bads = t;
  wk->bads.list.n = wk->bads.text.n = 0;
}

/* Moves the worker's operator counts into [to] (nops of them), with each
 * event_time's watermark. */
static void take_ops(worker_t *wk, opd_t *to) {
  for (int i = 0; i < wk->par->prog->nops; i++) {
    pspf_op_stat_t *o = &wk->ops[i];
    to[i] = (opd_t){o->in, o->out, o->watermark ? *o->watermark : INT64_MIN};
    o->in = o->out = 0;
  }
}

/* Adds the workers' operator counts [d] to the run's (the loop's thread's
 * operators, which /metrics shows); a watermark is the largest. */
static void add_ops(par_t *p, const opd_t *d) {
  pspf_op_stat_t *ops = p->prog->ops;
  for (int w = 0; w < p->n; w++)
    for (int i = 0; i < p->prog->nops; i++) {
      const opd_t *x = &d[(size_t)w * (size_t)p->prog->nops + (size_t)i];
      ops[i].in += x->in;
      ops[i].out += x->out;
      /* (The watermark shown is the loop's thread's own variable, which no
       * record moves while workers run.) */
      if (ops[i].watermark && x->wm > *ops[i].watermark)
        *(int64_t *)(uintptr_t)ops[i].watermark = x->wm;
    }
}

/* Moves what the worker made of chunk [c] (its output, bad records and
 * operator counts) into the chunk. */
static void take_all(worker_t *wk, chunk_t *c) {
  pspf_program_t *prog = wk->par->prog;
  take_output(wk, &c->out[(size_t)wk->id * (size_t)prog->nsinks]);
  take_bads(wk, &c->bads[wk->id]);
  take_ops(wk, &c->ops[(size_t)wk->id * (size_t)prog->nops]);
}

static void run_chunk(worker_t *wk, chunk_t *c) {
  par_t *p = wk->par;
  pspf_ctx_t *ctx = &wk->ctx;
  pspf_source_t *src = p->src;
  ctx->chunk_mine = (int)(c->seq % (uint64_t)p->n) == wk->id;
  int split = p->prog->split;
  bool work = (split & PSPF_SPLIT_KEYED) ||
              ((split & PSPF_SPLIT_FIRST) && wk->id == 0) ||
              ((split & PSPF_SPLIT_CHUNK) && ctx->chunk_mine);
  if (!work && !(ctx->chunk_mine && c->nbad)) { /* nothing here for it */
    wk->recno += c->framed;
    take_all(wk, c);
    return;
  }
  /* (Where a record came from is made only for a bad one: par_note_bad()
   * reads wk->at.) */
  wk->at_chunk = c;
  const char *at = c->ents.p, *end = c->ents.p + c->ents.n;
  for (uint32_t i = 0; at < end && !ctx->stopping; i++) {
    const ent_t *e = (const ent_t *)(const void *)at; /* (8-aligned) */
    const char *rec = at + sizeof *e;
    at += sizeof *e + ((e->size + 7) & ~(size_t)7);
    wk->at = e;
    ctx->seg_step = i;
    ctx->seg_sub = 0;
    ctx->seg_end = ctx->seg_start = 0;
    ctx->report = ctx->chunk_mine;
    if (e->fault) {
      if (ctx->chunk_mine) {
        ctx->fault = e->fault;
        ctx->seg_path = -1;
        par_note_bad(ctx, true);
      }
      continue;
    }
    if (!work) /* only its bad records to report */
      continue;
    src->on_parsed(ctx, rec); /* (records are counted as chunks are written) */
    if (ctx->fault) {
      if (ctx->report)
        par_note_bad(ctx, true);
      ctx->fault = NULL;
    }
    ctx->scratch.n = 0;
    if (ctx->blocks)
      pspf_scratch_reset(ctx);
  }
  wk->at = NULL;
  wk->recno += c->framed;
  take_all(wk, c);
}

/* ---- the workers' loops ----------------------------------------------------- */

static chunk_t *at_seq(par_t *p, uint64_t seq) {
  if (seq < p->written || seq >= p->pushed)
    return NULL;
  return p->ring[seq % p->cap];
}

static void on_kick(uv_async_t *h) {
  worker_t *wk = h->data;
  par_t *p = wk->par;
  uv_mutex_lock(&p->mu);
  for (;;) {
    if (wk->cmd) {
      void (*fn)(worker_t *, void *) = wk->cmd;
      uv_mutex_unlock(&p->mu);
      fn(wk, wk->cmd_arg);
      uv_mutex_lock(&p->mu);
      wk->cmd = NULL;
      if (--p->cmd_left == 0)
        uv_cond_broadcast(&p->cv);
      continue;
    }
    if (p->quit) {
      uv_close((uv_handle_t *)&wk->kick, NULL);
      break;
    }
    chunk_t *c = at_seq(p, wk->next_parse);
    if (c && !c->parsed) {
      uv_mutex_unlock(&p->mu);
      parse_chunk(wk, c);
      uv_mutex_lock(&p->mu);
      c->parsed = true;
      wk->next_parse += (uint64_t)p->n;
      for (int i = 0; i < p->n; i++) /* the others may wait for it */
        if (i != wk->id)
          uv_async_send(&p->w[i].kick);
      continue;
    }
    c = at_seq(p, wk->next_run);
    if (c && c->parsed) {
      uv_mutex_unlock(&p->mu);
      run_chunk(wk, c);
      uv_mutex_lock(&p->mu);
      c->ran++;
      wk->next_run++;
      if (c->ran == p->n) {
        uv_async_send(&p->done);
        uv_cond_broadcast(&p->cv); /* (par_drain() may wait) */
      }
      continue;
    }
    break;
  }
  uv_mutex_unlock(&p->mu);
}

static void worker_main(void *arg) {
  worker_t *wk = arg;
  uv_run(&wk->loop, UV_RUN_DEFAULT);
  rt_strs_free_all(); /* (its state is gone: par_stop() finished it) */
}

/* Runs [fn] on every worker's thread and waits for them all. */
static void each_worker(par_t *p, void (*fn)(worker_t *, void *), void *arg) {
  uv_mutex_lock(&p->mu);
  p->cmd_left = p->n;
  for (int i = 0; i < p->n; i++) {
    p->w[i].cmd = fn;
    p->w[i].cmd_arg = arg;
    uv_async_send(&p->w[i].kick);
  }
  while (p->cmd_left)
    uv_cond_wait(&p->cv, &p->mu);
  uv_mutex_unlock(&p->mu);
}

/* ---- writing out (the loop's thread) ---------------------------------------- */

/* Appends the workers' output [o] (stride nsinks) for sink [k] to the
 * run's sink, in the order one thread would have written it. */
static void write_merged(par_t *p, out_t *o, int k) {
  pspf_sink_t *s = &p->prog->sinks[k];
  int ns = p->prog->nsinks, from = -1, many = 0;
  for (int w = 0; w < p->n; w++) {
    out_t *x = &o[(size_t)w * (size_t)ns + (size_t)k];
    s->records += x->records;
    x->records = 0;
    if (x->bytes.n) {
      from = w;
      many++;
    }
  }
  if (many == 1) {
    out_t *x = &o[(size_t)from * (size_t)ns + (size_t)k];
    pspf_buf_add(&s->buf, x->bytes.p, x->bytes.n);
  } else if (many > 1) {
    size_t at[64] = {0}; /* the next segment of each worker */
    for (;;) {
      int best = -1;
      const seg_t *bs = NULL;
      for (int w = 0; w < p->n; w++) {
        out_t *x = &o[(size_t)w * (size_t)ns + (size_t)k];
        size_t nseg = x->segs.n / sizeof(seg_t);
        if (at[w] >= nseg)
          continue;
        const seg_t *sg = (const seg_t *)x->segs.p + at[w];
        if (!bs || seg_key_cmp(&sg->at, &bs->at) < 0) {
          bs = sg;
          best = w;
        }
      }
      if (best < 0)
        break;
      out_t *x = &o[(size_t)best * (size_t)ns + (size_t)k];
      size_t nseg = x->segs.n / sizeof(seg_t), i = at[best]++;
      size_t to = i + 1 < nseg ? ((const seg_t *)x->segs.p)[i + 1].from
                               : x->bytes.n;
      pspf_buf_add(&s->buf, x->bytes.p + bs->from, to - bs->from);
    }
  }
  pspf_sink_maybe_flush(p->ctx, s);
}

static int bad_cmp(const void *x, const void *y) {
  const bad_t *a = x, *b = y;
  if (a->at.step != b->at.step)
    return a->at.step < b->at.step ? -1 : 1;
  if (a->rec != b->rec) /* a result's faults come first, as they happen */
    return a->rec ? 1 : -1;
  int c = seg_key_cmp(&a->at, &b->at);
  if (c)
    return c;
  if (a->worker != b->worker)
    return a->worker < b->worker ? -1 : 1;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Writes the workers' bad records [b] (one bads_t a worker) to the
 * dead-letter file as one thread would: in order, and a record once,
 * with the fault of its first pipeline. */
static void write_bads(par_t *p, bads_t *b) {
  size_t n = 0;
  for (int w = 0; w < p->n; w++)
    n += b[w].list.n / sizeof(bad_t);
  if (!n)
    return;
  bad_t *all = need(malloc(n * sizeof *all));
  n = 0;
  for (int w = 0; w < p->n; w++) {
    memcpy(all + n, b[w].list.p, b[w].list.n);
    n += b[w].list.n / sizeof(bad_t);
  }
  qsort(all, n, sizeof *all, bad_cmp);
  pspf_ctx_t *ctx = p->ctx;
  for (size_t i = 0; i < n; i++) {
    if (all[i].rec && i && all[i - 1].rec &&
        all[i - 1].at.step == all[i].at.step)
      continue; /* a later pipeline's fault of the same record */
    ctx->pos.source = p->src->name;
    ctx->pos.path = p->src->path;
    ctx->pos.offset = all[i].offset;
    ctx->pos.line = all[i].line;
    ctx->input = (pspf_str_t){b[all[i].worker].text.p + all[i].text,
                              all[i].ntext};
    ctx->fault = all[i].reason;
    pspf_bad_record(ctx);
  }
  free(all);
}

/* Writes out what the workers made of chunk [c]. */
static void write_chunk(par_t *p, chunk_t *c) {
  for (int k = 0; k < p->prog->nsinks; k++)
    write_merged(p, c->out, k);
  write_bads(p, c->bads);
  add_ops(p, c->ops);
}

/* A chunk with room for every worker's results. */
static chunk_t *new_chunk(par_t *p) {
  chunk_t *c = need(calloc(1, sizeof *c));
  c->out = need(calloc((size_t)p->n * (size_t)(p->prog->nsinks + 1),
                       sizeof *c->out));
  c->bads = need(calloc((size_t)p->n, sizeof *c->bads));
  c->ops = need(calloc((size_t)p->n * (size_t)(p->prog->nops + 1),
                       sizeof *c->ops));
  return c;
}

static void free_out(par_t *p, out_t *o) {
  size_t n = (size_t)p->n * (size_t)p->prog->nsinks;
  for (size_t i = 0; i < n; i++) {
    pspf_buf_free(&o[i].bytes);
    pspf_buf_free(&o[i].segs);
  }
}

static void free_bads(par_t *p, bads_t *b) {
  for (int w = 0; w < p->n; w++) {
    pspf_buf_free(&b[w].list);
    pspf_buf_free(&b[w].text);
  }
}

static void free_chunk(par_t *p, chunk_t *c) {
  free_out(p, c->out);
  free(c->out);
  free_bads(p, c->bads);
  free(c->bads);
  free(c->ops);
  pspf_buf_free(&c->ents);
  for (kept_t *k = c->kept, *next; k; k = next) {
    next = k->next;
    free(k);
  }
  free(c->mem);
  free(c);
}

/* Notes a worker's stop (too many bad records) in the run. */
static void take_stop(par_t *p) {
  for (int i = 0; i < p->n; i++)
    if (p->w[i].ctx.exit_status && !p->ctx->exit_status) {
      p->ctx->exit_status = p->w[i].ctx.exit_status;
      p->ctx->stopping = true;
    }
}

/* Keeps a written chunk's memory for the next (under the mutex). */
static void recycle(par_t *p, chunk_t *c) {
  size_t n = (size_t)p->n * (size_t)p->prog->nsinks;
  for (size_t i = 0; i < n; i++)
    c->out[i].bytes.n = c->out[i].segs.n = 0;
  for (int w = 0; w < p->n; w++)
    c->bads[w].list.n = c->bads[w].text.n = 0;
  c->ents.n = 0;
  for (kept_t *k = c->kept, *next; k; k = next) {
    next = k->next;
    free(k);
  }
  c->kept = NULL;
  if (p->npool >= p->cap) {
    free_chunk(p, c);
    return;
  }
  c->seq = (uint64_t)(uintptr_t)p->pool; /* (the link, while pooled) */
  p->pool = c;
  p->npool++;
}

static void on_done(uv_async_t *h) {
  par_t *p = h->data;
  uv_mutex_lock(&p->mu);
  for (;;) {
    chunk_t *c = at_seq(p, p->written);
    if (!c || c->ran < p->n)
      break;
    uv_mutex_unlock(&p->mu);
    write_chunk(p, c);
    p->src->records += c->nents;
    p->ctx->records_in += c->nents;
    p->framed += c->framed;
    p->offset = c->base + c->len;
    uv_mutex_lock(&p->mu);
    recycle(p, c);
    p->ring[p->written % p->cap] = NULL;
    p->written++;
  }
  bool over = p->input_end && p->written == p->pushed;
  uv_mutex_unlock(&p->mu);
  take_stop(p);
  if (over && p->done_open) {
    p->done_open = false;
    uv_close((uv_handle_t *)&p->done, NULL);
  } else if (p->on_room && !p->draining) {
    p->on_room(p->room_arg); /* a paused reader goes on, or stops */
  }
}

/* ---- the interface ---------------------------------------------------------- */

static void init_worker(worker_t *wk, void *arg) {
  (void)arg;
  par_t *p = wk->par;
  wk->sinks = p->prog->worker_sinks();
  wk->ops = p->prog->worker_ops();
  for (int k = 0; k < p->prog->nsinks; k++) {
    pspf_sink_t *s = &wk->sinks[k];
    *s = p->prog->sinks[k];
    s->buf = (pspf_buf_t){0};
    s->segs = (pspf_buf_t){0};
    s->seg_prev = 0;
    s->records = 0;
    s->fd = -1;
  }
}

par_t *par_start(pspf_program_t *prog, pspf_ctx_t *ctx, uv_loop_t *loop,
                 int n, void (*on_room)(void *), void *arg) {
  par_t *p = calloc(1, sizeof *p);
  if (!p || n > 64)
    goto fail;
  p->prog = prog;
  p->src = &prog->sources[0];
  p->ctx = ctx;
  p->loop = loop;
  p->n = n;
  p->on_room = on_room;
  p->room_arg = arg;
  p->cap = (size_t)n * RING_PER_WORKER;
  p->ring = calloc(p->cap, sizeof *p->ring);
  p->w = calloc((size_t)n, sizeof *p->w);
  if (!p->ring || !p->w)
    goto fail;
  uv_mutex_init(&p->mu);
  uv_cond_init(&p->cv);
  uv_async_init(loop, &p->done, on_done);
  p->done.data = p;
  p->done_open = true;
  for (int i = 0; i < n; i++) {
    worker_t *wk = &p->w[i];
    wk->par = p;
    wk->id = i;
    wk->next_parse = (uint64_t)i;
    wk->ctx.nworkers = n;
    wk->ctx.worker = i;
    wk->ctx.chunk_mine = true;
    wk->ctx.report = true;
    wk->ctx.log_level = ctx->log_level;
    wk->ctx.max_bad = ctx->max_bad;
    wk->ctx.dead_path = ctx->dead_path;
    wk->ctx.pos.source = p->src->name;
    wk->ctx.pos.path = p->src->path;
    uv_loop_init(&wk->loop);
    uv_async_init(&wk->loop, &wk->kick, on_kick);
    wk->kick.data = wk;
    if (uv_thread_create(&wk->thread, worker_main, wk) != 0) {
      pspf_log(ctx, 0, "cannot start worker %d", i);
      exit(PSPF_EXIT_FAILURE);
    }
  }
  each_worker(p, init_worker, NULL);
  return p;
fail:
  pspf_log(ctx, 0, "cannot start %d workers", n);
  if (p) {
    free(p->ring);
    free(p->w);
    free(p);
  }
  return NULL;
}

void par_push(par_t *p, char **buf, size_t *cap, size_t off, size_t len,
              size_t held, uint64_t base, uint64_t recno) {
  uv_mutex_lock(&p->mu);
  chunk_t *c = p->pool;
  if (c) {
    p->pool = (chunk_t *)(uintptr_t)c->seq;
    p->npool--;
  }
  uv_mutex_unlock(&p->mu);
  if (!c) {
    c = new_chunk(p);
  }
  /* The chunk takes the reader's block; the reader gets the chunk's old
   * one (or a new one) with the bytes after the chunk. */
  char *mem = c->mem;
  size_t mcap = c->cap;
  if (!mem || mcap < *cap) {
    free(mem);
    mcap = *cap;
    mem = need(malloc(mcap + PSPF_READ_PAD));
  }
  size_t rest = held - off - len;
  memcpy(mem, *buf + off + len, rest);
  c->mem = *buf;
  c->cap = *cap;
  c->data = c->mem + off;
  memset(c->data + len, 0, PSPF_READ_PAD);
  *buf = mem;
  *cap = mcap;
  c->len = len;
  c->base = base;
  c->parsed = false;
  c->nents = c->framed = c->nbad = 0;
  c->ran = 0;
  uv_mutex_lock(&p->mu);
  if (!p->pushed) { /* records before the first chunk: a CSV header */
    p->recno0 = recno;
    for (int i = 0; i < p->n; i++)
      p->w[i].recno = recno;
  }
  c->seq = p->pushed;
  p->ring[p->pushed % p->cap] = c;
  p->pushed++;
  uv_mutex_unlock(&p->mu);
  for (int i = 0; i < p->n; i++)
    uv_async_send(&p->w[i].kick);
}

bool par_full(const par_t *p) { return p->pushed - p->written >= p->cap; }

int par_workers(const par_t *p) { return p->n; }

void par_position(const par_t *p, uint64_t *offset, uint64_t *records) {
  if (!p->written) /* no chunk yet: the reader's own position */
    return;
  *records = p->recno0 + p->framed;
  *offset = p->offset;
}

uint64_t par_late(const par_t *p) {
  uint64_t n = 0;
  for (int i = 0; i < p->n; i++)
    n += p->w[i].ctx.late; /* (the workers are idle: par_drain()) */
  return n;
}

void par_drain(par_t *p) {
  uv_mutex_lock(&p->mu);
  for (;;) {
    bool all = true;
    for (uint64_t s = p->written; s < p->pushed && all; s++)
      all = p->ring[s % p->cap]->ran == p->n;
    if (all)
      break;
    uv_cond_wait(&p->cv, &p->mu);
  }
  uv_mutex_unlock(&p->mu);
  p->draining = true;
  on_done(&p->done); /* written out now */
  p->draining = false;
  if (p->done_open) /* the reader goes on after the checkpoint */
    uv_async_send(&p->done);
}

void par_input_end(par_t *p) {
  uv_mutex_lock(&p->mu);
  p->input_end = true;
  uv_mutex_unlock(&p->mu);
  uv_async_send(&p->done);
}

typedef struct save_arg_s {
  pspf_buf_t *out;
  uint64_t *keys;
} save_arg_t;

static void save_worker(worker_t *wk, void *arg) {
  save_arg_t *a = arg;
  pspf_program_t *prog = wk->par->prog;
  for (int i = 0; i < prog->nstates; i++) {
    pspf_buf_t *b = &a->out[(size_t)wk->id * (size_t)prog->nstates + (size_t)i];
    b->n = 0;
    a->keys[(size_t)wk->id * (size_t)prog->nstates + (size_t)i] =
        prog->states[i].save ? prog->states[i].save(b) : 0;
  }
}

void par_save(par_t *p, pspf_buf_t *out, uint64_t *keys) {
  save_arg_t a = {out, keys};
  each_worker(p, save_worker, &a);
}

typedef struct load_arg_s {
  const char *const *saved;
  const size_t *sizes;
  int nsaved;
  char *why;
  size_t whylen;
  int rc;
} load_arg_t;

int pspf_load_states(pspf_program_t *prog, const char *const *saved,
                     const size_t *sizes, int nsaved, int nworkers, int worker,
                     char *why, size_t whylen) {
  for (int i = 0; i < prog->nstates; i++) {
    pspf_state_t *st = &prog->states[i];
    /* The sections this worker loads, and whether it merges them. */
    int from = 0, to = 1;
    bool merge = false;
    if (nsaved == nworkers) {
      from = worker, to = worker + 1;
    } else if (st->split == PSPF_STATE_KEYED) {
      to = nsaved, merge = true;
    } else if (st->split != PSPF_STATE_SHARED && worker != 0) {
      continue; /* the first worker's alone (the others' were empty) */
    }
    for (int k = from; k < to; k++) {
      size_t at = (size_t)k * (size_t)prog->nstates + (size_t)i;
      pspf_ckr_t r = pspf_ckr_of(saved[at], sizes[at]);
      r.nworkers = nworkers;
      r.worker = worker;
      r.merge = merge;
      if (st->load)
        st->load(&r);
      if (!r.error && r.p != r.end)
        r.error = "bytes left over";
      if (r.error) {
        snprintf(why, whylen, "the state of %s (%s) does not read back: %s",
                 st->where, st->layout, r.error);
        return -1;
      }
    }
  }
  return 0;
}

static void load_worker(worker_t *wk, void *arg) {
  load_arg_t *a = arg;
  char why[512];
  if (pspf_load_states(wk->par->prog, a->saved, a->sizes, a->nsaved,
                       wk->par->n, wk->id, why, sizeof why) < 0) {
    uv_mutex_lock(&wk->par->mu);
    if (!a->rc) {
      a->rc = -1;
      snprintf(a->why, a->whylen, "%s", why);
    }
    uv_mutex_unlock(&wk->par->mu);
  }
}

int par_load(par_t *p, const char *const *saved, const size_t *sizes,
             int nsaved, char *why, size_t whylen) {
  load_arg_t a = {saved, sizes, nsaved, why, whylen, 0};
  each_worker(p, load_worker, &a);
  return a.rc;
}

static void finish_worker(worker_t *wk, void *arg) {
  (void)arg;
  pspf_ctx_t *ctx = &wk->ctx;
  ctx->seg_step = UINT32_MAX;
  ctx->seg_sub = 0;
  ctx->seg_end = ctx->seg_start = 0;
  ctx->chunk_mine = wk->id == 0;
  wk->par->prog->finish(ctx);
}

static void quit_worker(worker_t *wk, void *arg) {
  (void)wk;
  (void)arg;
}

void par_stop(par_t *p, bool finish) {
  int ns = p->prog->nsinks;
  /* Every worker fires what is open, which also frees its state; when
   * stopping early, that output goes nowhere. */
  each_worker(p, finish_worker, NULL);
  if (finish) { /* written out as a last chunk */
    chunk_t *c = new_chunk(p);
    for (int w = 0; w < p->n; w++)
      take_all(&p->w[w], c);
    write_chunk(p, c);
    free_chunk(p, c);
  }
  uv_mutex_lock(&p->mu);
  p->quit = true;
  uv_mutex_unlock(&p->mu);
  each_worker(p, quit_worker, NULL); /* wakes them: they see quit */
  for (int i = 0; i < p->n; i++) {
    worker_t *wk = &p->w[i];
    uv_thread_join(&wk->thread);
    uv_loop_close(&wk->loop);
    p->ctx->late += wk->ctx.late;
    pspf_buf_free(&wk->bads.list);
    pspf_buf_free(&wk->bads.text);
    for (int k = 0; k < ns; k++) {
      pspf_buf_free(&wk->sinks[k].buf);
      pspf_buf_free(&wk->sinks[k].segs);
    }
    pspf_buf_free(&wk->ctx.scratch);
    rt_scratch_free_all(&wk->ctx);
  }
  take_stop(p);
  for (uint64_t s = p->written; s < p->pushed; s++)
    if (p->ring[s % p->cap])
      free_chunk(p, p->ring[s % p->cap]);
  while (p->pool) {
    chunk_t *c = p->pool;
    p->pool = (chunk_t *)(uintptr_t)c->seq;
    free_chunk(p, c);
  }
  if (p->done_open)
    uv_close((uv_handle_t *)&p->done, NULL);
  uv_mutex_destroy(&p->mu);
  uv_cond_destroy(&p->cv);
  free(p->ring);
  free(p->w);
  free(p);
}
