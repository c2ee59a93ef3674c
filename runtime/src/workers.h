/*
 * workers.h -- --workers N: shared-nothing workers over one input (internal
 * to the runtime; rt.c drives them).
 *
 * The loop's thread reads the input in blocks and cuts each at its last
 * record boundary into a chunk. Chunk c is parsed by worker c % N; then
 * every worker goes through every chunk, in order, and runs each record
 * through the pipelines: stateless pipelines on the worker that parsed the
 * chunk, keyed ones past their key_by only on the worker that owns the
 * key's hash, the rest on worker 0 (see SPLIT_* in the compiler). Each
 * worker has its own libuv loop and its own copy of all state (the
 * emitted state is thread-local). The loop's thread writes the chunks'
 * output in order, merging the workers' output of a chunk in the order
 * a single thread would have written it (each worker notes, per record,
 * where its output began: the record's index, the pipeline, the window).
 */
#ifndef PSPF_WORKERS_H
#define PSPF_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "pspf/rt.h"

typedef struct par_s par_t;

/* What a worker's output (or bad record) comes from: one record (its
 * index in the chunk), pipeline, element of a flat_map and window. The
 * workers' output is merged in this order, as one thread writes it. */
typedef struct seg_key_s {
  uint32_t step;      /* the record's index in the chunk */
  int32_t path;       /* the pipeline */
  uint32_t sub;       /* the element of a flat_map that reached the key_by */
  int64_t end, start; /* the window fired, or 0, 0 */
} seg_key_t;

/* The key of what [ctx] is running now. */
static inline seg_key_t seg_key(const pspf_ctx_t *ctx) {
  seg_key_t k = {ctx->seg_step, ctx->seg_path, ctx->seg_sub, ctx->seg_end,
                 ctx->seg_start};
  return k;
}

/* Their order: <0, 0 (the same), >0. */
static inline int seg_key_cmp(const seg_key_t *a, const seg_key_t *b) {
  if (a->step != b->step)
    return a->step < b->step ? -1 : 1;
  if (a->path != b->path)
    return a->path < b->path ? -1 : 1;
  if (a->sub != b->sub)
    return a->sub < b->sub ? -1 : 1;
  if (a->end != b->end)
    return a->end < b->end ? -1 : 1;
  if (a->start != b->start)
    return a->start < b->start ? -1 : 1;
  return 0;
}

/* Where a worker's output for one chunk and sink begins to come from one
 * key (pspf_sink_maybe_flush() notes them). */
typedef struct seg_s {
  seg_key_t at;
  size_t from; /* where in the sink's buffer it begins */
} seg_t;

/* A blank line is no record in csv or json (in json, nor is one of only
 * white space): rt.c's reader and the workers' parsers skip it. */
static inline bool no_record(const pspf_source_t *src, const char *p,
                             size_t n) {
  if (n == 0)
    return src->format != PSPF_FMT_LINES;
  if (src->format != PSPF_FMT_JSON || (*p != ' ' && *p != '\t'))
    return false;
  size_t k = 0;
  while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
    k++;
  return k == n;
}

/* rt.c: writes what sink [s] (a file or the standard output) holds;
 * 0, or PSPF_EIO (logged, ctx stopping). */
int rt_sink_flush(pspf_ctx_t *ctx, pspf_sink_t *s);

/* rt.c: frees all scratch memory of [ctx]. */
void rt_scratch_free_all(pspf_ctx_t *ctx);
/* rt.c: frees the calling thread's kept strings (a worker that ends). */
void rt_strs_free_all(void);

/* Starts [n] workers for [prog] (its one source is prog->sources[0]);
 * [on_room] is called on the loop's thread when chunks have been written
 * out and more may be pushed. Returns NULL (logged) on failure. */
par_t *par_start(pspf_program_t *prog, pspf_ctx_t *ctx, uv_loop_t *loop,
                 int n, void (*on_room)(void *), void *arg);

/* The bytes of [buf] up to the last record boundary: how many go in a
 * chunk now (0: no whole record yet); the first [seen] bytes are known to
 * hold no newline. At the end of the input, all. */
size_t par_cut(const pspf_source_t *src, const char *buf, size_t len,
               size_t seen, bool at_eof);

/* Hands the workers a chunk ([recno]: records framed before it, counted
 * for the first) : the [len] bytes at [off] in the reader's
 * block *buf of *cap bytes (and PSPF_READ_PAD more), at input offset
 * [base]. The chunk takes the block; the reader gets another in *buf,
 * *cap, holding the [held] - [off] - [len] bytes that followed. */
void par_push(par_t *p, char **buf, size_t *cap, size_t off, size_t len,
              size_t held, uint64_t base, uint64_t recno);

/* True when as many chunks are in flight as the workers may hold: the
 * reader waits for on_room. */
bool par_full(const par_t *p);

/* No more chunks: once those in flight are written out, the loop's
 * handle closes. */
void par_input_end(par_t *p);

/* Every worker saves its state: [out] gets, for state i of worker w,
 * out[w * nstates + i] (each a pspf_buf_t to free), and [keys] their keys.
 * Call when nothing is in flight (after the loop). */
void par_save(par_t *p, pspf_buf_t *out, uint64_t *keys);

/* Every worker restores state i from each of the [nsaved] saved
 * sections [saved][k * nstates + i] of [sizes]: when nsaved is the number
 * of workers, worker w loads section w; else every worker loads them all,
 * keeping the keys it owns. Returns 0, or -1 with [why]. */
int par_load(par_t *p, const char *const *saved, const size_t *sizes,
             int nsaved, char *why, size_t whylen);

/* End of input: every worker fires what is open; the output is merged and
 * written. Then the workers stop; their counts go to the run's context.
 * [finish]: false when stopping early (nothing fires). */
void par_stop(par_t *p, bool finish);

/* A worker's bad record: noted with the chunk (the record's own fault
 * when [rec], else one of a window's result), and written out with the
 * chunk's output: once a record, the first pipeline's fault, in order. */
void par_note_bad(pspf_ctx_t *ctx, bool rec);

/* How many workers. */
int par_workers(const par_t *p);

/* The input offset after the chunks written out, and the records framed
 * before it (a checkpoint's source position); left alone before any. */
void par_position(const par_t *p, uint64_t *offset, uint64_t *records);

/* The workers' late records (when they are idle). */
uint64_t par_late(const par_t *p);

/* Waits until the workers have run every chunk pushed, and writes them
 * out: between this and the next par_push() they are idle. */
void par_drain(par_t *p);

/* Restores [prog]'s state (in the calling thread: worker [worker] of
 * [nworkers]) from [nsaved] workers' sections: section k * nstates + i
 * is state i of the k-th. With as many workers as saved, each loads its
 * own; else keyed state is merged by key, watermarks taken from the
 * first, the rest loaded by the first worker alone. Returns 0, or -1
 * with [why]. */
int pspf_load_states(pspf_program_t *prog, const char *const *saved,
                     const size_t *sizes, int nsaved, int nworkers, int worker,
                     char *why, size_t whylen);

#endif /* PSPF_WORKERS_H */
