/*
 * rt.c -- the run time of a built program: command line and params, the
 * libuv loop that reads sources in large blocks, record framing, bad
 * records and the dead-letter file, buffered sinks.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "pspf/rt.h"

#define READ_BLOCK (1u << 18)  /* 256 KiB: bytes asked for per read */
#define SYNC_BLOCKS 64          /* regular file blocks read per loop turn */
#define FLUSH_AT (1u << 18)    /* 256 KiB: sink bytes kept before a write */

static const char *prog_name = "pspf";

/* ---- logging, faults, scratch ------------------------------------------- */

void pspf_log(pspf_ctx_t *ctx, int level, const char *fmt, ...) {
  static const char *const names[] = {"error", "warning", "info", "debug"};
  if (ctx && level > ctx->log_level)
    return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: %s: ", prog_name, names[level & 3]);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* Scratch memory is a list of blocks, newest first: what pspf_scratch()
 * returned stays where it is until the record is done, however much more
 * the record asks for. */
typedef struct block_s {
  struct block_s *next;
  size_t cap;
  max_align_t data[];
} block_t;

char *pspf_scratch(pspf_ctx_t *ctx, size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (n > ctx->block_left) {
    size_t cap = n > 65536 ? n : 65536;
    block_t *b = malloc(sizeof *b + cap);
    if (!b) {
      pspf_log(ctx, 0, "out of memory");
      exit(PSPF_EXIT_FAILURE);
    }
    b->next = ctx->blocks;
    b->cap = cap;
    ctx->blocks = b;
    ctx->block_at = (char *)b->data;
    ctx->block_left = cap;
  }
  char *p = ctx->block_at;
  ctx->block_at += n;
  ctx->block_left -= n;
  return p;
}

/* Keeps the newest block (the largest so far), frees the rest; with
 * [all], frees every block. */
static void scratch_free(pspf_ctx_t *ctx, bool all) {
  block_t *b = ctx->blocks;
  if (!b)
    return;
  for (block_t *x = b->next, *next; x; x = next) {
    next = x->next;
    free(x);
  }
  b->next = NULL;
  ctx->block_at = (char *)b->data;
  ctx->block_left = b->cap;
  if (all) {
    free(b);
    ctx->blocks = NULL;
    ctx->block_at = NULL;
    ctx->block_left = 0;
  }
}

void pspf_scratch_reset(pspf_ctx_t *ctx) { scratch_free(ctx, false); }

void *pspf_state_alloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (!p) {
    pspf_log(NULL, 0, "out of memory for keyed state");
    exit(PSPF_EXIT_FAILURE);
  }
  return p;
}

pspf_str_t pspf_str_keep(pspf_str_t s) {
  char *p = pspf_state_alloc(s.n + 1);
  if (s.n)
    memcpy(p, s.p, s.n);
  return (pspf_str_t){p, s.n};
}

pspf_str_t pspf_str_concat(pspf_ctx_t *ctx, pspf_str_t a, pspf_str_t b) {
  char *p = pspf_scratch(ctx, a.n + b.n);
  if (a.n)
    memcpy(p, a.p, a.n);
  if (b.n)
    memcpy(p + a.n, b.p, b.n);
  return (pspf_str_t){p, a.n + b.n};
}

void pspf_bad_record(pspf_ctx_t *ctx) {
  const char *reason = ctx->fault ? ctx->fault : "bad record";
  ctx->fault = NULL;
  ctx->bad++;
  FILE *f = ctx->dead;
  if (!f) {
    f = fopen(ctx->dead_path, "a");
    if (!f) {
      pspf_log(ctx, 0, "cannot open dead-letter file '%s': %s",
               ctx->dead_path, strerror(errno));
      ctx->exit_status = PSPF_EXIT_FAILURE;
      ctx->stopping = true;
      return;
    }
    ctx->dead = f;
  }
  pspf_buf_t b = {0};
  char num[PSPF_FMT_MAX];
  pspf_buf_add(&b, "{\"source\":", 10);
  pspf_json_write_string(&b, ctx->pos.source, strlen(ctx->pos.source));
  pspf_buf_add(&b, ",\"path\":", 8);
  pspf_json_write_string(&b, ctx->pos.path, strlen(ctx->pos.path));
  pspf_buf_add(&b, ",\"record\":", 10);
  pspf_buf_add(&b, num, pspf_format_i64((int64_t)ctx->pos.line, num));
  pspf_buf_add(&b, ",\"offset\":", 10);
  pspf_buf_add(&b, num, pspf_format_i64((int64_t)ctx->pos.offset, num));
  pspf_buf_add(&b, ",\"reason\":", 10);
  pspf_json_write_string(&b, reason, strlen(reason));
  pspf_buf_add(&b, ",\"input\":", 9);
  pspf_json_write_string(&b, ctx->input.p, ctx->input.n);
  pspf_buf_add(&b, "}\n", 2);
  fwrite(b.p, 1, b.n, f);
  pspf_buf_free(&b);
  if (ctx->max_bad && ctx->bad >= ctx->max_bad && !ctx->stopping) {
    pspf_log(ctx, 0, "stopping after %llu bad records (--max-bad-records); "
             "see %s", (unsigned long long)ctx->bad, ctx->dead_path);
    ctx->exit_status = PSPF_EXIT_TOO_BAD;
    ctx->stopping = true;
  }
}

/* ---- sinks ------------------------------------------------------------- */

bool pspf_file_is_empty(const char *path) {
  struct stat st;
  return stat(path, &st) != 0 || st.st_size == 0;
}

int pspf_sink_open(pspf_ctx_t *ctx, pspf_sink_t *s) {
  if (strcmp(s->path, "-") == 0) {
    s->fd = 1;
    return 0;
  }
  int flags = O_WRONLY | O_CREAT | (s->append ? O_APPEND : O_TRUNC);
  s->fd = open(s->path, flags | O_CLOEXEC, 0644);
  if (s->fd < 0) {
    pspf_log(ctx, 0, "cannot open sink '%s' (%s): %s", s->name, s->path,
             strerror(errno));
    return PSPF_EIO;
  }
  return 0;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int sink_flush(pspf_ctx_t *ctx, pspf_sink_t *s) {
  if (!s->buf.n || s->fd < 0)
    return 0;
  int r = write_all(s->fd, s->buf.p, s->buf.n);
  s->buf.n = 0;
  if (r < 0) {
    pspf_log(ctx, 0, "cannot write sink '%s' (%s): %s", s->name, s->path,
             strerror(-r));
    ctx->exit_status = PSPF_EXIT_FAILURE;
    ctx->stopping = true;
    return PSPF_EIO;
  }
  return 0;
}

void pspf_sink_maybe_flush(pspf_ctx_t *ctx, pspf_sink_t *s) {
  if (s->buf.n >= FLUSH_AT)
    sink_flush(ctx, s);
}

int pspf_sink_close(pspf_ctx_t *ctx, pspf_sink_t *s) {
  int r = sink_flush(ctx, s);
  if (s->fd > 2 && close(s->fd) < 0 && r == 0) {
    pspf_log(ctx, 0, "cannot close sink '%s': %s", s->name, strerror(errno));
    r = PSPF_EIO;
  }
  s->fd = -1;
  pspf_buf_free(&s->buf);
  return r;
}

/* ---- reading sources ------------------------------------------------------ */

/* Reads run on libuv's thread pool (one block at a time per source). A
 * regular file never blocks for long; a pipe, FIFO or terminal may block
 * forever, so its read first waits in poll() for data or for the run's
 * wake pipe, which is written once when the program stops. Before waiting
 * it looks whether data is there at all: when there is none, the sinks
 * are flushed, so that output keeps up with a live input.
 *
 * A `follow: true` file is read with pread() at its own offset; at its
 * end it waits for a change (uv_fs_event, and a FOLLOW_POLL_MS timer for
 * file systems where events do not arrive), then looks at the file: more
 * bytes are read, a shorter file was truncated (read again from 0), and
 * when the path names another file than the one open (rotation: renamed
 * and created anew), the open one is finished and the new one read from
 * its start. */

#define FOLLOW_POLL_MS 200

typedef struct run_s run_t;

typedef struct reader_s {
  uv_work_t work;       /* the read in flight */
  ssize_t got;          /* its result: bytes read, 0 at the end, -errno */
  bool idle;            /* ... or: no data there now (not regular files) */
  bool may_block;       /* the next read waits for data */
  bool reading;         /* a read is in flight */
  uv_file fd;           /* the open file */
  bool regular;         /* a regular file: reads do not block */
  char *buf;            /* block buffer */
  size_t cap;           /* its size */
  size_t len;           /* bytes held (a partial record at the start) */
  uint64_t base;        /* input offset of buf[0] */
  uint64_t recno;       /* records seen */
  bool header_done;     /* csv header consumed */
  pspf_source_t *src;   /* what to read */
  pspf_ctx_t *ctx;      /* the run */
  run_t *run;           /* the run's readers and handles */
  bool done;            /* end reached or stopped */
  int sync_blocks;      /* blocks read in a row on the loop's thread */
  bool in_sync;         /* read_more() is reading them */
  bool sync_again;      /* ... and is asked for one more */
  /* follow: true */
  bool follow;          /* follow this (regular) file */
  bool waiting;         /* at the end of the file, waiting for more */
  bool watching;        /* timer and watch are open */
  uv_timer_t timer;     /* polls the file every FOLLOW_POLL_MS */
  uv_fs_event_t watch;  /* file-system events on the file */
} reader_t;

struct run_s {
  pspf_program_t *prog; /* the program */
  pspf_ctx_t *ctx;      /* its context */
  reader_t *readers;    /* one a source */
  int wake[2];          /* written once on stop: ends reads waiting in poll */
  bool signals;         /* sig[] are initialized */
  bool stopped;         /* stop_sources() has run */
  uv_signal_t sig[2];   /* SIGINT, SIGTERM */
};

static void process(reader_t *r, bool at_eof) {
  pspf_ctx_t *ctx = r->ctx;
  pspf_framing_t f =
      r->src->format == PSPF_FMT_CSV ? PSPF_FRAME_CSV : PSPF_FRAME_LINES;
  size_t off = 0;
  /* A UTF-8 byte order mark at the start of the input is not data. */
  if (r->base == 0 && r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0)
    off = 3;
  while (off < r->len && !ctx->stopping) {
    size_t used;
    int nf = -2; /* not split here */
    long n = f == PSPF_FRAME_CSV
                 ? pspf_csv_frame(r->buf + off, r->len - off, r->src->delim,
                                  at_eof, &used, ctx->csv_f,
                                  PSPF_CSV_MAX_FIELDS, &nf)
                 : pspf_next_record(r->buf + off, r->len - off, f, at_eof,
                                    &used);
    if (n < 0)
      break;
    ctx->csv_nf = nf;
    const char *p = r->buf + off;
    r->recno++;
    ctx->pos.source = r->src->name;
    ctx->pos.path = r->src->path;
    ctx->pos.offset = r->base + off;
    ctx->pos.line = r->recno;
    ctx->input = (pspf_str_t){p, (size_t)n};
    off += used;
    if (r->src->format == PSPF_FMT_CSV && r->src->header && !r->header_done) {
      r->header_done = true;
      if (r->src->on_header(ctx, p, (size_t)n) < 0)
        ctx->stopping = true;
      continue;
    }
    /* A blank line is no record in csv or json (in json, nor is one of
     * only white space). */
    if (n == 0 && r->src->format != PSPF_FMT_LINES)
      continue;
    if (r->src->format == PSPF_FMT_JSON && (*p == ' ' || *p == '\t')) {
      long k = 0;
      while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
        k++;
      if (k == n)
        continue;
    }
    ctx->records_in++;
    r->src->on_record(ctx, p, (size_t)n);
    if (ctx->fault)
      pspf_bad_record(ctx);
    ctx->scratch.n = 0;
    pspf_scratch_reset(ctx);
  }
  memmove(r->buf, r->buf + off, r->len - off);
  r->len -= off;
  r->base += off;
}

/* Writes what every sink holds (the input has gone quiet). */
static void flush_sinks(run_t *run) {
  for (int i = 0; i < run->prog->nsinks; i++)
    sink_flush(run->ctx, &run->prog->sinks[i]);
}

static void close_follow(reader_t *r) {
  if (!r->watching)
    return;
  r->watching = false;
  r->waiting = false;
  uv_close((uv_handle_t *)&r->timer, NULL);
  uv_close((uv_handle_t *)&r->watch, NULL);
}

/* Stops reading every source: follow timers and watches are closed, reads
 * waiting for a pipe are woken, reads in flight end without being
 * processed. The signal handlers are removed, so that a second SIGINT or
 * SIGTERM ends the program at once. */
static void stop_sources(run_t *run) {
  if (run->stopped)
    return;
  run->stopped = true;
  run->ctx->stopping = true;
  if (run->signals)
    for (int i = 0; i < 2; i++)
      uv_signal_stop(&run->sig[i]);
  if (run->wake[1] >= 0) {
    ssize_t w;
    do
      w = write(run->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
  }
  for (int i = 0; i < run->prog->nsources; i++)
    close_follow(&run->readers[i]);
}

static void on_signal(uv_signal_t *h, int signum) {
  run_t *run = h->data;
  if (!run->ctx->stop_signal)
    run->ctx->stop_signal = signum;
  stop_sources(run);
}

/* On the thread pool: one read into the free end of the buffer. */
static void read_work(uv_work_t *w) {
  reader_t *r = w->data;
  r->idle = false;
  if (!r->regular) {
    struct pollfd pf[2] = {{r->fd, POLLIN, 0}, {r->run->wake[0], POLLIN, 0}};
    int k;
    do
      k = poll(pf, 2, r->may_block ? -1 : 0);
    while (k < 0 && errno == EINTR);
    if (k < 0) {
      r->got = -errno;
      return;
    }
    if (pf[1].revents) { /* stopping */
      r->got = 0;
      return;
    }
    if (k == 0) {
      r->idle = true;
      return;
    }
  }
  char *p = r->buf + r->len;
  size_t n = r->cap - r->len;
  ssize_t got;
  do
    got = r->follow ? pread(r->fd, p, n, (off_t)(r->base + r->len))
                    : read(r->fd, p, n);
  while (got < 0 && errno == EINTR);
  r->got = got < 0 ? -errno : got;
}

static void on_read(uv_work_t *w, int status);

static void read_more(reader_t *r) {
  if (r->cap - r->len < READ_BLOCK / 2) {
    /* A record longer than the buffer: grow it. */
    size_t cap = r->cap * 2;
    char *nb = realloc(r->buf, cap + PSPF_READ_PAD);
    if (!nb) {
      pspf_log(r->ctx, 0, "out of memory reading '%s'", r->src->path);
      r->ctx->exit_status = PSPF_EXIT_FAILURE;
      r->done = true;
      stop_sources(r->run);
      return;
    }
    r->buf = nb;
    r->cap = cap;
  }
  r->work.data = r;
  if (r->regular && !r->follow && r->sync_blocks < SYNC_BLOCKS) {
    /* A regular file never blocks: read it right here, which saves a
     * thread hand-off a block; on_read() calls back in, so loop rather
     * than recurse. Every SYNC_BLOCKS blocks the loop gets a turn
     * (signals, other sources) through the thread pool. */
    r->sync_blocks++;
    if (r->in_sync) {
      r->sync_again = true;
      return;
    }
    r->in_sync = true;
    do {
      r->sync_again = false;
      r->reading = true;
      read_work(&r->work);
      on_read(&r->work, 0);
    } while (r->sync_again);
    r->in_sync = false;
    return;
  }
  r->sync_blocks = 0;
  int e = uv_queue_work(uv_default_loop(), &r->work, read_work, on_read);
  if (e < 0) {
    pspf_log(r->ctx, 0, "cannot read '%s': %s", r->src->path, uv_strerror(e));
    r->ctx->exit_status = PSPF_EXIT_FAILURE;
    r->done = true;
    stop_sources(r->run);
    return;
  }
  r->reading = true;
}

/* Reads [r]'s file again from its start (truncated, or a new file). */
static void restart(reader_t *r) {
  r->len = 0;
  r->base = 0;
  r->recno = 0;
  r->header_done = false;
}

static void on_watch(uv_fs_event_t *h, const char *file, int events,
                     int status);

/* A follow source at the end of its file: more data, truncation, or a new
 * file at its path? Else it keeps waiting. */
static void follow_check(reader_t *r) {
  pspf_ctx_t *ctx = r->ctx;
  if (!r->waiting || ctx->stopping)
    return;
  struct stat st, now;
  if (fstat(r->fd, &st) < 0)
    return; /* try again on the next tick */
  uint64_t pos = r->base + r->len, size = (uint64_t)st.st_size;
  if (size < pos) {
    pspf_log(ctx, 1, "source '%s': '%s' shrank from %llu to %llu bytes "
             "(truncated); reading it again from the start", r->src->name,
             r->src->path, (unsigned long long)pos, (unsigned long long)size);
    restart(r);
  } else if (size == pos) {
    /* Drained: has the path been given to another file (rotation)? A
     * missing path is waited for. */
    if (stat(r->src->path, &now) < 0 ||
        (now.st_dev == st.st_dev && now.st_ino == st.st_ino))
      return;
    int fd = open(r->src->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return;
    pspf_log(ctx, 2, "source '%s': '%s' is a new file (rotated); reading it "
             "from the start", r->src->name, r->src->path);
    /* The old file is done: its last line counts even without a newline,
     * as at the end of input. */
    if (r->len)
      process(r, true);
    close(r->fd);
    r->fd = fd;
    restart(r);
    if (ctx->stopping) {
      stop_sources(r->run);
      return;
    }
    uv_fs_event_stop(&r->watch);
    uv_fs_event_start(&r->watch, on_watch, r->src->path, 0);
  }
  r->waiting = false;
  read_more(r);
}

static void on_watch(uv_fs_event_t *h, const char *file, int events,
                     int status) {
  (void)file;
  (void)events;
  (void)status;
  follow_check(h->data);
}

static void on_tick(uv_timer_t *h) { follow_check(h->data); }

/* A follow source read to the end of its file: flush the sinks and wait. */
static void follow_wait(reader_t *r) {
  flush_sinks(r->run);
  if (r->ctx->stopping) {
    stop_sources(r->run);
    return;
  }
  if (!r->watching) {
    uv_loop_t *loop = uv_default_loop();
    uv_timer_init(loop, &r->timer);
    uv_fs_event_init(loop, &r->watch);
    r->timer.data = r->watch.data = r;
    r->watching = true;
    uv_timer_start(&r->timer, on_tick, FOLLOW_POLL_MS, FOLLOW_POLL_MS);
    int e = uv_fs_event_start(&r->watch, on_watch, r->src->path, 0);
    if (e < 0)
      pspf_log(r->ctx, 3, "source '%s': no file events for '%s' (%s); "
               "polling every %d ms", r->src->name, r->src->path,
               uv_strerror(e), FOLLOW_POLL_MS);
  }
  r->waiting = true;
  follow_check(r);
}

static void on_read(uv_work_t *w, int status) {
  reader_t *r = w->data;
  pspf_ctx_t *ctx = r->ctx;
  r->reading = false;
  if (ctx->stopping) { /* stopped meanwhile: what was read is dropped */
    r->done = true;
    stop_sources(r->run);
    return;
  }
  ssize_t n = status < 0 ? status : r->got;
  if (n < 0) {
    pspf_log(ctx, 0, "cannot read '%s': %s", r->src->path,
             uv_strerror((int)n));
    ctx->exit_status = PSPF_EXIT_FAILURE;
    r->done = true;
    stop_sources(r->run);
    return;
  }
  if (r->idle) { /* a quiet pipe: show what was done, then wait for it */
    flush_sinks(r->run);
    if (ctx->stopping) {
      r->done = true;
      stop_sources(r->run);
      return;
    }
    r->may_block = true;
    read_more(r);
    return;
  }
  r->may_block = false;
  r->len += (size_t)n;
  process(r, n == 0 && !r->follow);
  if (!ctx->stopping && n == 0 && r->follow) {
    follow_wait(r);
    return;
  }
  if (n == 0 || ctx->stopping) {
    if (!ctx->stopping && r->len)
      process(r, true);
    r->done = true;
    r->src->ended = true;
    if (ctx->stopping)
      stop_sources(r->run);
    return;
  }
  read_more(r);
}

/* ---- the command line -------------------------------------------------- */

static int set_param(pspf_param_t *p, const char *v) {
  int r = 0;
  size_t n = strlen(v);
  switch (p->type) {
  case 'i':
    r = pspf_parse_i64(v, n, p->storage);
    break;
  case 'f':
    r = pspf_parse_f64(v, n, p->storage);
    break;
  case 'b': {
    int b;
    r = pspf_parse_bool(v, n, &b);
    if (r == 0)
      *(bool *)p->storage = b;
    break;
  }
  case 's':
    *(pspf_str_t *)p->storage = (pspf_str_t){v, n};
    break;
  case 't':
    r = pspf_parse_timestamp(v, n, p->storage);
    break;
  case 'd': {
    /* A duration flag is milliseconds or a number with a unit. */
    static const struct {
      const char *u;
      int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
                 {"d", 86400000}};
    size_t k = 0;
    while (k < n && v[k] >= '0' && v[k] <= '9')
      k++;
    int64_t num, mult = 1;
    bool found = k == n;
    for (size_t u = 0; u < 5 && !found; u++)
      if (strcmp(v + k, units[u].u) == 0)
        mult = units[u].ms, found = true;
    r = found ? pspf_parse_i64(v, k, &num) : PSPF_EBADREC;
    if (r == 0 && __builtin_mul_overflow(num, mult, &num))
      r = PSPF_EOVERFLOW;
    if (r == 0)
      *(int64_t *)p->storage = num;
    break;
  }
  }
  return r;
}

static const char *type_name(char t) {
  switch (t) {
  case 'i':
    return "int";
  case 'f':
    return "float";
  case 'b':
    return "bool";
  case 's':
    return "string";
  case 't':
    return "timestamp";
  case 'd':
    return "duration";
  }
  return "?";
}

static void usage(pspf_program_t *prog, FILE *out) {
  fprintf(out, "usage: %s [options]\n\nBuilt by pspfc from %s.\n\n", prog->name,
          prog->source_file);
  if (prog->nparams)
    fprintf(out, "params (each also read from PSPF_<NAME>):\n");
  for (int i = 0; i < prog->nparams; i++) {
    pspf_param_t *p = &prog->params[i];
    char flag[128];
    snprintf(flag, sizeof flag, "--%s=%s", p->name, type_name(p->type));
    fprintf(out, "  %-28s", flag);
    if (p->deflt)
      fprintf(out, " (default: %s)\n", p->deflt);
    else
      fprintf(out, " (required)\n");
  }
  fprintf(out,
          "\noptions:\n"
          "  --dead-letter=PATH           bad records go here (default "
          "%s.dead.jsonl)\n"
          "  --max-bad-records=N          stop with status 3 after N bad "
          "records\n"
          "  --log-level=LEVEL            error, warn, info or debug\n"
          "  -h, --help                   show this help\n"
          "\nexit status: 0 done, 1 usage, 2 runtime failure, 3 too many bad "
          "records\n",
          prog->name);
}

/* PSPF_<NAME> for a flag or param name. */
static const char *env_for(const char *name) {
  char var[160];
  size_t k = 0;
  k += (size_t)snprintf(var, sizeof var, "PSPF_");
  for (const char *p = name; *p && k + 1 < sizeof var; p++)
    var[k++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
  var[k] = 0;
  return getenv(var);
}

static int parse_log_level(const char *v) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (strcmp(v, names[i]) == 0)
      return i;
  return -1;
}

int pspf_main(pspf_program_t *prog, int argc, char **argv) {
  prog_name = prog->name;
  pspf_ctx_t ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.log_level = 1;
  const char *dead = NULL, *max_bad = NULL, *level = NULL;
  const char **given = calloc((size_t)prog->nparams + 1, sizeof *given);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(prog, stdout);
      free(given);
      return PSPF_EXIT_OK;
    }
    if (strncmp(a, "--", 2) != 0) {
      fprintf(stderr, "%s: error: unexpected argument '%s' (see --help)\n",
              prog->name, a);
      free(given);
      return PSPF_EXIT_USAGE;
    }
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
#define IS(s) (nlen == strlen(s) && strncmp(name, s, nlen) == 0)
    int opt = IS("dead-letter") ? 1 : IS("max-bad-records") ? 2
              : IS("log-level")   ? 3
                                  : 0;
#undef IS
    int found = -1;
    for (int j = 0; !opt && j < prog->nparams; j++) {
      const char *pn = prog->params[j].name;
      bool same = strlen(pn) == nlen;
      for (size_t k = 0; same && k < nlen; k++)
        same = pn[k] == name[k] || (pn[k] == '_' && name[k] == '-');
      if (same)
        found = j;
    }
    if (!opt && found < 0) {
      fprintf(stderr, "%s: error: unknown option '--%.*s' (see --help)\n",
              prog->name, (int)nlen, name);
      free(given);
      return PSPF_EXIT_USAGE;
    }
    const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!val) {
      fprintf(stderr, "%s: error: option '%s' needs a value\n", prog->name, a);
      free(given);
      return PSPF_EXIT_USAGE;
    }
    if (opt == 1)
      dead = val;
    else if (opt == 2)
      max_bad = val;
    else if (opt == 3)
      level = val;
    else
      given[found] = val;
  }
  if (!dead)
    dead = env_for("dead_letter");
  if (!max_bad)
    max_bad = env_for("max_bad_records");
  if (!level)
    level = env_for("log_level");
  char dead_default[512];
  snprintf(dead_default, sizeof dead_default, "%s.dead.jsonl", prog->name);
  ctx.dead_path = dead ? dead : dead_default;
  if (max_bad) {
    int64_t n;
    if (pspf_parse_i64(max_bad, strlen(max_bad), &n) < 0 || n < 0) {
      fprintf(stderr, "%s: error: --max-bad-records needs a count, not '%s'\n",
              prog->name, max_bad);
      free(given);
      return PSPF_EXIT_USAGE;
    }
    ctx.max_bad = (uint64_t)n;
  }
  if (level && (ctx.log_level = parse_log_level(level)) < 0) {
    fprintf(stderr, "%s: error: --log-level is error, warn, info or debug, "
            "not '%s'\n", prog->name, level);
    free(given);
    return PSPF_EXIT_USAGE;
  }
  for (int j = 0; j < prog->nparams; j++) {
    pspf_param_t *p = &prog->params[j];
    const char *v = given[j] ? given[j] : env_for(p->name);
    if (!v)
      v = p->deflt;
    if (!v) {
      fprintf(stderr, "%s: error: --%s is required (a %s)\n", prog->name,
              p->name, type_name(p->type));
      free(given);
      return PSPF_EXIT_USAGE;
    }
    if (set_param(p, v) < 0) {
      fprintf(stderr, "%s: error: --%s: '%s' is not %s %s\n", prog->name,
              p->name, v, p->type == 'i' ? "an" : "a", type_name(p->type));
      free(given);
      return PSPF_EXIT_USAGE;
    }
  }
  free(given);

  int status = prog->start(&ctx);
  if (status)
    return status;
  for (int i = 0; i < prog->nsinks; i++)
    if (pspf_sink_open(&ctx, &prog->sinks[i]) < 0)
      return PSPF_EXIT_FAILURE;

  uv_loop_t *loop = uv_default_loop();
  reader_t *readers = calloc((size_t)prog->nsources + 1, sizeof *readers);
  run_t run = {.prog = prog, .ctx = &ctx, .readers = readers,
               .wake = {-1, -1}};
  if (!readers || pipe(run.wake) < 0) {
    pspf_log(&ctx, 0, "cannot start: %s", strerror(errno));
    free(readers);
    return PSPF_EXIT_FAILURE;
  }
  fcntl(run.wake[0], F_SETFD, FD_CLOEXEC);
  fcntl(run.wake[1], F_SETFD, FD_CLOEXEC);
  /* SIGINT and SIGTERM stop the program cleanly. A SIGINT ignored when we
   * started (a background job of a script) stays ignored. The handlers do
   * not keep the loop alive. */
  static const int signums[2] = {SIGINT, SIGTERM};
  for (int i = 0; i < 2; i++) {
    struct sigaction old;
    uv_signal_init(loop, &run.sig[i]);
    run.sig[i].data = &run;
    if (sigaction(signums[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
      continue;
    uv_signal_start(&run.sig[i], on_signal, signums[i]);
    uv_unref((uv_handle_t *)&run.sig[i]);
  }
  run.signals = true;
  for (int i = 0; i < prog->nsources && !ctx.stopping; i++) {
    reader_t *r = &readers[i];
    r->src = &prog->sources[i];
    r->ctx = &ctx;
    r->run = &run;
    r->cap = READ_BLOCK * 2;
    r->buf = calloc(1, r->cap + PSPF_READ_PAD); /* readable padding */
    if (!r->buf) {
      pspf_log(&ctx, 0, "out of memory reading '%s'", r->src->path);
      ctx.exit_status = PSPF_EXIT_FAILURE;
      stop_sources(&run);
      break;
    }
    if (strcmp(r->src->path, "-") == 0) {
      r->fd = 0;
    } else {
      uv_fs_t open_req;
      r->fd = uv_fs_open(loop, &open_req, r->src->path, O_RDONLY, 0, NULL);
      uv_fs_req_cleanup(&open_req);
      if (r->fd < 0) {
        pspf_log(&ctx, 0, "cannot open source '%s' (%s): %s", r->src->name,
                 r->src->path, uv_strerror(r->fd));
        ctx.exit_status = PSPF_EXIT_FAILURE;
        r->done = true;
        stop_sources(&run);
        continue;
      }
    }
    struct stat st;
    r->regular = fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode);
    r->follow = r->src->follow && r->regular;
    if (r->src->follow && !r->regular)
      pspf_log(&ctx, 1, "source '%s': '%s' is not a regular file; it is read "
               "to its end, not followed", r->src->name, r->src->path);
    read_more(r);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  /* Every read has ended and every follow handle is closed; close the
   * signal handles too, so that the loop closes. */
  for (int i = 0; i < 2; i++)
    uv_close((uv_handle_t *)&run.sig[i], NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  for (int i = 0; i < prog->nsources; i++) {
    if (readers[i].fd > 0) {
      uv_fs_t close_req;
      uv_fs_close(loop, &close_req, readers[i].fd, NULL);
      uv_fs_req_cleanup(&close_req);
    }
    free(readers[i].buf);
  }
  free(readers);
  close(run.wake[0]);
  close(run.wake[1]);
  if (ctx.stop_signal)
    pspf_log(&ctx, 2, "stopped by %s: open windows are not fired",
             ctx.stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
  /* Every source has ended: fire what is open, unless stopping early (an
   * error, or a signal). */
  if (!ctx.exit_status && !ctx.stop_signal)
    prog->finish(&ctx);
  for (int i = 0; i < prog->nsinks; i++)
    if (pspf_sink_close(&ctx, &prog->sinks[i]) < 0 && !ctx.exit_status)
      ctx.exit_status = PSPF_EXIT_FAILURE;
  bool dead_open = ctx.dead != NULL;
  if (ctx.dead)
    fclose(ctx.dead);
  if (ctx.bad && dead_open)
    pspf_log(&ctx, 1, "%llu bad record%s written to %s",
             (unsigned long long)ctx.bad, ctx.bad == 1 ? "" : "s",
             ctx.dead_path);
  if (ctx.late) /* a normal part of event time: only at --log-level=info */
    pspf_log(&ctx, 2, "%llu late record%s (after every window %s fired): "
             "sent to the late: sink where there is one, else dropped",
             (unsigned long long)ctx.late, ctx.late == 1 ? "" : "s",
             ctx.late == 1 ? "it belonged to had" : "they belonged to had");
  pspf_buf_free(&ctx.scratch);
  scratch_free(&ctx, true);
  uv_loop_close(loop);
  return ctx.exit_status;
}
