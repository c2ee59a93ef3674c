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
#include <time.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "ckpt_meta.h"
#include "pspf/rt.h"
#include "workers.h"

#define READ_BLOCK (1u << 18)  /* 256 KiB: bytes asked for per read */
/* PSPF_READ_LIMIT=N (tests): read at most N bytes at a time, so that
 * records straddle reads and, with --workers, chunks are many and small. */
static size_t read_limit;
#define SYNC_BLOCKS 64          /* regular file blocks read per loop turn */
#define FLUSH_AT (1u << 18)    /* 256 KiB: sink bytes kept before a write */

static const char *prog_name = "pspf";

/* ---- logging, faults, scratch ------------------------------------------- */

static bool log_json; /* --log-format=json */
typedef struct run_s run_t;
static run_t *progress_run; /* the run whose progress line is shown */
static void progress_clear(run_t *run);

/* [s] as the inside of a JSON string, appended to [b]. */
static void json_text(pspf_buf_t *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      pspf_buf_add(b, e, 2);
    } else if (c < 0x20) {
      char e[8];
      int n = c == '\n' ? snprintf(e, sizeof e, "\\n")
              : c == '\t' ? snprintf(e, sizeof e, "\\t")
                          : snprintf(e, sizeof e, "\\u%04x", c);
      pspf_buf_add(b, e, (size_t)n);
    } else {
      pspf_buf_add(b, (const char *)&c, 1);
    }
  }
}

/* One line an event, to stderr, written at once: "TIME PROGRAM: LEVEL:
 * MESSAGE", or with --log-format=json {"time", "level", "program",
 * "message"}. */
void pspf_log(pspf_ctx_t *ctx, int level, const char *fmt, ...) {
  static const char *const names[] = {"error", "warning", "info", "debug"};
  if (ctx && level > ctx->log_level)
    return;
  char msg[4096], when[PSPF_FMT_MAX + 1];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  when[pspf_format_timestamp((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
                             when)] = 0;
  pspf_buf_t b = {0};
  if (log_json) {
    char head[256];
    int n = snprintf(head, sizeof head, "{\"time\":\"%s\",\"level\":\"%s\","
                     "\"program\":\"", when, names[level & 3]);
    pspf_buf_add(&b, head, (size_t)n);
    json_text(&b, prog_name);
    pspf_buf_add(&b, "\",\"message\":\"", 13);
    json_text(&b, msg);
    pspf_buf_add(&b, "\"}\n", 3);
  } else {
    char head[256];
    int n = snprintf(head, sizeof head, "%s %s: %s: ", when, prog_name,
                     names[level & 3]);
    pspf_buf_add(&b, head, (size_t)n);
    pspf_buf_add(&b, msg, strlen(msg));
    pspf_buf_add(&b, "\n", 1);
  }
  if (b.p) {
    progress_clear(progress_run);
    fwrite(b.p, 1, b.n, stderr);
    fflush(stderr);
  }
  pspf_buf_free(&b);
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

void rt_scratch_free_all(pspf_ctx_t *ctx) { scratch_free(ctx, true); }

/* Large state (a big table's slots) goes on transparent huge pages where
 * the kernel offers them (madvise mode): a table of a million keys then
 * takes tens of page faults to fill instead of tens of thousands, and its
 * random probes miss the TLB less. */
#define HUGE_FROM ((size_t)4 << 20)

void *pspf_state_alloc(size_t n) {
  /* calloc of a large size maps fresh zero pages (no memset); advised
   * before they are touched, their 2 MiB-aligned parts become huge pages. */
  void *p = calloc(1, n ? n : 1);
#ifdef MADV_HUGEPAGE
  if (p && n >= HUGE_FROM) {
    uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
    madvise((void *)a, n - (a - (uintptr_t)p), MADV_HUGEPAGE);
  }
#endif
  if (!p) {
    pspf_log(NULL, 0, "out of memory for keyed state");
    exit(PSPF_EXIT_FAILURE);
  }
  return p;
}

/* Kept strings of up to STR_SMALL bytes (with their NUL) come from
 * slabs, one size class a 16 bytes; a freed one goes on its class's free
 * list (its first bytes link it). Larger ones are malloc'd. The class of a
 * string is known from its length, so nothing is stored beside it. Each
 * thread (the loop's, each worker) keeps and drops its own strings. */
#define STR_SMALL 256
#define STR_SLAB ((size_t)2 << 20)

static PSPF_TLS struct { /* each worker its own */
  void *free[STR_SMALL / 16 + 1]; /* free lists, by class */
  char *at, *end;                 /* the rest of the newest slab */
  void *slabs;                    /* all of them: each links the one before */
} strs;

void rt_strs_free_all(void) {
  for (void *s = strs.slabs, *next; s; s = next) {
    memcpy(&next, s, sizeof next);
    free(s);
  }
  memset(&strs, 0, sizeof strs);
}

pspf_str_t pspf_str_keep(pspf_str_t s) {
  char *p;
  size_t need = s.n + 1;
  if (need <= STR_SMALL) {
    size_t c = (need + 15) / 16, size = c * 16;
    if (strs.free[c]) {
      p = strs.free[c];
      memcpy(&strs.free[c], p, sizeof(void *));
    } else {
      if ((size_t)(strs.end - strs.at) < size) {
        void *slab;
        if (posix_memalign(&slab, STR_SLAB, STR_SLAB) != 0) {
          pspf_log(NULL, 0, "out of memory for keyed state");
          exit(PSPF_EXIT_FAILURE);
        }
#ifdef MADV_HUGEPAGE
        madvise(slab, STR_SLAB, MADV_HUGEPAGE);
#endif
        memcpy(slab, &strs.slabs, sizeof strs.slabs); /* its first 16 bytes */
        strs.slabs = slab;
        strs.at = (char *)slab + 16;
        strs.end = (char *)slab + STR_SLAB;
      }
      p = strs.at;
      strs.at += size;
    }
  } else {
    p = malloc(need);
    if (!p) {
      pspf_log(NULL, 0, "out of memory for keyed state");
      exit(PSPF_EXIT_FAILURE);
    }
  }
  if (s.n)
    memcpy(p, s.p, s.n);
  p[s.n] = 0;
  return (pspf_str_t){p, s.n};
}

void pspf_str_drop(pspf_str_t s) {
  if (!s.p)
    return;
  size_t need = s.n + 1;
  if (need > STR_SMALL) {
    free((void *)s.p);
    return;
  }
  size_t c = (need + 15) / 16;
  memcpy((void *)s.p, &strs.free[c], sizeof(void *));
  strs.free[c] = (void *)s.p;
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
  if (ctx->nworkers > 1) { /* a worker: written out in order, once */
    par_note_bad(ctx, false);
    return;
  }
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
  if (s->ops)
    return s->ops->open(ctx, s);
  if (strcmp(s->path, "-") == 0) {
    s->fd = 1;
    return 0;
  }
  bool resume = s->resume_at >= 0;
  int flags = O_WRONLY | O_CREAT | (s->append ? O_APPEND : 0) |
              (s->append || resume ? 0 : O_TRUNC);
  s->fd = open(s->path, flags | O_CLOEXEC, 0644);
  struct stat st;
  if (s->fd < 0 || fstat(s->fd, &st) < 0) {
    pspf_log(ctx, 0, "cannot open sink '%s' (%s): %s", s->name, s->path,
             strerror(errno));
    return PSPF_EIO;
  }
  s->length = (uint64_t)st.st_size;
  if (!resume)
    return 0;
  /* Recovery: what was written after the checkpoint goes; the records
   * that made it are read again and make it again. */
  if (s->length < (uint64_t)s->resume_at) {
    pspf_log(ctx, 0, "sink '%s': '%s' holds %llu bytes, fewer than the %lld "
             "its checkpoint committed: it was changed outside the program "
             "(put it back, or start over with --checkpoint-reset)", s->name,
             s->path, (unsigned long long)s->length, (long long)s->resume_at);
    return PSPF_EIO;
  }
  if (ftruncate(s->fd, (off_t)s->resume_at) < 0 ||
      lseek(s->fd, 0, SEEK_END) < 0) {
    pspf_log(ctx, 0, "sink '%s': cannot cut '%s' back to its checkpoint: %s",
             s->name, s->path, strerror(errno));
    return PSPF_EIO;
  }
  if (s->length > (uint64_t)s->resume_at)
    pspf_log(ctx, 2, "sink '%s': dropped the %llu bytes of '%s' written after "
             "the checkpoint", s->name,
             (unsigned long long)(s->length - (uint64_t)s->resume_at), s->path);
  s->length = (uint64_t)s->resume_at;
  s->buf.n = 0; /* its CSV header is in the file already */
  return 0;
}

static int64_t sink_retry_ms = 60000; /* --sink-retry-limit */
static uint64_t sink_retries;         /* waits so far (metrics) */

bool pspf_retry_wait(pspf_retry_t *r) {
  uint64_t now = uv_hrtime();
  if (!r->until) {
    r->until = now + (uint64_t)sink_retry_ms * 1000000u;
    r->next_ms = 100;
    r->tries = 0;
  }
  if (now >= r->until)
    return false;
  unsigned ms = r->next_ms / 2 + (unsigned)(rand() % (int)(r->next_ms / 2 + 1));
  uint64_t left = (r->until - now) / 1000000u;
  if (ms > left)
    ms = (unsigned)left + 1;
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
  if (r->next_ms < 10000)
    r->next_ms *= 2;
  r->tries++;
  sink_retries++;
  return true;
}

/* Errors of a write that may pass (space freed, a quota raised, a
 * network file system back): retried up to the sink retry limit. */
static bool passing(int e) {
  return e == ENOSPC || e == EDQUOT || e == EIO || e == EAGAIN;
}

static int sink_flush(pspf_ctx_t *ctx, pspf_sink_t *s) {
  if (s->ops)
    return s->ops->commit(ctx, s, 0);
  if (!s->buf.n || s->fd < 0)
    return 0;
  const char *p = s->buf.p;
  size_t n = s->buf.n;
  pspf_retry_t retry = {0};
  while (n) {
    ssize_t w = write(s->fd, p, n);
    if (w >= 0) {
      p += w, n -= (size_t)w, s->length += (uint64_t)w;
      continue;
    }
    int e = errno;
    if (e == EINTR)
      continue;
    if (passing(e) && !retry.until)
      pspf_log(ctx, 1, "sink '%s' (%s): %s; the program waits and retries "
               "(for up to %lld ms, --sink-retry-limit)", s->name, s->path,
               strerror(e), (long long)sink_retry_ms);
    if (!passing(e) || !pspf_retry_wait(&retry)) {
      pspf_log(ctx, 0, "cannot write sink '%s' (%s): %s%s; stopping (a "
               "restart goes on from the last checkpoint)", s->name, s->path,
               strerror(e), passing(e) ? ", past the retry limit" : "");
      s->buf.n = 0;
      ctx->exit_status = PSPF_EXIT_FAILURE;
      ctx->stopping = true;
      return PSPF_EIO;
    }
  }
  if (retry.tries)
    pspf_log(ctx, 1, "sink '%s' (%s): written again after %u retr%s", s->name,
             s->path, retry.tries, retry.tries == 1 ? "y" : "ies");
  s->buf.n = 0;
  return 0;
}

int rt_sink_flush(pspf_ctx_t *ctx, pspf_sink_t *s) {
  return sink_flush(ctx, s);
}

void pspf_sink_maybe_flush(pspf_ctx_t *ctx, pspf_sink_t *s) {
  if (ctx->nworkers > 1) { /* a worker: the output is merged, not written */
    seg_t *last = s->segs.n ? (seg_t *)(s->segs.p + s->segs.n) - 1 : NULL;
    seg_t sg = {seg_key(ctx), s->seg_prev};
    if (!last || seg_key_cmp(&last->at, &sg.at) != 0) {
      if (pspf_buf_add(&s->segs, &sg, sizeof sg)) {
        pspf_log(ctx, 0, "out of memory");
        exit(PSPF_EXIT_FAILURE);
      }
    }
    s->seg_prev = s->buf.n;
    return;
  }
  if (s->buf.n >= FLUSH_AT)
    sink_flush(ctx, s);
}

int pspf_sink_close(pspf_ctx_t *ctx, pspf_sink_t *s) {
  if (s->ops) {
    int r = s->ops->close(ctx, s);
    pspf_buf_free(&s->buf);
    pspf_buf_free(&s->key);
    return r;
  }
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
  pspf_buf_t header;    /* ... its text, for checkpoints */
  pspf_source_t *src;   /* what to read */
  pspf_ctx_t *ctx;      /* the run */
  run_t *run;           /* the run's readers and handles */
  bool done;            /* end reached or stopped */
  int sync_blocks;      /* blocks read in a row on the loop's thread */
  bool in_sync;         /* read_more() is reading them */
  size_t no_newline;    /* workers: buf's first bytes hold no newline */
  bool sync_again;      /* ... and is asked for one more */
  /* follow: true */
  bool follow;          /* follow this (regular) file */
  bool waiting;         /* at the end of the file, waiting for more */
  bool watching;        /* timer and watch are open */
  uv_timer_t timer;     /* polls the file every FOLLOW_POLL_MS */
  uv_fs_event_t watch;  /* file-system events on the file */
} reader_t;

/* A checkpoint being made durable: the snapshot was taken on the loop's
 * thread; the syncs, the file and the rename happen on libuv's thread
 * pool while the loop reads on (then output written after the snapshot
 * is synced along with the rest, which is harmless: recovery cuts files
 * back to the snapshot's lengths). One at a time. */
typedef struct ckjob_s {
  uv_work_t work;
  run_t *run;
  uint64_t id;          /* its id */
  uint32_t flags;       /* PSPF_CKPT_FINAL */
  uint32_t nsections;
  int fds[64];          /* the files to fdatasync first (sinks, dead letters) */
  const char *names[64];
  int nfds;
  uint64_t keys;        /* keys in the state */
  uint64_t t0, t1, t2, t3; /* start, output flushed, state saved, durable */
  int rc;               /* 0, or -1 with [why] */
  char why[1024];
} ckjob_t;

/* Where a source goes on from, restored from a checkpoint. */
typedef struct resume_s {
  bool set;             /* restored */
  bool ended;           /* the source had ended */
  uint64_t offset;      /* byte offset of its next record */
  uint64_t records;     /* records seen before it (for positions) */
  char *header;         /* its CSV header's text, or NULL; owned */
  size_t header_len;
} resume_t;

struct run_s {
  pspf_program_t *prog; /* the program */
  pspf_ctx_t *ctx;      /* its context */
  reader_t *readers;    /* one a source */
  int wake[2];          /* written once on stop: ends reads waiting in poll */
  bool signals;         /* sig[] are initialized */
  bool stopped;         /* stop_sources() has run */
  uv_signal_t sig[2];   /* SIGINT, SIGTERM */
  /* checkpoints (--checkpoint-dir) */
  const char *ck_dir;   /* the directory, or NULL: no checkpoints */
  int64_t ck_interval;  /* ms between them */
  uint64_t ck_next;     /* the id of the next one */
  uint64_t ck_mark;     /* input consumed when the last one was taken */
  uint64_t ck_due;      /* uv_hrtime() when the next one is due */
  uint64_t t_restore;   /* uv_hrtime() when restoring began */
  bool restored;        /* resumed from a checkpoint */
  int ck_lock;          /* DIR/.lock, held while the program runs */
  pspf_buf_t ck_body;   /* the body being written, kept for the next */
  bool ck_busy;         /* a checkpoint is being made durable */
  struct ckjob_s ck_job; /* ... this one */
  uint64_t fingerprint; /* of the layout */
  pspf_str_t *layout;   /* one line a source, sink and state */
  const char **where;   /* ... and where each comes from */
  size_t nlayout;
  resume_t *resume;     /* one a source */
  double started;       /* Unix seconds (metrics) */
  uint64_t progress_total; /* bytes of bounded input (0: no progress line) */
  uint64_t progress_t0;    /* uv_hrtime() when reading began */
  uint64_t progress_due;   /* uv_hrtime() of the next refresh */
  bool progress_shown;     /* a line is on the terminal */
  uv_timer_t progress_timer;
  uint64_t ck_count;    /* checkpoints written (metrics) */
  double ck_seconds;    /* the last one: paused + durable */
  uint64_t ck_bytes;    /* ... its size */
  uint64_t ck_keys;     /* ... the keys it held */
  double ck_when;       /* ... when it was durable (Unix seconds) */
  bool ck_timer_on;     /* ck_timer is initialized */
  uv_timer_t ck_timer;  /* takes them every ck_interval */
  par_t *par;           /* --workers N > 1: the workers */
  bool par_paused;      /* the reader waits for them */
  int nworkers;         /* N */
  /* The checkpoint's state, restored once the workers run: section
   * k * nstates + i is state i of the k-th of [nsaved] workers. */
  char **saved;
  size_t *saved_n;
  int nsaved;
};

/* Where the record at hand comes from, for the dead-letter file. */
static inline void set_pos(pspf_ctx_t *ctx, const pspf_source_t *src,
                           const char *p, size_t n, uint64_t offset,
                           uint64_t line) {
  ctx->pos.source = src->name;
  ctx->pos.path = src->path;
  ctx->pos.offset = offset;
  ctx->pos.line = line;
  ctx->input = (pspf_str_t){p, n};
}

/* Runs a record through the pipelines: counted, a bad one to the
 * dead-letter file, its scratch memory freed. */
static inline void run_record(pspf_ctx_t *ctx, pspf_source_t *src,
                              const char *p, size_t n) {
  ctx->records_in++;
  src->records++;
  src->on_record(ctx, p, n);
  if (ctx->fault)
    pspf_bad_record(ctx);
  ctx->scratch.n = 0;
  pspf_scratch_reset(ctx);
}

static void par_process(reader_t *r, bool at_eof);

/* Where the data begins in r->buf: a UTF-8 byte order mark at the start
 * of the input is not data. */
static size_t data_start(const reader_t *r) {
  return r->base == 0 && r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0
             ? 3
             : 0;
}

/* True while a CSV source's header is still to come. */
static bool wants_header(const reader_t *r) {
  return r->src->format == PSPF_FMT_CSV && r->src->header && !r->header_done;
}

/* The CSV header, [n] bytes at [p]: kept for checkpoints and handed to
 * the program (a required column missing stops it). */
static void take_header(reader_t *r, const char *p, size_t n) {
  r->header_done = true;
  r->header.n = 0;
  pspf_buf_add(&r->header, p, n);
  if (r->src->on_header(r->ctx, p, n) < 0)
    r->ctx->stopping = true;
}

static void process(reader_t *r, bool at_eof) {
  pspf_ctx_t *ctx = r->ctx;
  if (r->run->par) {
    par_process(r, at_eof);
    return;
  }
  pspf_framing_t f =
      r->src->format == PSPF_FMT_CSV ? PSPF_FRAME_CSV : PSPF_FRAME_LINES;
  size_t off = data_start(r);
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
    set_pos(ctx, r->src, p, (size_t)n, r->base + off, r->recno);
    off += used;
    if (wants_header(r)) {
      take_header(r, p, (size_t)n);
      continue;
    }
    if (no_record(r->src, p, (size_t)n))
      continue;
    run_record(ctx, r->src, p, (size_t)n);
  }
  memmove(r->buf, r->buf + off, r->len - off);
  r->len -= off;
  r->base += off;
}

/* With workers: the CSV header here, then the bytes up to the last record
 * boundary go to the workers as a chunk. */
static void par_process(reader_t *r, bool at_eof) {
  pspf_ctx_t *ctx = r->ctx;
  size_t off = data_start(r);
  if (wants_header(r)) {
    size_t used;
    int nf = -2;
    long n = pspf_csv_frame(r->buf + off, r->len - off, r->src->delim, at_eof,
                            &used, ctx->csv_f, PSPF_CSV_MAX_FIELDS, &nf);
    if (n < 0)
      return; /* not all of it yet */
    const char *p = r->buf + off;
    r->recno++;
    set_pos(ctx, r->src, p, (size_t)n, r->base + off, r->recno);
    take_header(r, p, (size_t)n);
    off += used;
  }
  size_t seen = r->no_newline > off ? r->no_newline - off : 0;
  size_t cut = ctx->stopping ? 0
                             : par_cut(r->src, r->buf + off, r->len - off,
                                       seen, at_eof);
  if (cut) {
    par_push(r->run->par, &r->buf, &r->cap, off, cut, r->len, r->base + off,
             r->recno);
    off += cut;
  } else {
    memmove(r->buf, r->buf + off, r->len - off);
  }
  r->len -= off;
  r->base += off;
  r->no_newline = cut ? 0 : r->len; /* (a long record: not scanned again) */
}

static void read_more(reader_t *r);
static void stop_sources(run_t *run);

/* The workers wrote chunks out: a paused reader goes on. */
static void par_room(void *arg) {
  run_t *run = arg;
  if (run->ctx->stopping) { /* a stop while the reader waited */
    stop_sources(run);
    return;
  }
  if (run->par_paused && !par_full(run->par) && !run->readers[0].done &&
      !run->ctx->stopping) {
    run->par_paused = false;
    read_more(&run->readers[0]);
  }
}

/* A message's copy, with the padding the readers may read past it. */
static pspf_buf_t message;

void pspf_source_message(pspf_ctx_t *ctx, pspf_source_t *src,
                         const void *payload, size_t n, uint64_t offset,
                         uint64_t line) {
  message.n = 0;
  char *p = pspf_buf_reserve(&message, n + PSPF_READ_PAD);
  if (!p) {
    pspf_log(ctx, 0, "source '%s': out of memory", src->name);
    ctx->exit_status = PSPF_EXIT_FAILURE;
    ctx->stopping = true;
    return;
  }
  if (n)
    memcpy(p, payload, n);
  memset(p + n, 0, PSPF_READ_PAD);
  /* A payload may end in a newline (kcat and mosquitto_pub -l do not add
   * one, others do). */
  while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
    n--;
  ctx->csv_nf = -2;
  set_pos(ctx, src, p, n, offset, line);
  if (!no_record(src, p, n))
    run_record(ctx, src, p, n);
}

const char *pspf_program_name(void) { return prog_name; }

static const char *checkpoint_dir;
bool pspf_checkpointing(void) { return checkpoint_dir != NULL; }
const char *pspf_checkpoint_dir(void) { return checkpoint_dir; }
int64_t pspf_sink_retry_ms(void) { return sink_retry_ms; }

static run_t *the_run; /* one program a process */
static void flush_sinks(run_t *run);

static void checkpoint_if_due(run_t *run);
static void progress_if_due(run_t *run, bool now);

void pspf_batch_done(pspf_ctx_t *ctx) {
  if (the_run && the_run->ctx == ctx) {
    flush_sinks(the_run);
    if (the_run->ck_dir)
      checkpoint_if_due(the_run);
  }
}

/* --mqtt-username and the like (see pspf_connector_option). */
static const char *conn_opts[3];
static const char *const conn_names[3] = {"mqtt_username", "mqtt_password",
                                          "mqtt_cafile"};

static const char *env_for(const char *name);

const char *pspf_connector_option(const char *name) {
  for (int i = 0; i < 3; i++)
    if (strcmp(name, conn_names[i]) == 0)
      return conn_opts[i] ? conn_opts[i] : env_for(name);
  return NULL;
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
  for (int i = 0; i < run->prog->nsources; i++) {
    close_follow(&run->readers[i]);
    pspf_source_t *src = &run->prog->sources[i];
    if (src->ops && src->impl)
      src->ops->stop(run->ctx, src);
  }
  if (run->par)
    par_input_end(run->par);
}

/* SIGINT or SIGTERM while the program finishes: the first is noted, the
 * second has its default action. */
static volatile sig_atomic_t late_signal;
static void on_late_signal(int signum) {
  if (late_signal)
    signal(signum, SIG_DFL), raise(signum);
  late_signal = signum;
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
  if (read_limit && n > read_limit)
    n = read_limit;
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
  if (r->run->ck_dir)
    checkpoint_if_due(r->run);
  if (r->run->progress_total)
    progress_if_due(r->run, false);
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
    else if (r->run->par)
      par_input_end(r->run->par);
    return;
  }
  if (r->run->par && par_full(r->run->par)) {
    r->run->par_paused = true; /* par_room() goes on */
    return;
  }
  read_more(r);
}

/* ---- checkpoints ---------------------------------------------------------- */

/* A checkpoint is taken between records, on the loop's thread: every
 * record before a source's position has gone through every pipeline, and
 * none after it. Output first: the sinks are written out and fsynced, and
 * their lengths become the committed positions; then the positions, the
 * counts and the state go into one file (checkpoint.c). Recovery cuts each
 * file sink back to its committed length and reads each source again from
 * its position, so that the output is that of a run never interrupted. */

static char *str_dup(const char *p, size_t n) {
  char *d = malloc(n + 1);
  if (!d)
    pspf_ck_oom();
  if (n)
    memcpy(d, p, n);
  d[n] = 0;
  return d;
}

/* The layout: one line a source, sink and piece of state, which the
 * fingerprint hashes. The format of a source is in it (its offsets mean
 * nothing in another); a sink's connector and format; each state's kind,
 * key and value types and sizes. Params and paths are not: they may
 * change between runs (paths are checked on their own). */
static void make_layout(run_t *run) {
  pspf_program_t *prog = run->prog;
  size_t n = (size_t)(prog->nsources + prog->nsinks + prog->nstates);
  run->layout = calloc(n + 1, sizeof *run->layout);
  run->where = calloc(n + 1, sizeof *run->where);
  if (!run->layout || !run->where)
    pspf_ck_oom();
  char line[1024];
  size_t k = 0;
  for (int i = 0; i < prog->nsources; i++) {
    pspf_source_t *src = &prog->sources[i];
    static const char *const fmts[] = {"csv", "json", "lines"};
    snprintf(line, sizeof line, "source %s: %s%s", src->name,
             fmts[src->format],
             src->format != PSPF_FMT_CSV ? ""
             : src->header               ? " with header"
                                         : " without header");
    run->where[k] = prog->source_file;
    run->layout[k++] = (pspf_str_t){str_dup(line, strlen(line)), strlen(line)};
  }
  for (int i = 0; i < prog->nsinks; i++) {
    pspf_sink_t *sk = &prog->sinks[i];
    snprintf(line, sizeof line, "sink %s: %s", sk->name,
             sk->kind ? sk->kind : "file");
    run->where[k] = prog->source_file;
    run->layout[k++] = (pspf_str_t){str_dup(line, strlen(line)), strlen(line)};
  }
  for (int i = 0; i < prog->nstates; i++) {
    snprintf(line, sizeof line, "state: %s", prog->states[i].layout);
    run->where[k] = prog->states[i].where;
    run->layout[k++] = (pspf_str_t){str_dup(line, strlen(line)), strlen(line)};
  }
  run->nlayout = k;
  uint64_t h = 0;
  for (size_t i = 0; i < k; i++) {
    h = pspf_fingerprint(h, run->layout[i].p, run->layout[i].n);
    h = pspf_fingerprint(h, "\n", 1);
  }
  run->fingerprint = h;
}

static void free_layout(run_t *run) {
  for (size_t i = 0; i < run->nlayout; i++)
    free((char *)run->layout[i].p);
  free(run->layout);
  free(run->where);
}

/* How much input has been consumed: a checkpoint is skipped when nothing
 * moved since the last one. */
static uint64_t progress(run_t *run) {
  uint64_t p = run->ctx->records_in + run->ctx->bad;
  for (int i = 0; i < run->prog->nsources; i++)
    p += run->readers[i].base + run->readers[i].recno +
         (run->prog->sources[i].ended ? 1 : 0);
  return p;
}

static uint64_t file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* On the thread pool (or the loop's thread, for the last checkpoint). */
static void ck_durable(uv_work_t *w) {
  ckjob_t *j = w->data;
  run_t *run = j->run;
  j->rc = 0;
  for (int i = 0; i < j->nfds; i++)
    if (fdatasync(j->fds[i]) < 0) {
      snprintf(j->why, sizeof j->why, "cannot sync %s: %s", j->names[i],
               strerror(errno));
      j->rc = -1;
      return;
    }
  if (pspf_ckpt_write(run->ck_dir, j->id, run->fingerprint, j->flags,
                      &run->ck_body, j->nsections, j->why,
                      sizeof j->why) < 0) {
    j->rc = -1;
    return;
  }
  /* The two newest are kept. */
  uint64_t *ids;
  long n = pspf_ckpt_list(run->ck_dir, &ids);
  for (long i = 2; i < n; i++) {
    char *path = pspf_ckpt_path(run->ck_dir, ids[i]);
    unlink(path);
    free(path);
  }
  free(ids);
  j->t3 = uv_hrtime();
}

/* Back on the loop's thread. */
static void ck_done(uv_work_t *w, int status) {
  ckjob_t *j = w->data;
  run_t *run = j->run;
  pspf_ctx_t *ctx = run->ctx;
  run->ck_busy = false;
  if (status < 0 || j->rc < 0) {
    pspf_log(ctx, 0, "cannot write checkpoint %llu: %s",
             (unsigned long long)j->id,
             status < 0 ? uv_strerror(status) : j->why);
    ctx->exit_status = PSPF_EXIT_FAILURE;
    stop_sources(run);
    return;
  }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  run->ck_count++;
  run->ck_seconds = (double)(j->t2 - j->t0 + (j->t3 - j->t2)) / 1e9;
  run->ck_bytes = run->ck_body.n + PSPF_CKPT_HEADER;
  run->ck_keys = j->keys;
  run->ck_when = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
  pspf_log(ctx, 3, "checkpoint %llu: %zu bytes, %llu keys; the program "
           "paused %.1f ms (output %.1f, state %.1f), durable %.1f ms later",
           (unsigned long long)j->id, run->ck_body.n + PSPF_CKPT_HEADER,
           (unsigned long long)j->keys, (double)(j->t2 - j->t0) / 1e6,
           (double)(j->t1 - j->t0) / 1e6, (double)(j->t2 - j->t1) / 1e6,
           (double)(j->t3 - j->t2) / 1e6);
}

/* Takes checkpoint run->ck_next: its snapshot now; durable now with
 * [wait], else on the thread pool. Returns 0, or -1 having logged why and
 * set the exit status (the program then stops). */
static int take_checkpoint(run_t *run, uint32_t flags, bool wait) {
  pspf_ctx_t *ctx = run->ctx;
  pspf_program_t *prog = run->prog;
  if (run->ck_busy)
    return 0; /* the one before is still being written: later */
  ckjob_t *j = &run->ck_job;
  memset(j, 0, sizeof *j);
  j->run = run;
  j->id = run->ck_next;
  j->flags = flags;
  j->t0 = uv_hrtime();
  /* With workers: what they hold is run and written out first (the
   * checkpoint falls between two chunks). */
  if (run->par)
    par_drain(run->par);
  /* A sink that commits after the checkpoint (a Kafka transaction) takes
   * no record between the two: the checkpoint is then made durable at
   * once, and the sink commits right after. */
  bool two_phase = false;
  for (int i = 0; i < prog->nsinks; i++)
    two_phase |= prog->sinks[i].ops && prog->sinks[i].ops->done;
  wait |= two_phase;
  /* 1. Output: written out (synced with the checkpoint); these are the
   * committed positions. A SQLite sink commits its rows and the
   * checkpoint's id now, in one transaction. */
  for (int i = 0; i < prog->nsinks; i++) {
    pspf_sink_t *sk = &prog->sinks[i];
    if (sk->ops) {
      if (sk->ops->commit(ctx, sk, j->id) < 0)
        return -1;
      continue;
    }
    if (sink_flush(ctx, sk) < 0)
      return -1;
    if (sk->fd > 2 && j->nfds < 64) {
      j->names[j->nfds] = sk->path;
      j->fds[j->nfds++] = sk->fd;
    }
  }
  uint64_t dead_len;
  if (ctx->dead) {
    FILE *f = ctx->dead;
    struct stat st;
    if (fflush(f) != 0 || fstat(fileno(f), &st) < 0) {
      pspf_log(ctx, 0, "cannot write the dead-letter file '%s' for a "
               "checkpoint: %s", ctx->dead_path, strerror(errno));
      ctx->exit_status = PSPF_EXIT_FAILURE;
      return -1;
    }
    dead_len = (uint64_t)st.st_size;
    if (j->nfds < 64) {
      j->names[j->nfds] = ctx->dead_path;
      j->fds[j->nfds++] = fileno(f);
    }
  } else {
    dead_len = file_size(ctx->dead_path);
  }
  j->t1 = uv_hrtime();
  /* 2. The body, in a buffer kept from one checkpoint to the next (its
   * pages are there already). */
  pspf_buf_t body = run->ck_body;
  body.n = 0;
  uint32_t ns = 0;
  size_t at = pspf_ckpt_section_begin(&body, PSPF_CKPT_META, 0);
  pspf_ck_cstr(&body, prog->name);
  pspf_ck_u64(&body, run->nlayout);
  for (size_t i = 0; i < run->nlayout; i++) {
    pspf_ck_str(&body, run->layout[i]);
    pspf_ck_cstr(&body, run->where[i]);
  }
  pspf_ck_u64(&body, ctx->records_in);
  pspf_ck_u64(&body, ctx->bad);
  pspf_ck_u64(&body, ctx->late + (run->par ? par_late(run->par) : 0));
  pspf_ck_cstr(&body, ctx->dead_path);
  pspf_ck_u64(&body, dead_len);
  pspf_ckpt_section_end(&body, at, 0);
  ns++;
  for (int i = 0; i < prog->nsources; i++) {
    reader_t *r = &run->readers[i];
    at = pspf_ckpt_section_begin(&body, PSPF_CKPT_SOURCE, (uint32_t)i);
    pspf_ck_cstr(&body, prog->sources[i].name);
    pspf_ck_cstr(&body, prog->sources[i].path);
    pspf_ck_bool(&body, prog->sources[i].ended);
    uint64_t base = r->base, recno = r->recno;
    if (run->par) /* where the chunks written out end */
      par_position(run->par, &base, &recno);
    pspf_ck_u64(&body, recno);
    pspf_ck_str(&body, (pspf_str_t){r->header.p, r->header.n});
    pspf_source_t *src = &prog->sources[i];
    if (src->ops && src->ops->positions) { /* Kafka: a pair a partition */
      int64_t pos[128];
      int np = src->ops->positions(src, pos, 64);
      pspf_ck_u64(&body, (uint64_t)np);
      for (int k = 0; k < 2 * np; k++)
        pspf_ck_i64(&body, pos[k]);
    } else {
      pspf_ck_u64(&body, 1);
      pspf_ck_i64(&body, -1); /* a file: no partition */
      pspf_ck_i64(&body, (int64_t)base);
    }
    pspf_ckpt_section_end(&body, at, 0);
    ns++;
  }
  for (int i = 0; i < prog->nsinks; i++) {
    pspf_sink_t *sk = &prog->sinks[i];
    at = pspf_ckpt_section_begin(&body, PSPF_CKPT_SINK, (uint32_t)i);
    pspf_ck_cstr(&body, sk->name);
    pspf_ck_cstr(&body, sk->kind ? sk->kind : "file");
    pspf_ck_cstr(&body, sk->path);
    pspf_ck_u64(&body, sk->length);
    pspf_ck_u64(&body, sk->records);
    pspf_ckpt_section_end(&body, at, 0);
    ns++;
  }
  if (run->par) { /* each worker's state: sections w * nstates + i */
    int nw = par_workers(run->par);
    size_t n = (size_t)nw * (size_t)prog->nstates;
    pspf_buf_t *saved = calloc(n + 1, sizeof *saved);
    uint64_t *keys = calloc(n + 1, sizeof *keys);
    if (!saved || !keys)
      pspf_ck_oom();
    par_save(run->par, saved, keys);
    for (size_t i = 0; i < n; i++) {
      at = pspf_ckpt_section_begin(&body, PSPF_CKPT_STATE, (uint32_t)i);
      pspf_buf_add(&body, saved[i].p, saved[i].n);
      pspf_ckpt_section_end(&body, at, keys[i]);
      j->keys += keys[i];
      ns++;
      pspf_buf_free(&saved[i]);
    }
    free(saved);
    free(keys);
  } else {
    for (int i = 0; i < prog->nstates; i++) {
      at = pspf_ckpt_section_begin(&body, PSPF_CKPT_STATE, (uint32_t)i);
      uint64_t k = prog->states[i].save(&body);
      pspf_ckpt_section_end(&body, at, k);
      j->keys += k;
      ns++;
    }
  }
  run->ck_body = body;
  j->nsections = ns;
  j->t2 = uv_hrtime();
  run->ck_next++;
  run->ck_mark = progress(run);
  /* 3. Durable: the output synced, then the file written, synced and
   * renamed into place. */
  j->work.data = j;
  run->ck_busy = true;
  if (!wait) {
    int e = uv_queue_work(uv_default_loop(), &j->work, ck_durable, ck_done);
    if (e == 0)
      return 0;
  }
  ck_durable(&j->work);
  ck_done(&j->work, 0);
  if (j->rc < 0)
    return -1;
  /* 4. The output that commits after its checkpoint. */
  for (int i = 0; i < prog->nsinks && two_phase; i++) {
    pspf_sink_t *sk = &prog->sinks[i];
    if (sk->ops && sk->ops->done && sk->ops->done(ctx, sk, j->id) < 0)
      return -1;
  }
  return 0;
}

/* Takes a checkpoint if one is due and the input has moved since the
 * last. Called between blocks of input (a fast reader may not give the
 * loop a turn for a while) and by a timer (a quiet one). */
static void checkpoint_if_due(run_t *run) {
  if (run->ctx->stopping)
    return;
  uint64_t now = uv_hrtime();
  if (now < run->ck_due)
    return;
  if (progress(run) != run->ck_mark && take_checkpoint(run, 0, false) < 0)
    stop_sources(run);
  run->ck_due = uv_hrtime() + (uint64_t)run->ck_interval * 1000000u;
}

static void on_ck_timer(uv_timer_t *h) { checkpoint_if_due(h->data); }

/* What differs between the checkpoint's layout and the program's, as a
 * diff: the longest common subsequence stays, the rest is "-" (the
 * checkpoint's) or "+" (the program's now). */
static void report_change(run_t *run, const ck_meta_t *m) {
  size_t a = m->nlayout, b = run->nlayout;
  unsigned *l = calloc((a + 1) * (b + 1), sizeof *l);
  if (!l)
    pspf_ck_oom();
#define L(i, j) l[(i) * (b + 1) + (j)]
  for (size_t i = a; i-- > 0;)
    for (size_t j = b; j-- > 0;)
      L(i, j) = pspf_str_eq(m->layout[i], run->layout[j]) ? L(i + 1, j + 1) + 1
                : L(i + 1, j) >= L(i, j + 1)              ? L(i + 1, j)
                                                          : L(i, j + 1);
  size_t i = 0, j = 0;
  while (i < a || j < b) {
    if (i < a && j < b && pspf_str_eq(m->layout[i], run->layout[j])) {
      i++, j++;
    } else if (j == b || (i < a && L(i + 1, j) >= L(i, j + 1))) {
      fprintf(stderr, "  - %.*s    (%.*s)\n", (int)m->layout[i].n,
              m->layout[i].p, (int)m->where[i].n, m->where[i].p);
      i++;
    } else {
      fprintf(stderr, "  + %.*s    (%s)\n", (int)run->layout[j].n,
              run->layout[j].p, run->where[j]);
      j++;
    }
  }
#undef L
  free(l);
}

static bool str_is(pspf_str_t s, const char *c) {
  return s.n == strlen(c) && memcmp(s.p, c, s.n) == 0;
}

/* Restores checkpoint [f] (good, same fingerprint). Returns 0 or an exit
 * status. */
static int apply_checkpoint(run_t *run, pspf_ckpt_file_t *f, ck_meta_t *m) {
  pspf_ctx_t *ctx = run->ctx;
  pspf_program_t *prog = run->prog;
  int seen_src = 0, seen_sink = 0, seen_state = 0;
  for (uint32_t i = 0; i < f->nsections; i++) {
    pspf_ckpt_section_t *s = &f->sections[i];
    if (s->kind == PSPF_CKPT_SOURCE && s->index < (uint32_t)prog->nsources) {
      ck_source_t cs;
      const char *err = ck_source_read(s, &cs);
      pspf_source_t *src = &prog->sources[s->index];
      if (err || (!src->ops && cs.npos != 1)) {
        pspf_log(ctx, 0, "checkpoint %llu: the position of source '%s' does "
                 "not read back (%s)", (unsigned long long)f->id, src->name,
                 err ? err : "not one position");
        return PSPF_EXIT_FAILURE;
      }
      if (!str_is(cs.path, src->path)) {
        pspf_log(ctx, 0, "source '%s' reads '%s', but checkpoint %llu was "
                 "taken reading '%.*s': run it on the same input, or start "
                 "over with --checkpoint-reset", src->name, src->path,
                 (unsigned long long)f->id, (int)cs.path.n, cs.path.p);
        return PSPF_EXIT_FAILURE;
      }
      if (src->ops) { /* it goes on from its own positions */
        src->nresume = 0;
        for (size_t k = 0; k < cs.npos && k < 64; k++) {
          src->resume_pos[2 * k] = cs.partition[k];
          src->resume_pos[2 * k + 1] = cs.offset[k];
          src->nresume++;
        }
        seen_src++;
        continue;
      }
      resume_t *rs = &run->resume[s->index];
      rs->set = true;
      rs->ended = cs.ended;
      rs->offset = (uint64_t)cs.offset[0];
      rs->records = cs.records;
      if (cs.header.n) {
        rs->header = str_dup(cs.header.p, cs.header.n);
        rs->header_len = cs.header.n;
      }
      seen_src++;
    } else if (s->kind == PSPF_CKPT_SINK && s->index < (uint32_t)prog->nsinks) {
      ck_sink_t cs;
      const char *err = ck_sink_read(s, &cs);
      pspf_sink_t *sk = &prog->sinks[s->index];
      if (err) {
        pspf_log(ctx, 0, "checkpoint %llu: the position of sink '%s' does not "
                 "read back (%s)", (unsigned long long)f->id, sk->name, err);
        return PSPF_EXIT_FAILURE;
      }
      if (strcmp(sk->path, "-") != 0) {
        if (!str_is(cs.path, sk->path)) {
          pspf_log(ctx, 0, "sink '%s' writes '%s', but checkpoint %llu was "
                   "taken writing '%.*s': run it with the same output, or "
                   "start over with --checkpoint-reset", sk->name, sk->path,
                   (unsigned long long)f->id, (int)cs.path.n, cs.path.p);
          return PSPF_EXIT_FAILURE;
        }
        sk->resume_at = (int64_t)cs.position;
      }
      sk->records = cs.records;
      seen_sink++;
    } else if (s->kind == PSPF_CKPT_STATE) {
      seen_state++; /* (state i of worker k at k * nstates + i) */
    }
  }
  /* The state: one set a worker that took the checkpoint (the sections,
   * in the file read). */
  int nsaved = prog->nstates ? seen_state / prog->nstates : 1;
  const char **state = NULL;
  size_t *state_n = NULL;
  if (prog->nstates && seen_state % prog->nstates == 0 && nsaved <= 64) {
    state = calloc((size_t)seen_state + 1, sizeof *state);
    state_n = calloc((size_t)seen_state + 1, sizeof *state_n);
    if (!state || !state_n)
      pspf_ck_oom();
    for (uint32_t i = 0; i < f->nsections; i++) {
      pspf_ckpt_section_t *s = &f->sections[i];
      if (s->kind != PSPF_CKPT_STATE || s->index >= (uint32_t)seen_state ||
          state[s->index])
        continue;
      state[s->index] = s->payload;
      state_n[s->index] = s->size;
    }
    for (int i = 0; i < seen_state; i++)
      if (!state[i])
        nsaved = 0;
  }
  if (nsaved > 1 && run->nworkers <= 1 && prog->nstates)
    pspf_log(ctx, 2, "checkpoint %llu was taken by %d workers: their state "
             "goes to one", (unsigned long long)f->id, nsaved);
  if (seen_src != prog->nsources || seen_sink != prog->nsinks ||
      (prog->nstates && (seen_state % prog->nstates || !nsaved))) {
    pspf_log(ctx, 0, "checkpoint %llu lacks sections (%d of %d sources, %d of "
             "%d sinks, %d states for %d a worker)", (unsigned long long)f->id,
             seen_src, prog->nsources, seen_sink, prog->nsinks, seen_state,
             prog->nstates);
    free(state);
    free(state_n);
    return PSPF_EXIT_FAILURE;
  }
  /* Without workers the state is restored now, from the file; with them,
   * once they run (par_load() in pspf_main()), from a copy. */
  int rc = 0;
  char why[512];
  if (prog->nstates && run->nworkers <= 1) {
    rc = pspf_load_states(prog, state, state_n, nsaved, 1, 0, why,
                          sizeof why);
  } else if (prog->nstates) {
    run->saved = calloc((size_t)seen_state + 1, sizeof *run->saved);
    run->saved_n = state_n;
    if (!run->saved)
      pspf_ck_oom();
    run->nsaved = nsaved;
    for (int i = 0; i < seen_state; i++) {
      run->saved[i] = malloc(state_n[i] + 1);
      if (!run->saved[i])
        pspf_ck_oom();
      memcpy(run->saved[i], state[i], state_n[i]);
    }
    state_n = NULL;
  }
  free(state);
  free(state_n);
  if (rc < 0) {
    pspf_log(ctx, 0, "checkpoint %llu: %s", (unsigned long long)f->id, why);
    return PSPF_EXIT_FAILURE;
  }
  ctx->records_in = m->records_in;
  ctx->bad = m->bad;
  ctx->late = m->late;
  /* The dead-letter file goes back to its length then, like a sink. */
  if (str_is(m->dead_path, ctx->dead_path) &&
      file_size(ctx->dead_path) > m->dead_len &&
      truncate(ctx->dead_path, (off_t)m->dead_len) < 0) {
    pspf_log(ctx, 0, "cannot cut the dead-letter file '%s' back to its "
             "checkpoint: %s", ctx->dead_path, strerror(errno));
    return PSPF_EXIT_FAILURE;
  }
  char when[PSPF_FMT_MAX + 1];
  when[pspf_format_timestamp(f->written, when)] = 0;
  run->restored = true;
  uint64_t keys = 0;
  for (uint32_t i = 0; i < f->nsections; i++)
    if (f->sections[i].kind == PSPF_CKPT_STATE)
      keys += f->sections[i].items;
  pspf_log(ctx, 2, "resuming from checkpoint %llu of %s (taken %s%s): %llu "
           "keys restored in %.1f ms", (unsigned long long)f->id, run->ck_dir,
           when, f->flags & PSPF_CKPT_FINAL ? " at the end of the input" : "",
           (unsigned long long)keys, (double)(uv_hrtime() - run->t_restore) /
                                         1e6);
  return 0;
}

/* The sink of checkpoint [f] whose output of the interval that the
 * checkpoint closes is not known to be committed (a Kafka transaction
 * committed after the checkpoint file was written: the program may have
 * stopped in between), or NULL. [known] caches each sink's answer
 * (UINT64_MAX: not asked yet). */
static pspf_sink_t *uncommitted_sink(run_t *run, pspf_ckpt_file_t *f,
                                     uint64_t *known) {
  pspf_program_t *prog = run->prog;
  for (uint32_t i = 0; i < f->nsections; i++) {
    pspf_ckpt_section_t *s = &f->sections[i];
    ck_sink_t cs;
    if (s->kind != PSPF_CKPT_SINK || s->index >= (uint32_t)prog->nsinks ||
        ck_sink_read(s, &cs) || cs.records == cs.position)
      continue; /* (a section that does not read back is reported later) */
    pspf_sink_t *sk = &prog->sinks[s->index];
    if (!sk->ops || !sk->ops->committed)
      continue;
    if (known[s->index] == UINT64_MAX)
      known[s->index] = sk->ops->committed(run->ctx, sk);
    if (known[s->index] < f->id)
      return sk;
  }
  return NULL;
}

/* Before the sinks open: restores the newest good checkpoint of
 * run->ck_dir, if there is one. Returns 0 (restored, or nothing to
 * restore) or an exit status. */
static int restore(run_t *run, bool reset) {
  pspf_ctx_t *ctx = run->ctx;
  const char *dir = run->ck_dir;
  run->t_restore = uv_hrtime();
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
    pspf_log(ctx, 0, "cannot make the checkpoint directory '%s': %s", dir,
             strerror(errno));
    return PSPF_EXIT_FAILURE;
  }
  /* One program at a time: two writing the same checkpoints (and
   * cutting back the same outputs) would ruin both. The lock goes with
   * the process, however it ends. */
  char lock[4096];
  snprintf(lock, sizeof lock, "%s/.lock", dir);
  run->ck_lock = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (run->ck_lock < 0 || flock(run->ck_lock, LOCK_EX | LOCK_NB) < 0) {
    pspf_log(ctx, 0, "checkpoint directory '%s' is in use by another "
             "process (%s is locked)%s%s", dir, lock,
             run->ck_lock < 0 ? ": " : "",
             run->ck_lock < 0 ? strerror(errno) : "");
    return PSPF_EXIT_FAILURE;
  }
  /* A checkpoint being written when the program died is no checkpoint. */
  DIR *d = opendir(dir);
  if (!d) {
    pspf_log(ctx, 0, "cannot read the checkpoint directory '%s': %s", dir,
             strerror(errno));
    return PSPF_EXIT_FAILURE;
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t n = strlen(de->d_name);
    if (strncmp(de->d_name, ".checkpoint-", 12) == 0 && n > 4 &&
        strcmp(de->d_name + n - 4, ".tmp") == 0) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
      unlink(path);
    }
  }
  closedir(d);
  uint64_t *ids;
  long n = pspf_ckpt_list(dir, &ids);
  run->ck_next = n > 0 ? ids[0] + 1 : 1;
  if (n > 0 && reset) {
    for (long i = 0; i < n; i++) {
      char *path = pspf_ckpt_path(dir, ids[i]);
      unlink(path);
      free(path);
    }
    pspf_log(ctx, 1, "--checkpoint-reset: removed %ld checkpoint%s of %s; "
             "starting from the beginning", n, n == 1 ? "" : "s", dir);
    /* Starting over starts the dead-letter file anew too, as the sinks
     * (else the bad records of the run reset would stay in it). */
    if (truncate(ctx->dead_path, 0) < 0 && errno != ENOENT) {
      pspf_log(ctx, 0, "cannot start the dead-letter file '%s' anew: %s",
               ctx->dead_path, strerror(errno));
      free(ids);
      return PSPF_EXIT_FAILURE;
    }
    free(ids);
    return 0;
  }
  int status = -1;
  long damaged = 0, passed = 0;
  uint64_t *known = malloc(((size_t)run->prog->nsinks + 1) * sizeof *known);
  if (!known)
    pspf_ck_oom();
  for (int i = 0; i < run->prog->nsinks; i++)
    known[i] = UINT64_MAX;
  for (long i = 0; i < n && status < 0; i++) {
    char *path = pspf_ckpt_path(dir, ids[i]);
    pspf_ckpt_file_t f;
    char why[512];
    ck_meta_t m = {0};
    pspf_sink_t *late;
    const char *merr = "no META section";
    if (pspf_ckpt_read(path, &f, why, sizeof why) == 0) {
      for (uint32_t k = 0; k < f.nsections; k++)
        if (f.sections[k].kind == PSPF_CKPT_META) {
          merr = ck_meta_read(&f.sections[k], &m);
          break;
        }
      if (merr) {
        snprintf(why, sizeof why, "its META section does not read back (%s)",
                 merr);
        ck_meta_free(&m);
        pspf_ckpt_file_free(&f);
      }
    } else {
      merr = "unreadable";
    }
    if (merr) {
      damaged++;
      pspf_log(ctx, 1, "checkpoint %s is damaged: %s; %s", path, why,
               i + 1 < n ? "using the one before it"
                         : "there is none before it");
      free(path);
      continue;
    }
    if (f.fingerprint != run->fingerprint) {
      pspf_log(ctx, 0, "the program has changed since checkpoint %s was "
               "taken (fingerprint %016llx, now %016llx), so it cannot resume "
               "from it. What changed:", path,
               (unsigned long long)f.fingerprint,
               (unsigned long long)run->fingerprint);
      report_change(run, &m);
      pspf_log(ctx, 0, "to start over, run with --checkpoint-reset (the "
               "checkpoints are dropped and the output files written anew)");
      status = PSPF_EXIT_FAILURE;
    } else if ((late = uncommitted_sink(run, &f, known))) {
      /* The program stopped after writing this checkpoint but before
       * its sink committed: its state is ahead of the output, so it goes
       * (its interval is produced again from the one before). */
      pspf_log(ctx, 1, "checkpoint %s: the output of sink '%s' up to it "
               "was never committed (the program stopped in between); %s",
               path, late->name, i + 1 < n ? "using the one before it"
                                           : "there is none before it");
      ids[passed++] = ids[i]; /* (i >= passed: overwrites nothing unread) */
    } else {
      status = apply_checkpoint(run, &f, &m);
      if (status == 0 && passed) { /* the ones passed over are no more */
        for (long k = 0; k < passed; k++) {
          char *old = pspf_ckpt_path(dir, ids[k]);
          unlink(old);
          free(old);
        }
        run->ck_next = f.id + 1;
      }
    }
    ck_meta_free(&m);
    pspf_ckpt_file_free(&f);
    free(path);
  }
  free(ids);
  free(known);
  if (status < 0 && passed) {
    pspf_log(ctx, 0, "no checkpoint in %s goes with committed output, so the "
             "program cannot resume; to start over, run with "
             "--checkpoint-reset", dir);
    return PSPF_EXIT_FAILURE;
  }
  if (status < 0 && damaged) {
    pspf_log(ctx, 0, "no good checkpoint in %s (%ld damaged), so the program "
             "cannot resume; to start over, run with --checkpoint-reset", dir,
             damaged);
    return PSPF_EXIT_FAILURE;
  }
  return status < 0 ? 0 : status;
}

/* A resumed source goes on from its checkpointed offset. Returns false
 * (having logged why) if it cannot. */
static bool seek_source(reader_t *r, const struct stat *st) {
  pspf_ctx_t *ctx = r->ctx;
  if (!r->regular) {
    pspf_log(ctx, 1, "source '%s' reads a pipe, which cannot go back to byte "
             "%llu where its checkpoint was taken: it reads on from what "
             "comes now", r->src->name, (unsigned long long)r->base);
    return true;
  }
  if ((uint64_t)st->st_size < r->base) {
    pspf_log(ctx, 0, "source '%s': '%s' holds %llu bytes, but its checkpoint "
             "was taken at byte %llu: the input changed (put it back, or "
             "start over with --checkpoint-reset)", r->src->name, r->src->path,
             (unsigned long long)st->st_size, (unsigned long long)r->base);
    ctx->exit_status = PSPF_EXIT_FAILURE;
    return false;
  }
  if (!r->src->follow && lseek(r->fd, (off_t)r->base, SEEK_SET) < 0) {
    pspf_log(ctx, 0, "source '%s': cannot seek in '%s': %s", r->src->name,
             r->src->path, strerror(errno));
    ctx->exit_status = PSPF_EXIT_FAILURE;
    return false;
  }
  return true;
}

static void free_saved(run_t *run) {
  for (int i = 0; run->saved && i < run->nsaved * run->prog->nstates; i++)
    free(run->saved[i]);
  free(run->saved);
  free(run->saved_n);
  run->saved = NULL;
  run->saved_n = NULL;
  run->nsaved = 0;
}

static void free_run(run_t *run) {
  free_saved(run);
  if (run->resume)
    for (int i = 0; i < run->prog->nsources; i++)
      free(run->resume[i].header);
  free(run->resume);
  if (run->layout)
    free_layout(run);
  free(run->readers);
  if (run->ck_lock > 0)
    close(run->ck_lock);
  pspf_buf_free(&run->ck_body);
  run->ck_lock = -1;
  if (run->wake[0] >= 0) {
    close(run->wake[0]);
    close(run->wake[1]);
  }
  run->resume = NULL;
  run->layout = NULL;
  run->readers = NULL;
  run->wake[0] = run->wake[1] = -1;
}

/* ---- the command line -------------------------------------------------- */

/* A duration flag: milliseconds, or a number with a unit (ms s m h d). */
static int parse_duration(const char *v, int64_t *out) {
  static const struct {
    const char *u;
    int64_t ms;
  } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
               {"d", 86400000}};
  size_t n = strlen(v), k = 0;
  while (k < n && v[k] >= '0' && v[k] <= '9')
    k++;
  int64_t num, mult = 1;
  bool found = k == n;
  for (size_t u = 0; u < 5 && !found; u++)
    if (strcmp(v + k, units[u].u) == 0)
      mult = units[u].ms, found = true;
  int r = found ? pspf_parse_i64(v, k, &num) : PSPF_EBADREC;
  if (r == 0 && __builtin_mul_overflow(num, mult, &num))
    r = PSPF_EOVERFLOW;
  if (r == 0)
    *out = num;
  return r;
}

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
  case 'd':
    r = parse_duration(v, p->storage);
    break;
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
          "  --checkpoint-dir=DIR         take checkpoints in DIR, and resume "
          "from the\n"
          "                               newest good one there\n"
          "  --checkpoint-interval=D      time between checkpoints (default "
          "10s)\n"
          "  --checkpoint-reset           drop the checkpoints of DIR and "
          "start over\n"
          "  --dead-letter=PATH           bad records go here (default "
          "%s.dead.jsonl)\n"
          "  --mqtt-username=NAME, --mqtt-password=SECRET, --mqtt-cafile=PATH\n"
          "                               MQTT log-in and TLS (mqtts:// URLs)\n"
          "  --sink-retry-limit=D         how long a failing sink is retried "
          "(default 60s)\n"
          "  --max-bad-records=N          stop with status 3 after N bad "
          "records\n"
          "  --log-level=LEVEL            error, warn, info or debug\n"
          "  --log-format=FORMAT          text (default) or json: one line an "
          "event\n"
          "  --version                    the program, what built it, and its "
          "fingerprint\n"
          "  --print-source               the .pspf source it was built from\n"
          "  --metrics-addr=HOST:PORT     serve /metrics (Prometheus) and "
          "/healthz\n"
          "  --quiet                      no progress line on a terminal\n"
          "  --workers N                  run on N threads, each with its own part\n"
          "                               of the keys (default 1)\n"
          "%s"
          "  -h, --help                   show this help\n"
          "\nexit status: 0 done, 1 usage, 2 runtime failure, 3 too many bad "
          "records\n",
          prog->name,
          prog->scale_out
              ? "  --scale-out                  share the kafka source's "
                "partitions with the other\n"
                "                               instances of its group (state "
                "moves through\n"
                "                               --checkpoint-dir, shared by all)\n"
                "  --session-timeout=D          how long the group waits for a "
                "silent instance\n"
                "                               before its partitions move "
                "(default 10s)\n"
                "  --state-store=dir|kafka      scaled out: state in "
                "--checkpoint-dir (default),\n"
                "                               or in the compacted topic "
                "GROUP-changelog\n"
              : "");
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

/* /metrics: what the runtime counts. */
static void collect_metrics(void *arg, pspf_buf_t *b) {
  run_t *run = arg;
  pspf_program_t *prog = run->prog;
  pspf_ctx_t *ctx = run->ctx;
  pspf_metric_head(b, "pspf_source_records_total", "counter",
                   "Records read, by source (bad ones included).");
  for (int i = 0; i < prog->nsources; i++)
    pspf_metric(b, "pspf_source_records_total", "source",
                prog->sources[i].name, (double)prog->sources[i].records);
  bool queues = false;
  for (int i = 0; i < prog->nsources; i++)
    queues |= prog->sources[i].ops && prog->sources[i].ops->queued;
  if (queues) {
    pspf_metric_head(b, "pspf_source_queued_messages", "gauge",
                     "Messages fetched ahead and not yet run (a Kafka "
                     "consumer's queue: the backpressure signal).");
    for (int i = 0; i < prog->nsources; i++)
      if (prog->sources[i].ops && prog->sources[i].ops->queued)
        pspf_metric(b, "pspf_source_queued_messages", "source",
                    prog->sources[i].name,
                    (double)prog->sources[i].ops->queued(&prog->sources[i]));
  }
  pspf_metric_head(b, "pspf_sink_records_total", "counter",
                   "Records written, by sink.");
  for (int i = 0; i < prog->nsinks; i++)
    pspf_metric(b, "pspf_sink_records_total", "sink", prog->sinks[i].name,
                (double)prog->sinks[i].records);
  pspf_metric_head(b, "pspf_sink_buffered_bytes", "gauge",
                   "Output held for a sink, not yet written (the "
                   "backpressure signal of a file sink).");
  for (int i = 0; i < prog->nsinks; i++)
    pspf_metric(b, "pspf_sink_buffered_bytes", "sink", prog->sinks[i].name,
                (double)prog->sinks[i].buf.n);
  pspf_metric_head(b, "pspf_sink_retries_total", "counter",
                   "Waits before retrying a failing sink (all sinks).");
  pspf_metric(b, "pspf_sink_retries_total", NULL, NULL, (double)sink_retries);
  pspf_metric_head(b, "pspf_operator_records_in_total", "counter",
                   "Records into each operator of the program.");
  for (int i = 0; i < prog->nops; i++) {
    char l[512] = "";
    pspf_label(l, sizeof l, "operator", prog->ops[i].op);
    pspf_label(l, sizeof l, "where", prog->ops[i].where);
    pspf_metric_labels(b, "pspf_operator_records_in_total", l,
                       (double)prog->ops[i].in);
  }
  pspf_metric_head(b, "pspf_operator_records_out_total", "counter",
                   "Records out of each operator, to the next stage.");
  for (int i = 0; i < prog->nops; i++) {
    char l[512] = "";
    pspf_label(l, sizeof l, "operator", prog->ops[i].op);
    pspf_label(l, sizeof l, "where", prog->ops[i].where);
    pspf_metric_labels(b, "pspf_operator_records_out_total", l,
                       (double)prog->ops[i].out);
  }
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  double now_s = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
  bool any_wm = false;
  for (int i = 0; i < prog->nops; i++)
    any_wm |= prog->ops[i].watermark && *prog->ops[i].watermark != INT64_MIN;
  if (any_wm) {
    pspf_metric_head(b, "pspf_watermark_timestamp_seconds", "gauge",
                     "The event-time watermark of each event_time stage.");
    for (int i = 0; i < prog->nops; i++)
      if (prog->ops[i].watermark && *prog->ops[i].watermark != INT64_MIN) {
        char l[512] = "";
        pspf_label(l, sizeof l, "where", prog->ops[i].where);
        pspf_metric_labels(b, "pspf_watermark_timestamp_seconds", l,
                           (double)*prog->ops[i].watermark / 1e3);
      }
    pspf_metric_head(b, "pspf_watermark_lag_seconds", "gauge",
                     "How far each watermark is behind the wall clock.");
    for (int i = 0; i < prog->nops; i++)
      if (prog->ops[i].watermark && *prog->ops[i].watermark != INT64_MIN) {
        char l[512] = "";
        pspf_label(l, sizeof l, "where", prog->ops[i].where);
        pspf_metric_labels(b, "pspf_watermark_lag_seconds", l,
                           now_s - (double)*prog->ops[i].watermark / 1e3);
      }
  }
  bool held = false;
  for (int i = 0; i < prog->nstates; i++)
    held |= prog->states[i].held != NULL;
  if (held) {
    uint64_t wins[256];
    pspf_metric_head(b, "pspf_state_keys", "gauge",
                     "Keys each keyed operator holds now (a window's: "
                     "over its open windows).");
    for (int i = 0; i < prog->nstates; i++) {
      wins[i % 256] = UINT64_MAX;
      if (!prog->states[i].held)
        continue;
      char l[512] = "";
      pspf_label(l, sizeof l, "where", prog->states[i].where);
      pspf_metric_labels(b, "pspf_state_keys", l,
                         (double)prog->states[i].held(&wins[i % 256]));
    }
    pspf_metric_head(b, "pspf_open_windows", "gauge",
                     "Windows open now, by window operator.");
    for (int i = 0; i < prog->nstates && i < 256; i++)
      if (prog->states[i].held && wins[i] != UINT64_MAX) {
        char l[512] = "";
        pspf_label(l, sizeof l, "where", prog->states[i].where);
        pspf_metric_labels(b, "pspf_open_windows", l, (double)wins[i]);
      }
  }
  pspf_metric_head(b, "pspf_bad_records_total", "counter",
                   "Records sent to the dead-letter file.");
  pspf_metric(b, "pspf_bad_records_total", NULL, NULL, (double)ctx->bad);
  pspf_metric_head(b, "pspf_late_records_total", "counter",
                   "Records that came after every window they belonged to "
                   "had fired.");
  pspf_metric(b, "pspf_late_records_total", NULL, NULL, (double)ctx->late);
  pspf_metric_head(b, "pspf_checkpoints_total", "counter",
                   "Checkpoints written.");
  pspf_metric(b, "pspf_checkpoints_total", NULL, NULL, (double)run->ck_count);
  pspf_metric_head(b, "pspf_checkpoint_duration_seconds", "gauge",
                   "The last checkpoint: from its start to durable.");
  pspf_metric(b, "pspf_checkpoint_duration_seconds", NULL, NULL,
              run->ck_seconds);
  pspf_metric_head(b, "pspf_checkpoint_size_bytes", "gauge",
                   "The last checkpoint's size.");
  pspf_metric(b, "pspf_checkpoint_size_bytes", NULL, NULL,
              (double)run->ck_bytes);
  pspf_metric_head(b, "pspf_checkpoint_keys", "gauge",
                   "Keys and windows held, as of the last checkpoint.");
  pspf_metric(b, "pspf_checkpoint_keys", NULL, NULL, (double)run->ck_keys);
  pspf_metric_head(b, "pspf_checkpoint_last_timestamp_seconds", "gauge",
                   "When the last checkpoint became durable (0: none).");
  pspf_metric(b, "pspf_checkpoint_last_timestamp_seconds", NULL, NULL,
              run->ck_when);
  long pages = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
      rss = 0;
    fclose(f);
  }
  pspf_metric_head(b, "process_resident_memory_bytes", "gauge",
                   "Resident memory size in bytes.");
  pspf_metric(b, "process_resident_memory_bytes", NULL, NULL,
              (double)rss * (double)sysconf(_SC_PAGESIZE));
  pspf_metric_head(b, "process_start_time_seconds", "gauge",
                   "Start time of the process since the Unix epoch.");
  pspf_metric(b, "process_start_time_seconds", NULL, NULL, run->started);
}

/* ---- the progress line -------------------------------------------------
 *
 * On a terminal (stderr), with bounded input (regular files, none
 * followed, no MQTT or Kafka) and without --quiet: one line, redrawn
 * four times a second, of records, bytes, percent, rate and time left;
 * cleared at the end and before any log line. */

static void human(char *b, size_t n, double v, const char *unit) {
  static const char *const k[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (v >= 1000 && i < 4)
    v /= 1000, i++;
  snprintf(b, n, i ? "%.1f %s%s" : "%.0f %s%s", v, k[i], unit);
}

static void progress_clear(run_t *run) {
  if (run && run->progress_shown) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
    run->progress_shown = false;
  }
}

static void progress_if_due(run_t *run, bool now) {
  uint64_t t = uv_hrtime();
  if (!now && t < run->progress_due)
    return;
  run->progress_due = t + 250000000u;
  uint64_t done = 0;
  for (int i = 0; i < run->prog->nsources; i++)
    done += run->readers[i].base + run->readers[i].len;
  if (done > run->progress_total)
    done = run->progress_total;
  double secs = (double)(t - run->progress_t0) / 1e9;
  char recs[32], bytes[32], total[32], rate[32], eta[32] = "";
  human(recs, sizeof recs, (double)run->ctx->records_in, " records");
  human(bytes, sizeof bytes, (double)done, "B");
  human(total, sizeof total, (double)run->progress_total, "B");
  human(rate, sizeof rate,
        secs > 0 ? (double)run->ctx->records_in / secs : 0, " records/s");
  if (done > 0 && secs > 0.5) {
    double left = secs * (double)(run->progress_total - done) / (double)done;
    if (left < 1)
      snprintf(eta, sizeof eta, ", under 1 s left");
    else
      snprintf(eta, sizeof eta, ", %.0f s left", left);
  }
  fprintf(stderr, "\r%s: %s, %s of %s (%.0f%%), %s%s\033[K", run->prog->name,
          recs, bytes, total,
          run->progress_total ? 100.0 * (double)done /
                                    (double)run->progress_total
                              : 100.0,
          rate, eta);
  fflush(stderr);
  run->progress_shown = true;
}

static void on_progress_timer(uv_timer_t *h) { progress_if_due(h->data, false); }

/* Starts the line if it is wanted: see above. */
static void progress_start(run_t *run, bool quiet) {
  pspf_program_t *prog = run->prog;
  if (quiet || !isatty(2))
    return;
  uint64_t total = 0;
  for (int i = 0; i < prog->nsources; i++) {
    pspf_source_t *src = &prog->sources[i];
    struct stat st;
    if (src->ops || src->follow || strcmp(src->path, "-") == 0 ||
        stat(src->path, &st) < 0 || !S_ISREG(st.st_mode))
      return;
    total += (uint64_t)st.st_size;
  }
  run->progress_total = total ? total : 1;
  run->progress_t0 = uv_hrtime();
  run->progress_due = run->progress_t0 + 250000000u; /* (none if quick) */
  uv_timer_init(uv_default_loop(), &run->progress_timer);
  run->progress_timer.data = run;
  uv_timer_start(&run->progress_timer, on_progress_timer, 250, 250);
  uv_unref((uv_handle_t *)&run->progress_timer);
  progress_run = run;
}

static void progress_stop(run_t *run) {
  if (!run->progress_total)
    return;
  uv_close((uv_handle_t *)&run->progress_timer, NULL);
  progress_clear(run);
  run->progress_total = 0;
  progress_run = NULL;
}

/* The start-up line: what runs, on what. */
static void log_start(pspf_ctx_t *ctx, run_t *run) {
  static const char *const fmts[] = {"csv", "json", "lines"};
  pspf_program_t *prog = run->prog;
  pspf_buf_t b = {0};
  char part[1200];
  int n = snprintf(part, sizeof part, "starting %s (built by %s from %s), "
                   "fingerprint %016llx; sources:", prog->name,
                   prog->built_by ? prog->built_by : "pspfc",
                   prog->source_file, (unsigned long long)run->fingerprint);
  pspf_buf_add(&b, part, (size_t)n);
  for (int i = 0; i < prog->nsources; i++) {
    pspf_source_t *src = &prog->sources[i];
    n = snprintf(part, sizeof part, "%s %s (%s %s%s%s%s, %s)", i ? "," : "",
                 src->name, src->ops ? src->ops->kind : "file", src->path,
                 src->topic ? " topic '" : "", src->topic ? src->topic : "",
                 src->topic ? "'" : "", fmts[src->format % 3]);
    pspf_buf_add(&b, part, (size_t)n);
  }
  pspf_buf_add(&b, "; sinks:", 8);
  for (int i = 0; i < prog->nsinks; i++) {
    pspf_sink_t *sk = &prog->sinks[i];
    n = snprintf(part, sizeof part, "%s %s (%s %s%s%s%s)", i ? "," : "",
                 sk->name, sk->kind ? sk->kind : "file", sk->path,
                 sk->topic ? " topic '" : "", sk->topic ? sk->topic : "",
                 sk->topic ? "'" : "");
    pspf_buf_add(&b, part, (size_t)n);
  }
  pspf_buf_add(&b, "", 1);
  pspf_log(ctx, 2, "%s", b.p);
  pspf_buf_free(&b);
}

/* The shutdown line: totals. */
static void log_totals(pspf_ctx_t *ctx, pspf_program_t *prog, uint64_t t0) {
  pspf_buf_t b = {0};
  char part[600];
  int n = snprintf(part, sizeof part, "finished in %.3f s: %llu records in, "
                   "%llu bad, %llu late; out:",
                   (double)(uv_hrtime() - t0) / 1e9,
                   (unsigned long long)ctx->records_in,
                   (unsigned long long)ctx->bad,
                   (unsigned long long)ctx->late);
  pspf_buf_add(&b, part, (size_t)n);
  for (int i = 0; i < prog->nsinks; i++) {
    n = snprintf(part, sizeof part, "%s %s %llu", i ? "," : "",
                 prog->sinks[i].name,
                 (unsigned long long)prog->sinks[i].records);
    pspf_buf_add(&b, part, (size_t)n);
  }
  pspf_buf_add(&b, "", 1);
  pspf_log(ctx, 2, "%s", b.p);
  pspf_buf_free(&b);
}

int pspf_main(pspf_program_t *prog, int argc, char **argv) {
  uint64_t t_start = uv_hrtime();
  prog_name = prog->name;
  pspf_ctx_t ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.log_level = 1;
  ctx.nworkers = 1;
  ctx.chunk_mine = true;
  ctx.report = true;
  const char *dead = NULL, *max_bad = NULL, *level = NULL;
  const char *ck_dir = NULL, *ck_interval = NULL, *ck_reset = NULL;
  const char *retry_limit = NULL, *log_format = NULL, *metrics_addr = NULL;
  const char *workers_opt = NULL, *scale_opt = NULL, *session_opt = NULL;
  const char *store_opt = NULL;
  bool quiet = false;
  const char **given = calloc((size_t)prog->nparams + 1, sizeof *given);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(prog, stdout);
      free(given);
      return PSPF_EXIT_OK;
    }
    if (strcmp(a, "--version") == 0) {
      run_t r = {.prog = prog};
      make_layout(&r);
      printf("%s (built by %s from %s)\nfingerprint %016llx\n", prog->name,
             prog->built_by ? prog->built_by : "pspfc", prog->source_file,
             (unsigned long long)r.fingerprint);
      free_layout(&r);
      free(given);
      return PSPF_EXIT_OK;
    }
    if (strcmp(a, "--print-source") == 0) {
      fwrite(prog->source_text ? prog->source_text : "", 1, prog->source_len,
             stdout);
      free(given);
      return fflush(stdout) == 0 ? PSPF_EXIT_OK : PSPF_EXIT_FAILURE;
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
    int opt = IS("dead-letter")           ? 1
              : IS("max-bad-records")     ? 2
              : IS("log-level")           ? 3
              : IS("checkpoint-dir")      ? 4
              : IS("checkpoint-interval") ? 5
              : IS("checkpoint-reset")    ? 6
              : IS("mqtt-username")       ? 7
              : IS("mqtt-password")       ? 8
              : IS("mqtt-cafile")         ? 9
              : IS("sink-retry-limit")    ? 10
              : IS("log-format")          ? 11
              : IS("metrics-addr")        ? 12
              : IS("quiet")               ? 13
              : IS("workers")             ? 14
              : IS("scale-out")           ? 15
              : IS("session-timeout")     ? 16
              : IS("state-store")         ? 17
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
    if (opt == 13 && !eq) { /* a switch */
      quiet = true;
      continue;
    }
    if (opt == 6) { /* a switch: --checkpoint-reset[=true|false] */
      ck_reset = eq ? eq + 1 : "true";
      continue;
    }
    if (opt == 15) { /* a switch: --scale-out[=true|false] */
      scale_opt = eq ? eq + 1 : "true";
      continue;
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
    else if (opt == 4)
      ck_dir = val;
    else if (opt == 5)
      ck_interval = val;
    else if (opt >= 7 && opt <= 9)
      conn_opts[opt - 7] = val;
    else if (opt == 10)
      retry_limit = val;
    else if (opt == 11)
      log_format = val;
    else if (opt == 12)
      metrics_addr = val;
    else if (opt == 13)
      quiet = strcmp(val, "false") != 0 && strcmp(val, "0") != 0;
    else if (opt == 14)
      workers_opt = val;
    else if (opt == 16)
      session_opt = val;
    else if (opt == 17)
      store_opt = val;
    else
      given[found] = val;
  }
  if (!dead)
    dead = env_for("dead_letter");
  if (!max_bad)
    max_bad = env_for("max_bad_records");
  if (!level)
    level = env_for("log_level");
  if (!log_format)
    log_format = env_for("log_format");
  if (!metrics_addr)
    metrics_addr = env_for("metrics_addr");
  if (!quiet && env_for("quiet"))
    quiet = strcmp(env_for("quiet"), "false") != 0 &&
            strcmp(env_for("quiet"), "0") != 0;
  if (log_format && strcmp(log_format, "json") != 0 &&
      strcmp(log_format, "text") != 0) {
    fprintf(stderr, "%s: error: --log-format is text or json, not '%s'\n",
            prog->name, log_format);
    free(given);
    return PSPF_EXIT_USAGE;
  }
  log_json = log_format && strcmp(log_format, "json") == 0;
  if (!ck_dir)
    ck_dir = env_for("checkpoint_dir");
  if (!ck_interval)
    ck_interval = env_for("checkpoint_interval");
  if (!ck_reset)
    ck_reset = env_for("checkpoint_reset");
  int64_t interval = 10000;
  if (ck_interval && (parse_duration(ck_interval, &interval) < 0 ||
                      interval <= 0)) {
    fprintf(stderr, "%s: error: --checkpoint-interval is a duration such as "
            "10s or 500ms, not '%s'\n", prog->name, ck_interval);
    free(given);
    return PSPF_EXIT_USAGE;
  }
  if (!workers_opt)
    workers_opt = env_for("workers");
  if (getenv("PSPF_READ_LIMIT"))
    read_limit = (size_t)strtoul(getenv("PSPF_READ_LIMIT"), NULL, 10);
  int64_t nworkers = 1;
  if (workers_opt &&
      (pspf_parse_i64(workers_opt, strlen(workers_opt), &nworkers) < 0 ||
       nworkers < 1 || nworkers > 64)) {
    fprintf(stderr, "%s: error: --workers is a count from 1 to 64, not '%s'\n",
            prog->name, workers_opt);
    free(given);
    return PSPF_EXIT_USAGE;
  }
  if (!scale_opt)
    scale_opt = env_for("scale_out");
  if (!session_opt)
    session_opt = env_for("session_timeout");
  if (!store_opt)
    store_opt = env_for("state_store");
  if (store_opt && strcmp(store_opt, "dir") != 0 &&
      strcmp(store_opt, "kafka") != 0) {
    fprintf(stderr, "%s: error: --state-store is dir or kafka, not '%s'\n",
            prog->name, store_opt);
    free(given);
    return PSPF_EXIT_USAGE;
  }
  bool kafka_store = store_opt && strcmp(store_opt, "kafka") == 0;
  int64_t session_ms = 10000;
  if (session_opt && (parse_duration(session_opt, &session_ms) < 0 ||
                      session_ms < 1000 || session_ms > 3600000)) {
    fprintf(stderr, "%s: error: --session-timeout is a duration from 1s to "
            "1h, such as 10s, not '%s'\n", prog->name, session_opt);
    free(given);
    return PSPF_EXIT_USAGE;
  }
  int scale = 0;
  if (scale_opt && pspf_parse_bool(scale_opt, strlen(scale_opt), &scale) < 0) {
    fprintf(stderr, "%s: error: --scale-out is true or false, not '%s'\n",
            prog->name, scale_opt);
    free(given);
    return PSPF_EXIT_USAGE;
  }
  const char *no_scale =
      !scale               ? NULL
      : !prog->scale_out   ? "it does not read a kafka source"
      : prog->scale_refusal ? prog->scale_refusal
      : nworkers > 1       ? "--workers is for one file; scaled out, each "
                             "partition has a thread of its own"
      : !ck_dir && !kafka_store ? "it needs --checkpoint-dir, a directory every instance reaches "
            "(each partition's state moves through it), or --state-store=kafka"
          : NULL;
  if (store_opt && !scale) {
    fprintf(stderr, "%s: error: --state-store is where a scaled-out "
            "program's partitions keep their state: give --scale-out too\n",
            prog->name);
    free(given);
    return PSPF_EXIT_USAGE;
  }
  if (no_scale) {
    fprintf(stderr, "%s: error: --scale-out: this program cannot share its "
            "work with other instances: %s\n", prog->name, no_scale);
    free(given);
    return PSPF_EXIT_USAGE;
  }
  if (nworkers > 1 && prog->split_refusal) {
    fprintf(stderr, "%s: error: --workers %lld: this program runs on one "
            "worker only: %s\n", prog->name, (long long)nworkers,
            prog->split_refusal);
    free(given);
    return PSPF_EXIT_USAGE;
  }
  if (!retry_limit)
    retry_limit = env_for("sink_retry_limit");
  if (retry_limit && (parse_duration(retry_limit, &sink_retry_ms) < 0 ||
                      sink_retry_ms < 0)) {
    fprintf(stderr, "%s: error: --sink-retry-limit is a duration such as "
            "60s, not '%s'\n", prog->name, retry_limit);
    free(given);
    return PSPF_EXIT_USAGE;
  }
  int reset = 0;
  if (ck_reset && pspf_parse_bool(ck_reset, strlen(ck_reset), &reset) < 0) {
    fprintf(stderr, "%s: error: --checkpoint-reset is true or false, not "
            "'%s'\n", prog->name, ck_reset);
    free(given);
    return PSPF_EXIT_USAGE;
  }
  if (ck_dir && !*ck_dir)
    ck_dir = NULL;
  checkpoint_dir = ck_dir;
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
    prog->sinks[i].resume_at = -1;

  uv_loop_t *loop = uv_default_loop();
  reader_t *readers = calloc((size_t)prog->nsources + 1, sizeof *readers);
  run_t run = {.prog = prog, .ctx = &ctx, .readers = readers,
               .wake = {-1, -1}, .ck_dir = ck_dir, .ck_interval = interval,
               .ck_lock = -1, .nworkers = (int)nworkers};
  the_run = &run;
  if (ck_dir || scale || ctx.log_level >= 2) { /* (the fingerprint) */
    make_layout(&run);
    if (ctx.log_level >= 2)
      log_start(&ctx, &run);
  }
  {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    run.started = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
  }
  if (scale) { /* a run of its own: group.c */
    pspf_scale_opts_t so = {ck_dir,
                            interval,
                            reset,
                            session_ms,
                            kafka_store,
                            metrics_addr && *metrics_addr ? metrics_addr : NULL,
                            run.fingerprint,
                            run.nlayout,
                            run.layout,
                            (const char *const *)run.where};
    status = prog->scale_out(prog, &ctx, &so);
    free_run(&run);
    the_run = NULL;
    log_totals(&ctx, prog, t_start);
    if (ctx.dead)
      fclose(ctx.dead);
    pspf_buf_free(&ctx.scratch);
    scratch_free(&ctx, true);
    uv_loop_close(loop);
    return status;
  }
  if (metrics_addr && *metrics_addr &&
      pspf_metrics_start(&ctx, metrics_addr, collect_metrics, &run) < 0) {
    free_run(&run); /* (the readers too) */
    return PSPF_EXIT_USAGE;
  }
  if (ck_dir) {
    run.resume = calloc((size_t)prog->nsources + 1, sizeof *run.resume);
    if (!run.resume)
      pspf_ck_oom();
    status = restore(&run, reset);
  }
  for (int i = 0; i < prog->nsinks && !status; i++)
    if (pspf_sink_open(&ctx, &prog->sinks[i]) < 0)
      status = PSPF_EXIT_FAILURE;
  if (!status && (!readers || pipe(run.wake) < 0)) {
    pspf_log(&ctx, 0, "cannot start: %s", strerror(errno));
    status = PSPF_EXIT_FAILURE;
  }
  /* Sources that deliver their own records (MQTT, Kafka) start now: they
   * deliver nothing before the loop runs, and a Kafka source knows its
   * positions once started, for the checkpoint below. */
  for (int i = 0; i < prog->nsources && !status; i++) {
    pspf_source_t *src = &prog->sources[i];
    if (src->ops && src->ops->start(&ctx, src) < 0)
      status = PSPF_EXIT_FAILURE;
  }
  /* A fresh start takes a checkpoint before it reads anything: a crash
   * before the first periodic one then goes back to here, where every
   * sink's position is known (an appended file's length, a table's last
   * row), instead of starting afresh on top of what the crashed run
   * wrote. */
  if (!status && ck_dir && !run.restored &&
      take_checkpoint(&run, 0, true) < 0)
    status = PSPF_EXIT_FAILURE;
  if (status) {
    for (int i = 0; i < prog->nsources; i++)
      if (prog->sources[i].ops && prog->sources[i].impl)
        prog->sources[i].ops->stop(&ctx, &prog->sources[i]);
    uv_run(loop, UV_RUN_NOWAIT); /* their handles close */
    for (int i = 0; i < prog->nsinks; i++)
      if (prog->sinks[i].ops)
        prog->sinks[i].ops->close(&ctx, &prog->sinks[i]);
      else if (prog->sinks[i].fd > 2)
        close(prog->sinks[i].fd);
    free_run(&run);
    return status;
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
  if (ck_dir) {
    uv_timer_init(loop, &run.ck_timer);
    run.ck_timer.data = &run;
    run.ck_timer_on = true;
    uv_timer_start(&run.ck_timer, on_ck_timer, (uint64_t)interval,
                   (uint64_t)interval);
    uv_unref((uv_handle_t *)&run.ck_timer);
    run.ck_mark = progress(&run); /* nothing to save until input moves */
    run.ck_due = uv_hrtime() + (uint64_t)interval * 1000000u;
  }
  progress_start(&run, quiet);
  if (nworkers > 1) {
    run.par = par_start(prog, &ctx, loop, (int)nworkers, par_room, &run);
    if (!run.par) {
      ctx.exit_status = PSPF_EXIT_FAILURE;
      stop_sources(&run);
    } else if (run.saved) {
      char why[512];
      if (par_load(run.par, (const char *const *)run.saved, run.saved_n,
                   run.nsaved, why, sizeof why) < 0) {
        pspf_log(&ctx, 0, "the checkpoint's state: %s", why);
        ctx.exit_status = PSPF_EXIT_FAILURE;
        stop_sources(&run);
      }
      free_saved(&run);
    }
  }
  for (int i = 0; i < prog->nsources && !ctx.stopping; i++) {
    reader_t *r = &readers[i];
    r->src = &prog->sources[i];
    r->ctx = &ctx;
    r->run = &run;
    resume_t *rs = run.resume ? &run.resume[i] : NULL;
    if (rs && rs->set) {
      r->base = rs->offset;
      r->recno = rs->records;
      if (rs->header) {
        pspf_buf_add(&r->header, rs->header, rs->header_len);
        r->header_done = true;
        ctx.pos.source = r->src->name;
        ctx.pos.path = r->src->path;
        if (r->src->on_header &&
            r->src->on_header(&ctx, rs->header, rs->header_len) < 0) {
          stop_sources(&run);
          break;
        }
      }
      if (rs->ended) { /* it had been read to its end */
        r->done = true;
        r->src->ended = true;
        continue;
      }
    }
    if (r->src->ops) { /* it delivers its records itself: started */
      r->done = true;
      continue;
    }
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
    if (r->base && !seek_source(r, &st)) {
      stop_sources(&run);
      continue;
    }
    r->follow = r->src->follow && r->regular;
    if (r->src->follow && !r->regular)
      pspf_log(&ctx, 1, "source '%s': '%s' is not a regular file; it is read "
               "to its end, not followed", r->src->name, r->src->path);
    read_more(r);
  }
  if (run.par) { /* a source that had ended (restored) pushes nothing */
    bool reading = false;
    for (int i = 0; i < prog->nsources; i++)
      reading |= !readers[i].done;
    if (!reading)
      par_input_end(run.par);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  /* Every read has ended and every follow handle is closed; close the
   * signal handles too, so that the loop closes. */
  for (int i = 0; i < 2; i++)
    uv_close((uv_handle_t *)&run.sig[i], NULL);
  if (run.ck_timer_on)
    uv_close((uv_handle_t *)&run.ck_timer, NULL);
  pspf_metrics_stop();
  progress_stop(&run);
  uv_run(loop, UV_RUN_DEFAULT);
  /* The input has ended and the program is finishing (the last
   * checkpoint, the last windows): a first SIGINT or SIGTERM now asks for
   * what is happening anyway, so it is only noted; a second one ends the
   * program at once. (After a signal stop, the handlers are gone already:
   * the next one ends it at once.) */
  if (!ctx.stop_signal)
    for (int i = 0; i < 2; i++) {
      struct sigaction sa, old;
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = on_late_signal;
      sigemptyset(&sa.sa_mask);
      if (sigaction(signums[i], NULL, &old) == 0 &&
          old.sa_handler != SIG_IGN)
        sigaction(signums[i], &sa, NULL);
    }
  /* The last checkpoint: on a signal, where the program stopped (a restart
   * goes on from there); at the end of the input, before the open windows
   * fire (a restart fires them again, over the same committed output). */
  uint64_t last_ck = 0;
  if (ck_dir && !ctx.exit_status) {
    last_ck = run.ck_next;
    if (take_checkpoint(&run, ctx.stop_signal ? 0 : PSPF_CKPT_FINAL,
                        true) < 0)
      last_ck = 0;
  }
  for (int i = 0; i < prog->nsources; i++) {
    if (readers[i].fd > 0) {
      uv_fs_t close_req;
      uv_fs_close(loop, &close_req, readers[i].fd, NULL);
      uv_fs_req_cleanup(&close_req);
    }
    free(readers[i].buf);
    pspf_buf_free(&readers[i].header);
  }
  par_t *run_par = run.par;
  free_run(&run);
  pspf_buf_free(&message);
  the_run = NULL;
  if (ctx.stop_signal && last_ck)
    pspf_log(&ctx, 2, "stopped by %s: open windows are kept in checkpoint "
             "%llu, not fired", ctx.stop_signal == SIGINT ? "SIGINT"
                                                           : "SIGTERM",
             (unsigned long long)last_ck);
  else if (ctx.stop_signal)
    pspf_log(&ctx, 2, "stopped by %s: open windows are not fired",
             ctx.stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
  /* Every source has ended: fire what is open, unless stopping early (an
   * error, or a signal). */
  if (run_par) {
    par_stop(run_par, !ctx.exit_status && !ctx.stop_signal);
    uv_run(loop, UV_RUN_NOWAIT); /* its handle closes */
  } else if (!ctx.exit_status && !ctx.stop_signal) {
    prog->finish(&ctx);
  }
  for (int i = 0; i < prog->nsinks; i++)
    if (pspf_sink_close(&ctx, &prog->sinks[i]) < 0 && !ctx.exit_status)
      ctx.exit_status = PSPF_EXIT_FAILURE;
  log_totals(&ctx, prog, t_start);
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
