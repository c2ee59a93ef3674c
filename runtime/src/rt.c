/*
 * rt.c -- the run time of a built program: command line and params, the
 * libuv loop that reads sources in large blocks, record framing, bad
 * records and the dead-letter file, buffered sinks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "pspf/rt.h"

#define READ_BLOCK (1u << 20)  /* bytes asked for per read */
#define FLUSH_AT (1u << 20)    /* sink bytes kept before a write */

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

char *pspf_scratch(pspf_ctx_t *ctx, size_t n) {
  char *p = pspf_buf_reserve(&ctx->scratch, n);
  if (!p) {
    pspf_log(ctx, 0, "out of memory");
    exit(PSPF_EXIT_FAILURE);
  }
  ctx->scratch.n += n;
  return p;
}

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

typedef struct reader_s {
  uv_fs_t req;          /* the read in flight */
  uv_file fd;           /* the open file */
  char *buf;            /* block buffer */
  size_t cap;           /* its size */
  size_t len;           /* bytes held (a partial record at the start) */
  uint64_t base;        /* input offset of buf[0] */
  uint64_t recno;       /* records seen */
  bool header_done;     /* csv header consumed */
  pspf_source_t *src;   /* what to read */
  pspf_ctx_t *ctx;      /* the run */
  bool done;            /* end reached or stopped */
} reader_t;

static void process(reader_t *r, bool at_eof) {
  pspf_ctx_t *ctx = r->ctx;
  pspf_framing_t f =
      r->src->format == PSPF_FMT_CSV ? PSPF_FRAME_CSV : PSPF_FRAME_LINES;
  size_t off = 0;
  while (off < r->len && !ctx->stopping) {
    size_t used;
    long n = pspf_next_record(r->buf + off, r->len - off, f, at_eof, &used);
    if (n < 0)
      break;
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
    /* A blank line is no record in csv or json. */
    if (n == 0 && r->src->format != PSPF_FMT_LINES)
      continue;
    ctx->records_in++;
    r->src->on_record(ctx, p, (size_t)n);
    if (ctx->fault)
      pspf_bad_record(ctx);
    ctx->scratch.n = 0;
  }
  memmove(r->buf, r->buf + off, r->len - off);
  r->len -= off;
  r->base += off;
}

static void on_read(uv_fs_t *req);

static void read_more(reader_t *r) {
  if (r->cap - r->len < READ_BLOCK / 2) {
    /* A record longer than the buffer: grow it. */
    size_t cap = r->cap * 2;
    char *nb = realloc(r->buf, cap);
    if (!nb) {
      pspf_log(r->ctx, 0, "out of memory reading '%s'", r->src->path);
      r->ctx->exit_status = PSPF_EXIT_FAILURE;
      r->done = true;
      return;
    }
    r->buf = nb;
    r->cap = cap;
  }
  uv_buf_t b = uv_buf_init(r->buf + r->len, (unsigned)(r->cap - r->len));
  r->req.data = r;
  int e = uv_fs_read(uv_default_loop(), &r->req, r->fd, &b, 1, -1, on_read);
  if (e < 0) {
    pspf_log(r->ctx, 0, "cannot read '%s': %s", r->src->path, uv_strerror(e));
    r->ctx->exit_status = PSPF_EXIT_FAILURE;
    r->done = true;
  }
}

static void on_read(uv_fs_t *req) {
  reader_t *r = req->data;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  if (n < 0) {
    pspf_log(r->ctx, 0, "cannot read '%s': %s", r->src->path,
             uv_strerror((int)n));
    r->ctx->exit_status = PSPF_EXIT_FAILURE;
    r->ctx->stopping = true;
    r->done = true;
    return;
  }
  r->len += (size_t)n;
  process(r, n == 0);
  if (n == 0 || r->ctx->stopping) {
    if (!r->ctx->stopping && r->len)
      process(r, true);
    r->done = true;
    r->src->ended = true;
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
    const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!val) {
      fprintf(stderr, "%s: error: option '%s' needs a value\n", prog->name, a);
      free(given);
      return PSPF_EXIT_USAGE;
    }
#define IS(s) (nlen == strlen(s) && strncmp(name, s, nlen) == 0)
    if (IS("dead-letter")) {
      dead = val;
      continue;
    }
    if (IS("max-bad-records")) {
      max_bad = val;
      continue;
    }
    if (IS("log-level")) {
      level = val;
      continue;
    }
    int found = -1;
    for (int j = 0; j < prog->nparams; j++) {
      const char *pn = prog->params[j].name;
      bool same = strlen(pn) == nlen;
      for (size_t k = 0; same && k < nlen; k++)
        same = pn[k] == name[k] || (pn[k] == '_' && name[k] == '-');
      if (same)
        found = j;
    }
#undef IS
    if (found < 0) {
      fprintf(stderr, "%s: error: unknown option '--%.*s' (see --help)\n",
              prog->name, (int)nlen, name);
      free(given);
      return PSPF_EXIT_USAGE;
    }
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
      fprintf(stderr, "%s: error: --%s takes a %s, not '%s'\n", prog->name,
              p->name, type_name(p->type), v);
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
  reader_t *readers = calloc((size_t)prog->nsources, sizeof *readers);
  for (int i = 0; i < prog->nsources && !ctx.stopping; i++) {
    reader_t *r = &readers[i];
    r->src = &prog->sources[i];
    r->ctx = &ctx;
    r->cap = READ_BLOCK * 2;
    r->buf = malloc(r->cap);
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
        ctx.stopping = true;
        r->done = true;
        continue;
      }
    }
    read_more(r);
  }
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
  /* Every source has ended: fire what is open, unless stopping early. */
  if (!ctx.exit_status)
    prog->finish(&ctx);
  for (int i = 0; i < prog->nsinks; i++)
    if (pspf_sink_close(&ctx, &prog->sinks[i]) < 0 && !ctx.exit_status)
      ctx.exit_status = PSPF_EXIT_FAILURE;
  if (ctx.dead)
    fclose(ctx.dead);
  if (ctx.bad)
    pspf_log(&ctx, 1, "%llu bad record%s written to %s",
             (unsigned long long)ctx.bad, ctx.bad == 1 ? "" : "s",
             ctx.dead_path);
  pspf_buf_free(&ctx.scratch);
  uv_loop_close(loop);
  return ctx.exit_status;
}
