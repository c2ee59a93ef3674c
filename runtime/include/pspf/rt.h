/*
 * rt.h -- what a program emitted by pspfc calls: the per-record context
 * (scratch memory, faults for bad records), checked integer arithmetic,
 * the program description its main() hands to pspf_main(), sources and
 * sinks.
 *
 * The emitted code is straight-line C over plain structs; it calls into
 * this header only for work that is the same for every program.
 */
#ifndef PSPF_RT_H
#define PSPF_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pspf/checkpoint.h"
#include "pspf/format.h"
#include "pspf/io.h"
#include "pspf/pspf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The emitted program's state (tables, windows, watermarks, sink buffers)
 * is thread-local: with --workers N each worker has its own. */
#define PSPF_TLS _Thread_local

#define PSPF_LIKELY(x) __builtin_expect(!!(x), 1)
#define PSPF_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Exit statuses of a built program (spec section 9). */
enum {
  PSPF_EXIT_OK = 0,       /* done */
  PSPF_EXIT_USAGE = 1,    /* bad command line */
  PSPF_EXIT_FAILURE = 2,  /* runtime failure */
  PSPF_EXIT_TOO_BAD = 3   /* --max-bad-records reached */
};

/* Optional scalars: [has] false is none. */
typedef struct pspf_opt_i64_s {
  bool has;  /* a value is present */
  int64_t v; /* the value when [has] */
} pspf_opt_i64;
typedef struct pspf_opt_f64_s {
  bool has; /* a value is present */
  double v; /* the value when [has] */
} pspf_opt_f64;
typedef struct pspf_opt_bool_s {
  bool has; /* a value is present */
  bool v;   /* the value when [has] */
} pspf_opt_bool;
typedef struct pspf_opt_str_s {
  bool has;     /* a value is present */
  pspf_str_t v; /* the value when [has] */
} pspf_opt_str;

/* A list of strings (split's result), items in scratch memory. */
typedef struct pspf_list_str_s {
  pspf_str_t *items; /* the items */
  size_t n;          /* how many */
} pspf_list_str;

/* Where a record came from, for the dead-letter file. */
typedef struct pspf_pos_s {
  const char *source; /* the source's name in the program */
  const char *path;   /* file path, or "-" for stdin */
  uint64_t offset;    /* byte offset of the record in the input */
  uint64_t line;      /* 1-based record number (line, or CSV record) */
} pspf_pos_t;

typedef struct pspf_ctx_s pspf_ctx_t;

/* The most CSV columns a source reads (more are a bad record). */
#define PSPF_CSV_MAX_FIELDS 257

/* The per-run state every generated function receives. */
struct pspf_ctx_s {
  const char *fault;   /* set when the record at hand is bad: the reason */
  pspf_buf_t scratch;  /* the readers' unescaped fields, reset after each
                          record (reserved up front: it never moves) */
  pspf_str_t input;    /* the raw text of the record at hand */
  pspf_pos_t pos;      /* where it came from */
  uint64_t bad;        /* bad records so far */
  uint64_t max_bad;    /* stop after this many (0: never) */
  uint64_t records_in; /* records read from all sources */
  uint64_t late;       /* records that came after all their windows fired */
  void *dead;          /* the dead-letter file (FILE *), opened lazily */
  const char *dead_path; /* its path */
  int log_level;       /* 0 error, 1 warn, 2 info, 3 debug */
  int exit_status;     /* set when the program must stop */
  bool stopping;       /* stop reading sources */
  int stop_signal;     /* SIGINT or SIGTERM when a signal stopped the
                          program (open windows are then not fired), or 0 */
  /* A CSV record's fields, split while it was framed: csv_nf of them
   * (PSPF_CSV_MAX_FIELDS + 1: more), -1 when it has quotes (read it with
   * pspf_csv_next), -2 when not split. */
  pspf_str_t csv_f[PSPF_CSV_MAX_FIELDS];
  int csv_nf;
  /* --workers N (1: a single thread; then worker is 0 and chunk_mine and
   * report are true). */
  int nworkers;        /* N */
  int worker;          /* this worker: 0 .. N-1 */
  bool chunk_mine;     /* this worker parsed the record at hand */
  bool report;         /* this worker reports the record's fault (the one
                          that runs the stage where it happened) */
  void *collect;       /* parsing a chunk for the workers (runtime's) */
  /* Where output goes in the order a single thread would write it: the
   * record's index in its chunk, the pipeline, and the window fired. */
  uint32_t seg_step;
  int seg_path;
  uint32_t seg_sub;    /* the element of a flat_map reaching a key_by */
  int64_t seg_end, seg_start;
  /* Scaled out with a repartition topic: a reader hands each parsed
   * record here instead of running it (group.c), or NULL. */
  void (*routed)(pspf_ctx_t *ctx, const void *rec, size_t n);
  /* ... and on the keyed side, the watermark is the routers', time_cap
   * (the least of their largest event times), when capped. */
  bool capped;
  int64_t time_cap;
  void *blocks;        /* pspf_scratch()'s memory: a list of blocks that
                          never move, all but one freed after each record */
  char *block_at;      /* the next free byte of the newest block */
  size_t block_left;   /* bytes left in it */
};

/* ---- faults and scratch memory ----------------------------------------- */

/* Marks the record at hand bad with [reason] (a static string). The first
 * fault of a record wins. */
static inline void pspf_fault(pspf_ctx_t *ctx, const char *reason) {
  if (!ctx->fault)
    ctx->fault = reason;
}

/* Writes the record at hand to the dead-letter file with ctx->fault as the
 * reason, counts it, and stops the program after --max-bad-records. Then
 * clears the fault. */
PSPF_EXTERN void pspf_bad_record(pspf_ctx_t *ctx);

/* [n] bytes of per-record memory, valid until the record is done. Never
 * NULL: out of memory ends the program with status 2. */
PSPF_EXTERN char *pspf_scratch(pspf_ctx_t *ctx, size_t n);
/* Frees all scratch memory at once: after each record, and after each
 * window fired at end of input. */
PSPF_EXTERN void pspf_scratch_reset(pspf_ctx_t *ctx);

/* Logs a formatted line at [level] (0 error .. 3 debug) on stderr. */
PSPF_EXTERN void pspf_log(pspf_ctx_t *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- --workers ------------------------------------------------------------ */

/* How pipelines run on workers: stateless ones on the worker that parsed
 * the chunk; keyed ones on every worker up to their key_by, then on the
 * key's owner; others on the first worker. */
#define PSPF_SPLIT_CHUNK 1
#define PSPF_SPLIT_KEYED 2
#define PSPF_SPLIT_FIRST 4

/* The worker that owns keys of hash [h] among [n]: the high half of the
 * hash scaled to [0, n) (no division; tables use the low bits). */
static inline int pspf_owner(uint64_t h, int n) {
  return (int)(((h >> 32) * (uint64_t)n) >> 32);
}

/* True when this worker owns keys of hash [h]. */
static inline bool pspf_owns(const pspf_ctx_t *ctx, uint64_t h) {
  return pspf_owner(h, ctx->nworkers) == ctx->worker;
}

/* The window [start, end) whose result is being written. */
static inline void pspf_seg(pspf_ctx_t *ctx, int64_t end, int64_t start) {
  ctx->seg_end = end;
  ctx->seg_start = start;
}

/* Parsing for the workers: [s] as it stays valid with the chunk (a copy
 * when it is not a slice of the input), and the parsed record kept. */
PSPF_EXTERN pspf_str_t pspf_chunk_str(pspf_ctx_t *ctx, pspf_str_t s);
PSPF_EXTERN void pspf_chunk_record(pspf_ctx_t *ctx, const void *r, size_t n);

/* ---- checked arithmetic: overflow and division by zero are faults ------ */

static inline int64_t pspf_add_i64(pspf_ctx_t *ctx, int64_t a, int64_t b) {
  int64_t r;
  if (PSPF_UNLIKELY(__builtin_add_overflow(a, b, &r))) {
    pspf_fault(ctx, "integer overflow in +");
    return 0;
  }
  return r;
}

static inline int64_t pspf_sub_i64(pspf_ctx_t *ctx, int64_t a, int64_t b) {
  int64_t r;
  if (PSPF_UNLIKELY(__builtin_sub_overflow(a, b, &r))) {
    pspf_fault(ctx, "integer overflow in -");
    return 0;
  }
  return r;
}

static inline int64_t pspf_mul_i64(pspf_ctx_t *ctx, int64_t a, int64_t b) {
  int64_t r;
  if (PSPF_UNLIKELY(__builtin_mul_overflow(a, b, &r))) {
    pspf_fault(ctx, "integer overflow in *");
    return 0;
  }
  return r;
}

static inline int64_t pspf_div_i64(pspf_ctx_t *ctx, int64_t a, int64_t b) {
  if (PSPF_UNLIKELY(b == 0)) {
    pspf_fault(ctx, "division by zero");
    return 0;
  }
  if (PSPF_UNLIKELY(a == INT64_MIN && b == -1)) {
    pspf_fault(ctx, "integer overflow in /");
    return 0;
  }
  return a / b;
}

static inline int64_t pspf_mod_i64(pspf_ctx_t *ctx, int64_t a, int64_t b) {
  if (PSPF_UNLIKELY(b == 0)) {
    pspf_fault(ctx, "division by zero in %");
    return 0;
  }
  if (PSPF_UNLIKELY(b == -1))
    return 0; /* INT64_MIN % -1 traps in C; the answer is 0 */
  return a % b;
}

static inline int64_t pspf_neg_i64(pspf_ctx_t *ctx, int64_t a) {
  if (PSPF_UNLIKELY(a == INT64_MIN)) {
    pspf_fault(ctx, "integer overflow in unary -");
    return 0;
  }
  return -a;
}

/* a / b rounded toward minus infinity (window starts of negative times). */
static inline int64_t pspf_floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Processing time: the wall clock in milliseconds since the epoch. */
static inline int64_t pspf_wall_ms(void) {
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* a + b, clamped to the int64 range (session ends near the epoch's end). */
static inline int64_t pspf_sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

/* a - b, clamped to the int64 range (watermarks near the epoch's ends). */
static inline int64_t pspf_sat_sub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r))
    return b > 0 ? INT64_MIN : INT64_MAX;
  return r;
}

/* ---- strings -------------------------------------------------------------- */

/* A slice of a C string literal. */
#define PSPF_STR(lit) ((pspf_str_t){(lit), sizeof(lit) - 1})

static inline bool pspf_str_eq(pspf_str_t a, pspf_str_t b) {
  return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* Byte-wise order, as memcmp; shorter first on a common prefix. */
static inline int pspf_str_cmp(pspf_str_t a, pspf_str_t b) {
  size_t n = a.n < b.n ? a.n : b.n;
  int c = n ? memcmp(a.p, b.p, n) : 0;
  if (c)
    return c;
  return a.n < b.n ? -1 : a.n > b.n;
}

/* A copy of [s] that outlives the record (keyed state keeps it), NUL
 * terminated. Short strings (up to 255 bytes) come from slabs of their
 * size class on huge pages, not from malloc: a million keys are made (or
 * restored from a checkpoint) without a million mallocs, and sit close
 * together. Never fails: out of memory ends the program with status 2. */
PSPF_EXTERN pspf_str_t pspf_str_keep(pspf_str_t s);

/* Frees a string made by pspf_str_keep(). */
PSPF_EXTERN void pspf_str_drop(pspf_str_t s);

/* 64-bit hashes for keyed state: a mix of an integer, and of bytes. */
static inline uint64_t pspf_hash_u64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

static inline uint64_t pspf_hash_bytes(const char *p, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = pspf_hash_u64(h ^ w);
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  if (n)
    memcpy(&w, p, n);
  return pspf_hash_u64(h ^ w ^ ((uint64_t)n << 56));
}

/* Hash of a double key: equal values (0.0 and -0.0) hash alike. */
static inline uint64_t pspf_hash_f64(double x) {
  uint64_t u;
  if (x == 0)
    x = 0;
  memcpy(&u, &x, sizeof u);
  return pspf_hash_u64(u);
}

/* Zeroed memory for keyed state; never NULL (out of memory: status 2). */
PSPF_EXTERN void *pspf_state_alloc(size_t n);

/* a + b, in scratch memory. */
PSPF_EXTERN pspf_str_t pspf_str_concat(pspf_ctx_t *ctx, pspf_str_t a,
                                       pspf_str_t b);

/* ---- the program, as the emitted main() describes it -------------------- */

/* A `param`: becomes --name=VALUE and PSPF_NAME. */
typedef struct pspf_param_s {
  const char *name;  /* as declared */
  char type;         /* i int, f float, b bool, s string, t timestamp,
                        d duration */
  const char *deflt; /* default as text, or NULL if required */
  void *storage;     /* int64_t, double, bool or pspf_str_t to fill */
} pspf_param_t;

/* Input framing and format of a source. */
typedef enum pspf_format_e {
  PSPF_FMT_CSV,
  PSPF_FMT_JSON,
  PSPF_FMT_LINES
} pspf_format_t;

typedef struct pspf_source_s pspf_source_t;

/* A source that is not a file (MQTT): it delivers its records itself,
 * each through pspf_source_record(), from callbacks of the loop. */
typedef struct pspf_source_ops_s {
  /* Starts [src] (connects, subscribes). Returns 0 or logs and returns
   * PSPF_EIO. */
  int (*start)(pspf_ctx_t *ctx, pspf_source_t *src);
  /* Stops it: no more records; its handles close. */
  void (*stop)(pspf_ctx_t *ctx, pspf_source_t *src);
  /* Its position for a checkpoint: up to [max] (partition, offset) pairs
   * in [pos]; returns how many (NULL: no position, as MQTT). */
  int (*positions)(pspf_source_t *src, int64_t *pos, int max);
  const char *kind; /* "kafka", "mqtt": for logs */
  /* Optional: messages fetched and not yet run (the Kafka consumer's
   * queue), for /metrics. */
  uint64_t (*queued)(pspf_source_t *src);
} pspf_source_ops_t;

/* A source: the emitted code parses each record and runs the pipelines. */
struct pspf_source_s {
  const char *name;      /* in the program */
  const char *path;      /* file path; "-" is stdin */
  pspf_format_t format;  /* csv, json or lines */
  bool header;           /* csv: the first record names the columns */
  char delim;            /* csv delimiter */
  /* csv with a header: called once with the header record; returns 0 or
   * sets ctx->exit_status and returns -1 (a required column is missing). */
  int (*on_header)(pspf_ctx_t *ctx, const char *p, size_t n);
  /* Parses and processes one record; a bad one sets ctx->fault. The
   * PSPF_READ_PAD bytes after the record are readable (any value), so
   * that readers may load whole words (pspf_parse_i64_padded). */
  void (*on_record)(pspf_ctx_t *ctx, const char *p, size_t n);
  /* Runs a record parsed by on_record() for the workers (of [rec_size]
   * bytes) through the pipelines. */
  void (*on_parsed)(pspf_ctx_t *ctx, const void *rec);
  size_t rec_size;
  /* Set by the runtime once the source has ended: its watermark is then
   * +infinity where streams merge. */
  bool ended;
  /* file: keep reading data appended to the file, like tail -f; the source
   * then never ends (the program runs until SIGINT or SIGTERM). */
  bool follow;
  const pspf_source_ops_t *ops; /* NULL for files and stdin */
  const char *topic;            /* mqtt: the topic (wildcards allowed) */
  int qos;                      /* mqtt: 0 or 1 */
  const char *client_id;        /* mqtt: given, or NULL; kafka: group: */
  void *impl;                   /* what [ops] keep */
  /* Recovery: the checkpoint's (partition, offset) pairs, nresume of
   * them, for [ops] to start from. */
  int64_t resume_pos[128];
  int nresume;
  uint64_t records; /* records read from it (metrics) */
};

/* Runs one message of [src] ([n] bytes at [payload], copied with the
 * padding readers need; a trailing newline is dropped) through the
 * pipelines as a file's records are: a blank one skipped, counted, a bad
 * one sent to the dead-letter file. [offset] and [line] are its position
 * for the dead-letter file. */
PSPF_EXTERN void pspf_source_message(pspf_ctx_t *ctx, pspf_source_t *src,
                                     const void *payload, size_t n,
                                     uint64_t offset, uint64_t line);

/* A source has delivered a batch of messages (all it has for now, or as
 * many as it takes in a turn): the sinks write out what they hold, so
 * that output keeps up with a live input, and a checkpoint is taken if
 * one is due (a backlog may take many batches without the loop's timers
 * coming due). */
PSPF_EXTERN void pspf_batch_done(pspf_ctx_t *ctx);

/* How long a failing sink is retried before the program stops with
 * status 2 (--sink-retry-limit, default 60 s), in ms. */
PSPF_EXTERN int64_t pspf_sink_retry_ms(void);

/* Retrying a failing sink while the program waits (its sources pause):
 * exponential backoff from 100 ms doubling to 10 s, each wait times a
 * random 0.5 to 1.0 (jitter), for at most pspf_sink_retry_ms() in all. */
typedef struct pspf_retry_s {
  uint64_t until;   /* uv_hrtime() when the limit is reached; 0: not begun */
  unsigned next_ms; /* the next wait before jitter */
  unsigned tries;   /* waits so far */
} pspf_retry_t;

/* Waits the next backoff (beginning [r] if it has not begun). Returns
 * false, without waiting, once the retry limit has passed. */
PSPF_EXTERN bool pspf_retry_wait(pspf_retry_t *r);

/* True when the program takes checkpoints (--checkpoint-dir). */
PSPF_EXTERN bool pspf_checkpointing(void);

/* The checkpoint directory (--checkpoint-dir), or NULL. */
PSPF_EXTERN const char *pspf_checkpoint_dir(void);

/* The program's name (for default client ids). */
PSPF_EXTERN const char *pspf_program_name(void);

/* A connector option given on the command line (--mqtt-username=...),
 * else its PSPF_ variable (PSPF_MQTT_USERNAME), else NULL. [name] is
 * "mqtt_username", "mqtt_password" or "mqtt_cafile". */
PSPF_EXTERN const char *pspf_connector_option(const char *name);


typedef struct pspf_sink_s pspf_sink_t;

/* A sink that is not a stream of bytes (SQLite) does its own output
 * through these; the runtime calls them where it would open, flush and
 * close a file. */
typedef struct pspf_sink_ops_s {
  /* Opens [s]; when s->resume_at >= 0, first drops what was written after
   * that committed position. Returns 0 or logs and returns PSPF_EIO. */
  int (*open)(pspf_ctx_t *ctx, pspf_sink_t *s);
  /* Makes everything written durable, and sets s->length to the committed
   * position. [checkpoint]: the id of the checkpoint about to be written,
   * recorded in the same transaction, or 0. Returns 0 or logs, sets the
   * exit status and returns PSPF_EIO. */
  int (*commit)(pspf_ctx_t *ctx, pspf_sink_t *s, uint64_t checkpoint);
  /* Commits and closes [s]. */
  int (*close)(pspf_ctx_t *ctx, pspf_sink_t *s);
  /* Optional: a sink whose output commits after the checkpoint (a Kafka
   * transaction). [commit] then only makes the output ready (delivered,
   * s->length left at what is committed), and [done] commits it once
   * checkpoint [checkpoint] is durable, before any further record
   * reaches [s]. Returns 0 or logs, sets the exit status and returns
   * PSPF_EIO. */
  int (*done)(pspf_ctx_t *ctx, pspf_sink_t *s, uint64_t checkpoint);
  /* Optional, with [done]: on recovery, before [s] opens, the id of the
   * newest checkpoint whose output [s] has committed for certain (0: none
   * known). A checkpoint whose output is not committed is passed over for
   * the one before it. */
  uint64_t (*committed)(pspf_ctx_t *ctx, pspf_sink_t *s);
} pspf_sink_ops_t;

/* The table of a SQLite sink, as the emitted code describes it. */
typedef struct pspf_sql_table_s {
  const char *name;          /* table name */
  const char *const *cols;   /* column names: the record's fields */
  const char *const *types;  /* their SQLite types: INTEGER, REAL, TEXT */
  int ncols;                 /* how many */
  const char *const *keys;   /* key: columns (writes are upserts), or NULL */
  int nkeys;                 /* how many */
} pspf_sql_table_t;

/* A buffered output: a file, stdout or the console; or through [ops], a
 * SQLite table. */
struct pspf_sink_s {
  const char *name;  /* in the program */
  const char *kind;  /* connector and format: "file csv", "console json" */
  const char *path;  /* file path; "-" is stdout */
  bool append;       /* open for appending */
  int fd;            /* open descriptor, or -1 */
  pspf_buf_t buf;    /* pending output */
  uint64_t records;  /* records written */
  uint64_t length;   /* bytes in the file (written, or there before) */
  /* Recovery: the file is cut back to [resume_at] bytes when it opens,
   * dropping what was written after the checkpoint (-1: not resuming). */
  int64_t resume_at;
  const pspf_sink_ops_t *ops;     /* NULL for files, stdout, console */
  const pspf_sql_table_t *table;  /* a SQLite sink's table */
  void *impl;                     /* what [ops] keep */
  const char *topic;              /* mqtt: the topic */
  int qos;                        /* mqtt: 0 or 1 */
  const char *client_id;          /* mqtt: given, or NULL */
  pspf_buf_t key;                 /* kafka: the message key being made */
  /* A worker's output of one chunk: segments (pspf_seg_t) of buf, each
   * from one step, pipeline and window, merged in order by the runtime. */
  pspf_buf_t segs;
  size_t seg_prev;                /* where the last record written began */
};

/* SQLite sinks (link with -lsqlite3). Rows are inserted in batches, in
 * one transaction committed every PSPF_SQL_BATCH rows, when the input goes
 * quiet, and with each checkpoint (with the checkpoint's id, in table
 * _pspf_checkpoints). The committed position is the table's largest row
 * id: recovery deletes the rows after it. */
PSPF_EXTERN extern const pspf_sink_ops_t pspf_sqlite_ops;
#define PSPF_SQL_BATCH 65536
/* Bind column [col] (0-based) of the row being written to [s]. Strings
 * must stay valid until pspf_sql_row(). */
PSPF_EXTERN void pspf_sql_i64(pspf_sink_t *s, int col, int64_t v);
PSPF_EXTERN void pspf_sql_f64(pspf_sink_t *s, int col, double v);
PSPF_EXTERN void pspf_sql_text(pspf_sink_t *s, int col, const char *p,
                               size_t n);
PSPF_EXTERN void pspf_sql_null(pspf_sink_t *s, int col);
/* A timestamp, as RFC 3339 text (copied). */
PSPF_EXTERN void pspf_sql_timestamp(pspf_sink_t *s, int col, int64_t ms);
/* Writes the row bound; a failure logs, sets the exit status and stops
 * the program. */
PSPF_EXTERN void pspf_sql_row(pspf_ctx_t *ctx, pspf_sink_t *s);

/* MQTT (link with -lmosquitto): a source, and a sink whose writer puts a
 * record's text in s->buf and calls pspf_mqtt_publish(). */
PSPF_EXTERN extern const pspf_source_ops_t pspf_mqtt_source_ops;
PSPF_EXTERN extern const pspf_sink_ops_t pspf_mqtt_sink_ops;
PSPF_EXTERN void pspf_mqtt_publish(pspf_ctx_t *ctx, pspf_sink_t *s);

/* Kafka (link with -lrdkafka): a sink whose writer puts a record's text
 * in s->buf and calls pspf_kafka_produce() with its key (or NULL, 0);
 * s->path is the bootstrap servers. */
PSPF_EXTERN extern const pspf_sink_ops_t pspf_kafka_sink_ops;
PSPF_EXTERN extern const pspf_source_ops_t pspf_kafka_source_ops;
PSPF_EXTERN void pspf_kafka_produce(pspf_ctx_t *ctx, pspf_sink_t *s,
                                    const char *key, size_t keylen);

/* True if [path] does not exist or holds no bytes (a CSV sink opened for
 * appending writes its header only then). */
PSPF_EXTERN bool pspf_file_is_empty(const char *path);

/* Opens [s]; returns 0 or logs and returns a negative code. */
PSPF_EXTERN int pspf_sink_open(pspf_ctx_t *ctx, pspf_sink_t *s);
/* Writes pending output when it is large; call after each record. */
PSPF_EXTERN void pspf_sink_maybe_flush(pspf_ctx_t *ctx, pspf_sink_t *s);
/* Writes everything pending and closes [s]. */
PSPF_EXTERN int pspf_sink_close(pspf_ctx_t *ctx, pspf_sink_t *s);

/* A piece of keyed, window or watermark state, as checkpoints see it:
 * the emitted code gives one for each stage that keeps state. */
typedef struct pspf_state_s {
  const char *layout; /* what it is: kind, key and value types, sizes
                         (the fingerprint hashes these) */
  const char *where;  /* the .pspf place it comes from: "prog.pspf:12" */
  /* Appends the state to [w]; returns how many keys it holds. */
  uint64_t (*save)(pspf_buf_t *w);
  /* Restores the state from [r] into the empty state of a fresh start;
   * an inconsistent payload sets r->error. */
  void (*load)(pspf_ckr_t *r);
  /* Optional: the keys it holds now, and in [*windows] the windows open
   * (left alone if it has none), for /metrics. */
  uint64_t (*held)(uint64_t *windows);
  /* PSPF_STATE_*: how --workers hold it (a checkpoint restored with
   * another number of workers spreads it accordingly). */
  int split;
} pspf_state_t;

#define PSPF_STATE_KEYED 1  /* keyed, split by key over the workers */
#define PSPF_STATE_SHARED 2 /* a watermark: every worker has the same */
#define PSPF_STATE_FIRST 3  /* the first worker's alone */

/* --metrics-addr HOST:PORT: an HTTP server on the loop answering GET
 * /metrics (the Prometheus text format, made by [fn] into [out]) and GET
 * /healthz (200 while the program runs normally, else 503). Returns 0,
 * or logs and returns -1. */
typedef void (*pspf_metrics_fn)(void *arg, pspf_buf_t *out);
PSPF_EXTERN int pspf_metrics_start(pspf_ctx_t *ctx, const char *addr,
                                   pspf_metrics_fn fn, void *arg);
/* Closes the server (the loop closes its handle on its next turn). */
PSPF_EXTERN void pspf_metrics_stop(void);
/* A metric's # HELP and # TYPE lines ([type]: counter or gauge). */
PSPF_EXTERN void pspf_metric_head(pspf_buf_t *b, const char *name,
                                  const char *type, const char *help);
/* One sample: NAME{LABEL="VALUE"} V, or NAME V when [label] is NULL. */
PSPF_EXTERN void pspf_metric(pspf_buf_t *b, const char *name,
                             const char *label, const char *value, double v);
/* One sample with labels already written: NAME{LABELS} V. */
PSPF_EXTERN void pspf_metric_labels(pspf_buf_t *b, const char *name,
                                    const char *labels, double v);
/* Appends KEY="VALUE" (escaped; a comma before it if [out] is not
 * empty) to the label string [out] of [n] bytes. */
PSPF_EXTERN void pspf_label(char *out, size_t n, const char *key,
                            const char *value);

/* An operator of the program, as /metrics shows it: the emitted code
 * counts the records that go into it and out of it. */
typedef struct pspf_op_stat_s {
  const char *op;          /* "map", "window", ... */
  const char *where;       /* "prog.pspf:12" */
  uint64_t in;             /* records into it */
  uint64_t out;            /* records out of it, to the next stage */
  const int64_t *watermark; /* event_time: its watermark (ms), else NULL */
} pspf_op_stat_t;

typedef struct pspf_program_s pspf_program_t;

/* What pspf_main() hands a scaled-out run (--scale-out). */
typedef struct pspf_scale_opts_s {
  const char *ck_dir;       /* --checkpoint-dir: the store every instance
                               reaches (one directory a partition in it) */
  int64_t interval_ms;      /* --checkpoint-interval */
  bool reset;               /* --checkpoint-reset: partitions start over */
  int64_t session_ms;       /* --session-timeout: how long the group waits
                               for an instance that went silent */
  bool kafka_store;         /* --state-store=kafka: the partitions' state in
                               a compacted topic, not in ck_dir */
  const char *metrics_addr; /* --metrics-addr, or NULL */
  uint64_t fingerprint;     /* of the program's state layout */
  size_t nlayout;           /* the layout's lines ... */
  const pspf_str_t *layout; /* ... for each checkpoint's META */
  const char *const *where; /* ... and their .pspf places */
} pspf_scale_opts_t;

/* Runs [prog] as one instance of several sharing its kafka source's
 * topic through the consumer group protocol (group.c). Returns the exit
 * status. Only programs with a kafka source link it. */
PSPF_EXTERN int pspf_scale_out(pspf_program_t *prog, pspf_ctx_t *ctx,
                               const pspf_scale_opts_t *o);

/* The whole program. */
struct pspf_program_s {
  const char *name;         /* program name (the .pspf file's stem) */
  const char *source_file;  /* the .pspf path it was built from */
  const char *source_text;  /* that file's text, embedded (--print-source) */
  size_t source_len;        /* its bytes */
  const char *built_by;     /* "pspfc VERSION" */
  pspf_param_t *params;     /* its params */
  int nparams;              /* how many */
  pspf_source_t *sources;   /* its sources */
  int nsources;             /* how many */
  pspf_sink_t *sinks;       /* its sinks */
  int nsinks;               /* how many */
  pspf_state_t *states;     /* its state, for checkpoints */
  int nstates;              /* how many */
  pspf_op_stat_t *ops;      /* its operators, for /metrics */
  int nops;                 /* how many */
  /* After flags are parsed: compute lets, fill source and sink paths.
   * Returns 0 or an exit status. */
  int (*start)(pspf_ctx_t *ctx);
  /* After every source has ended: fire what is still open. */
  void (*finish)(pspf_ctx_t *ctx);
  /* The calling thread's sinks (the program's sinks are thread-local). */
  pspf_sink_t *(*worker_sinks)(void);
  /* The calling thread's operators (their counts and watermarks). */
  pspf_op_stat_t *(*worker_ops)(void);
  /* Why the program cannot run on several workers, or NULL. */
  const char *split_refusal;
  /* PSPF_SPLIT_*: how its pipelines share the work (a worker skips the
   * chunks where it has nothing to do). */
  int split;
  /* pspf_scale_out for a program that reads a kafka source, else NULL. */
  int (*scale_out)(pspf_program_t *prog, pspf_ctx_t *ctx,
                   const pspf_scale_opts_t *o);
  /* Why it cannot run with --scale-out, or NULL. */
  const char *scale_refusal;
  /* Scaled out, when its key_by keys by another field than the topic's
   * key: the hash of a parsed source record's key (its partition of the
   * repartition topic), and that field's name; else NULL. */
  uint64_t (*route)(const void *rec);
  const char *route_field;
  /* ... with event time: a routed record's time (INT64_MIN: none), and
   * what moves the keyed side's watermark to ctx->time_cap. */
  int64_t (*route_time)(pspf_ctx_t *ctx, const void *rec);
  void (*tick)(pspf_ctx_t *ctx);
};

/* Parses the command line, runs [prog] to the end of its sources, and
 * returns the exit status. SIGINT and SIGTERM stop it cleanly: sources stop
 * being read, sinks are flushed and closed, open windows are not fired
 * (that happens at end of input only), and the status is 0. */
PSPF_EXTERN int pspf_main(pspf_program_t *prog, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* PSPF_RT_H */
