/*
 * sqlite.c -- the SQLite sink (rt.h: pspf_sqlite_ops, pspf_sql_*). Only
 * programs with a sqlite sink reference pspf_sqlite_ops, so only they link
 * this file and -lsqlite3.
 *
 * The table is created from the record type if it is not there; with
 * key: [fields] its primary key is those fields and every write is an
 * upsert. Rows go in through one prepared INSERT, in a transaction that
 * is committed every PSPF_SQL_BATCH rows, when the runtime flushes its
 * sinks, and at each checkpoint. A checkpoint's commit also records, in
 * _pspf_checkpoints, the checkpoint's id and the table's largest row id;
 * that row id is the sink's committed position in the checkpoint. The
 * database is in WAL mode with synchronous=FULL, so a commit is durable
 * when it returns.
 *
 * Exactly once: the commit happens before the checkpoint file is written.
 * Recovery from a checkpoint deletes the rows whose id is above its
 * committed position (written after it; they are written again). An
 * upserted row that was updated after the checkpoint keeps its newer
 * values until the replay writes the same updates again.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pspf/rt.h"

/* One connection a database file, shared by the sinks that write to it
 * (two connections would lock each other out): one transaction holds the
 * rows of all of them. */
typedef struct conn_s {
  struct conn_s *next;
  char *path;
  sqlite3 *db;
  int refs;
  pspf_ctx_t *ctx;     /* for the busy handler's log line */
  pspf_retry_t retry;  /* waiting for a lock another process holds */
} conn_t;
static conn_t *conns;

typedef struct sql_s {
  conn_t *conn;
  sqlite3 *db;
  sqlite3_stmt *ins;    /* INSERT (or upsert) of one row */
  sqlite3_stmt *mark;   /* the checkpoint id, in _pspf_checkpoints */
  sqlite3_stmt *maxrow; /* the largest row id */
  uint64_t pending;     /* rows since the last commit */
} sql_t;

/* Appends identifier [id] quoted for SQL ("a""b"). */
static void quote(pspf_buf_t *b, const char *id) {
  pspf_buf_add(b, "\"", 1);
  for (const char *p = id; *p; p++) {
    if (*p == '"')
      pspf_buf_add(b, "\"", 1);
    pspf_buf_add(b, p, 1);
  }
  pspf_buf_add(b, "\"", 1);
}

static void add(pspf_buf_t *b, const char *s) { pspf_buf_add(b, s, strlen(s)); }

static int fail(pspf_ctx_t *ctx, pspf_sink_t *s, const char *what) {
  sql_t *q = s->impl;
  pspf_log(ctx, 0, "sink '%s' (table '%s' in %s): %s: %s", s->name,
           s->table->name, s->path, what,
           q && q->db ? sqlite3_errmsg(q->db) : "cannot open the database");
  ctx->exit_status = PSPF_EXIT_FAILURE;
  ctx->stopping = true;
  return PSPF_EIO;
}

/* SQLite's busy handler: [n] calls so far for this lock. Returns
 * nonzero to try again. */
static int on_busy(void *arg, int n) {
  conn_t *c = arg;
  if (n == 0) {
    c->retry = (pspf_retry_t){0};
    pspf_log(c->ctx, 1, "sqlite %s: the database is locked by another "
             "process; the program waits and retries (for up to %lld ms, "
             "--sink-retry-limit)", c->path, (long long)pspf_sink_retry_ms());
  }
  return pspf_retry_wait(&c->retry);
}

static int exec(sql_t *q, const char *sql) {
  return sqlite3_exec(q->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int64_t max_rowid(sql_t *q) {
  int64_t v = -1;
  if (sqlite3_step(q->maxrow) == SQLITE_ROW)
    v = sqlite3_column_int64(q->maxrow, 0);
  sqlite3_reset(q->maxrow);
  return v;
}

static int sql_open(pspf_ctx_t *ctx, pspf_sink_t *s) {
  const pspf_sql_table_t *t = s->table;
  sql_t *q = calloc(1, sizeof *q);
  if (!q)
    return fail(ctx, s, "out of memory");
  s->impl = q;
  for (conn_t *c = conns; c && !q->conn; c = c->next)
    if (strcmp(c->path, s->path) == 0)
      q->conn = c;
  if (q->conn) {
    q->conn->refs++;
    q->db = q->conn->db;
  } else {
    conn_t *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(s->path))) {
      free(c);
      return fail(ctx, s, "out of memory");
    }
    c->refs = 1;
    c->next = conns;
    conns = c;
    q->conn = c;
    if (sqlite3_open_v2(s->path, &c->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
      q->db = c->db;
      return fail(ctx, s, "cannot open the database");
    }
    q->db = c->db;
    /* A database locked by another process is waited for, with the
     * sinks' backoff, up to their retry limit. */
    c->ctx = ctx;
    sqlite3_busy_handler(q->db, on_busy, c);
    if (exec(q, "PRAGMA journal_mode=WAL") < 0 ||
        exec(q, "PRAGMA synchronous=FULL") < 0)
      return fail(ctx, s, "cannot set WAL mode");
  }
  /* The table, from the record type. */
  pspf_buf_t b = {0};
  add(&b, "CREATE TABLE IF NOT EXISTS ");
  quote(&b, t->name);
  add(&b, " (");
  for (int i = 0; i < t->ncols; i++) {
    if (i)
      add(&b, ", ");
    quote(&b, t->cols[i]);
    add(&b, " ");
    add(&b, t->types[i]);
  }
  if (t->nkeys) {
    add(&b, ", PRIMARY KEY (");
    for (int i = 0; i < t->nkeys; i++) {
      if (i)
        add(&b, ", ");
      quote(&b, t->keys[i]);
    }
    add(&b, ")");
  }
  add(&b, ")");
  pspf_buf_add(&b, "", 1);
  int rc = exec(q, b.p);
  b.n = 0;
  if (rc < 0) {
    pspf_buf_free(&b);
    return fail(ctx, s, "cannot create the table");
  }
  if (exec(q, "CREATE TABLE IF NOT EXISTS _pspf_checkpoints (sink TEXT "
              "PRIMARY KEY, checkpoint INTEGER NOT NULL, last_rowid INTEGER "
              "NOT NULL)") < 0) {
    pspf_buf_free(&b);
    return fail(ctx, s, "cannot create table _pspf_checkpoints");
  }
  /* INSERT INTO t (a, b) VALUES (?, ?) [ON CONFLICT (k) DO UPDATE SET
   * a = excluded.a, ...] */
  add(&b, "INSERT INTO ");
  quote(&b, t->name);
  add(&b, " (");
  for (int i = 0; i < t->ncols; i++) {
    if (i)
      add(&b, ", ");
    quote(&b, t->cols[i]);
  }
  add(&b, ") VALUES (");
  for (int i = 0; i < t->ncols; i++)
    add(&b, i ? ", ?" : "?");
  add(&b, ")");
  if (t->nkeys) {
    add(&b, " ON CONFLICT (");
    for (int i = 0; i < t->nkeys; i++) {
      if (i)
        add(&b, ", ");
      quote(&b, t->keys[i]);
    }
    add(&b, ") DO ");
    int set = 0;
    for (int i = 0; i < t->ncols; i++) {
      bool key = false;
      for (int k = 0; k < t->nkeys; k++)
        key |= strcmp(t->cols[i], t->keys[k]) == 0;
      if (key)
        continue;
      add(&b, set++ ? ", " : "UPDATE SET ");
      quote(&b, t->cols[i]);
      add(&b, " = excluded.");
      quote(&b, t->cols[i]);
    }
    if (!set)
      add(&b, "NOTHING");
  }
  pspf_buf_add(&b, "", 1);
  rc = sqlite3_prepare_v2(q->db, b.p, -1, &q->ins, NULL);
  b.n = 0;
  if (rc != SQLITE_OK) {
    pspf_buf_free(&b);
    return fail(ctx, s, "the table does not fit the records written (an "
                        "older table of the same name?)");
  }
  add(&b, "SELECT coalesce(max(rowid), 0) FROM ");
  quote(&b, t->name);
  pspf_buf_add(&b, "", 1);
  rc = sqlite3_prepare_v2(q->db, b.p, -1, &q->maxrow, NULL);
  pspf_buf_free(&b);
  if (rc != SQLITE_OK)
    return fail(ctx, s, "the table has no row ids");
  if (sqlite3_prepare_v2(q->db, "INSERT OR REPLACE INTO _pspf_checkpoints "
                         "(sink, checkpoint, last_rowid) VALUES (?, ?, ?)",
                         -1, &q->mark, NULL) != SQLITE_OK)
    return fail(ctx, s, "cannot prepare the checkpoint mark");
  if (sqlite3_get_autocommit(q->db) && exec(q, "BEGIN") < 0)
    return fail(ctx, s, "cannot begin a transaction");
  int64_t last = max_rowid(q);
  if (last < 0)
    return fail(ctx, s, "cannot read the largest row id");
  if (s->resume_at >= 0) {
    /* Recovery: the rows written after the checkpoint go. */
    if (last < s->resume_at) {
      pspf_log(ctx, 0, "sink '%s': table '%s' in %s ends at row %lld, before "
               "row %lld that its checkpoint committed: the database was "
               "changed outside the program (put it back, or start over "
               "with --checkpoint-reset)", s->name, t->name, s->path,
               (long long)last, (long long)s->resume_at);
      ctx->exit_status = PSPF_EXIT_FAILURE;
      return PSPF_EIO;
    }
    b = (pspf_buf_t){0};
    add(&b, "DELETE FROM ");
    quote(&b, t->name);
    add(&b, " WHERE rowid > ?");
    pspf_buf_add(&b, "", 1);
    sqlite3_stmt *del;
    rc = sqlite3_prepare_v2(q->db, b.p, -1, &del, NULL);
    pspf_buf_free(&b);
    if (rc == SQLITE_OK) {
      sqlite3_bind_int64(del, 1, s->resume_at);
      rc = sqlite3_step(del);
      sqlite3_finalize(del);
    }
    if (rc != SQLITE_DONE)
      return fail(ctx, s, "cannot delete the rows written after the "
                          "checkpoint");
    if (last > s->resume_at)
      pspf_log(ctx, 2, "sink '%s': deleted the %d rows of table '%s' written "
               "after the checkpoint", s->name, sqlite3_changes(q->db),
               t->name);
    last = s->resume_at;
  }
  s->length = (uint64_t)last;
  return 0;
}

static int sql_commit(pspf_ctx_t *ctx, pspf_sink_t *s, uint64_t checkpoint) {
  sql_t *q = s->impl;
  if (!q || !q->db || !q->ins)
    return 0;
  if (!q->pending && !checkpoint)
    return 0;
  int64_t last = max_rowid(q);
  if (last < 0)
    return fail(ctx, s, "cannot read the largest row id");
  if (checkpoint) {
    sqlite3_bind_text(q->mark, 1, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q->mark, 2, (sqlite3_int64)checkpoint);
    sqlite3_bind_int64(q->mark, 3, last);
    int rc = sqlite3_step(q->mark);
    sqlite3_reset(q->mark);
    if (rc != SQLITE_DONE)
      return fail(ctx, s, "cannot record the checkpoint");
  }
  if ((!sqlite3_get_autocommit(q->db) && exec(q, "COMMIT") < 0) ||
      exec(q, "BEGIN") < 0)
    return fail(ctx, s, "cannot commit");
  q->pending = 0;
  s->length = (uint64_t)last;
  return 0;
}

static int sql_close(pspf_ctx_t *ctx, pspf_sink_t *s) {
  sql_t *q = s->impl;
  int r = 0;
  if (!q)
    return 0;
  if (q->db && q->ins && !ctx->exit_status && !sqlite3_get_autocommit(q->db) &&
      exec(q, "COMMIT") < 0)
    r = fail(ctx, s, "cannot commit");
  sqlite3_finalize(q->ins);
  sqlite3_finalize(q->mark);
  sqlite3_finalize(q->maxrow);
  conn_t *c = q->conn;
  if (c && --c->refs == 0) {
    sqlite3_close(c->db); /* an open transaction is rolled back */
    for (conn_t **p = &conns; *p; p = &(*p)->next)
      if (*p == c) {
        *p = c->next;
        break;
      }
    free(c->path);
    free(c);
  }
  free(q);
  s->impl = NULL;
  return r;
}

const pspf_sink_ops_t pspf_sqlite_ops = {
    .open = sql_open, .commit = sql_commit, .close = sql_close};

void pspf_sql_i64(pspf_sink_t *s, int col, int64_t v) {
  sqlite3_bind_int64(((sql_t *)s->impl)->ins, col + 1, v);
}

void pspf_sql_f64(pspf_sink_t *s, int col, double v) {
  sqlite3_bind_double(((sql_t *)s->impl)->ins, col + 1, v);
}

void pspf_sql_text(pspf_sink_t *s, int col, const char *p, size_t n) {
  sqlite3_bind_text64(((sql_t *)s->impl)->ins, col + 1, n ? p : "", n,
                      SQLITE_STATIC, SQLITE_UTF8);
}

void pspf_sql_timestamp(pspf_sink_t *s, int col, int64_t ms) {
  char nb[PSPF_FMT_MAX];
  size_t n = pspf_format_timestamp(ms, nb);
  sqlite3_bind_text64(((sql_t *)s->impl)->ins, col + 1, nb, n,
                      SQLITE_TRANSIENT, SQLITE_UTF8);
}

void pspf_sql_null(pspf_sink_t *s, int col) {
  sqlite3_bind_null(((sql_t *)s->impl)->ins, col + 1);
}

void pspf_sql_row(pspf_ctx_t *ctx, pspf_sink_t *s) {
  sql_t *q = s->impl;
  if (ctx->exit_status)
    return;
  int rc = sqlite3_step(q->ins);
  sqlite3_reset(q->ins);
  if (rc != SQLITE_DONE) {
    fail(ctx, s, "cannot insert a row");
    return;
  }
  s->records++;
  if (++q->pending >= PSPF_SQL_BATCH)
    sql_commit(ctx, s, 0);
}
