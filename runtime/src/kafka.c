/*
 * kafka.c -- Kafka sinks on librdkafka (rt.h: pspf_kafka_sink_ops,
 * pspf_kafka_produce). Only programs with a kafka sink reference them, so
 * only they link this file and -lrdkafka.
 *
 * The producer is idempotent (enable.idempotence: no duplicates or
 * reordering from its own retries, acks=all). Each record is one message:
 * its value the record in the sink's format, its key the key: field(s) as
 * text (several joined with ','), else none. Delivery reports are served
 * by rd_kafka_poll() after each produce and on a 100 ms timer of the loop.
 * A full local queue makes the program wait for deliveries (backpressure:
 * its sources pause), for at most --sink-retry-limit; at a checkpoint and
 * at close every message is flushed (delivered or failed); a failed
 * delivery stops the program with status 2. Kafka sinks are at least once
 * for now: records after the last checkpoint are produced again after a
 * crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "kafka.h"
#include "pspf/rt.h"

typedef struct kp_s {
  bool txn;            /* transactional: one transaction a checkpoint */
  rd_kafka_t *rk;
  rd_kafka_topic_t *topic;
  pspf_ctx_t *ctx;
  pspf_sink_t *sink;
  uv_timer_t timer;
  uint64_t failed;     /* deliveries that failed */
  char first_error[256];
  /* The open transaction's first and last offset in each partition
   * delivered to (-1: none), for its line in the commit journal. */
  int64_t (*range)[2];
  int nrange;
  uint64_t committed;  /* records in committed transactions */
  uint64_t last_ck;    /* the last checkpoint committed with */
  char group[300];     /* client.id, transactional.id, and the group of the
                          checkpoint ids committed with the transactions */
  char dir[4096];      /* where its commit journal is */
  kafka_journal_fn journal; /* ... or where its lines go instead */
  void *journal_arg;
} kp_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  (void)rk;
  kp_t *k = opaque;
  if (m->err) {
    if (!k->failed)
      snprintf(k->first_error, sizeof k->first_error, "%s",
               rd_kafka_err2str(m->err));
    k->failed++;
    return;
  }
  int p = m->partition;
  if (p < 0 || p >= 1 << 20)
    return;
  if (p >= k->nrange) {
    int n = p + 1 > 2 * k->nrange ? p + 1 : 2 * k->nrange;
    int64_t(*r)[2] = realloc(k->range, (size_t)n * sizeof *r);
    if (!r)
      return; /* (the journal line then lacks this partition) */
    for (int i = k->nrange; i < n; i++)
      r[i][0] = r[i][1] = -1;
    k->range = r;
    k->nrange = n;
  }
  if (k->range[p][0] < 0)
    k->range[p][0] = m->offset;
  k->range[p][1] = m->offset;
}

static void on_timer(uv_timer_t *h) {
  kp_t *k = h->data;
  rd_kafka_poll(k->rk, 0);
}

bool kafka_conf_set_all(rd_kafka_conf_t *conf, const char *const (*set)[2],
                        size_t n, char *err, size_t errlen) {
  for (size_t i = 0; i < n; i++)
    if (rd_kafka_conf_set(conf, set[i][0], set[i][1], err, errlen) !=
        RD_KAFKA_CONF_OK)
      return false;
  return true;
}

/* "pspf-PROGRAM-SINK": the sink's client id, transactional id and group. */
static void sink_id(const pspf_sink_t *s, char *buf, size_t n) {
  snprintf(buf, n, "pspf-%s-%s", pspf_program_name(), s->name);
}

static int fail(pspf_ctx_t *ctx, pspf_sink_t *s, const char *what) {
  pspf_log(ctx, 0, "sink '%s' (kafka %s, topic '%s'): %s; stopping (a "
           "restart goes on from the last checkpoint)", s->name, s->path,
           s->topic, what);
  ctx->exit_status = PSPF_EXIT_FAILURE;
  ctx->stopping = true;
  return PSPF_EIO;
}

/* Opens sink [s] with transactional id (and client id, and group of its
 * checkpoint ids) [id], its commit journal in [dir]; [task]: a
 * partition's, whose thread polls it (no timer of the loop). */
static int open_as(pspf_ctx_t *ctx, pspf_sink_t *s, const char *id,
                   const char *dir, bool task, kafka_journal_fn journal,
                   void *journal_arg) {
  kp_t *k = calloc(1, sizeof *k);
  if (!k)
    return fail(ctx, s, "out of memory");
  k->ctx = ctx;
  k->sink = s;
  k->journal = journal;
  k->journal_arg = journal_arg;
  s->impl = k;
  char err[512];
  snprintf(k->group, sizeof k->group, "%s", id);
  snprintf(k->dir, sizeof k->dir, "%s", dir ? dir : "");
  const char *const set[][2] = {
      {"bootstrap.servers", s->path}, {"client.id", k->group},
      {"enable.idempotence", "true"}, {"acks", "all"},
      {"linger.ms", "5"},             {"log_level", "4"},
      {"message.timeout.ms", "0"}, /* no giving up: the retry limit does */
  };
  /* With checkpoints, the messages between two checkpoints are one
   * transaction, committed with the checkpoint (the id stays the same
   * from run to run, so a restart fences off, and aborts, the
   * transaction a crash left open). */
  const char *const txn[][2] = {{"transactional.id", k->group},
                                {"message.timeout.ms", "60000"}};
  k->txn = task || pspf_checkpointing(); /* (a task always checkpoints) */
  k->committed = s->records; /* (restored: what its checkpoint committed) */
  s->length = s->records;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (!kafka_conf_set_all(conf, set, sizeof set / sizeof set[0], err, sizeof err) ||
      (k->txn &&
       !kafka_conf_set_all(conf, txn, sizeof txn / sizeof txn[0], err, sizeof err))) {
    rd_kafka_conf_destroy(conf);
    return fail(ctx, s, err);
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, k);
  k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!k->rk)
    return fail(ctx, s, err);
  k->topic = rd_kafka_topic_new(k->rk, s->topic, NULL);
  if (!k->topic)
    return fail(ctx, s, rd_kafka_err2str(rd_kafka_last_error()));
  if (k->txn) {
    int64_t ms = pspf_sink_retry_ms();
    rd_kafka_error_t *e =
        rd_kafka_init_transactions(k->rk, ms > INT32_MAX ? INT32_MAX : (int)ms);
    if (!e)
      e = rd_kafka_begin_transaction(k->rk);
    if (!e)
      pspf_log(ctx, 3, "sink '%s': transaction begun", s->name);
    if (e) {
      char what[400];
      snprintf(what, sizeof what, "cannot start a transaction: %s",
               rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      return fail(ctx, s, what);
    }
  }
  if (task)
    return 0;
  uv_timer_init(uv_default_loop(), &k->timer);
  k->timer.data = k;
  uv_timer_start(&k->timer, on_timer, 100, 100);
  uv_unref((uv_handle_t *)&k->timer);
  return 0;
}

static int sink_open(pspf_ctx_t *ctx, pspf_sink_t *s) {
  char id[300];
  sink_id(s, id, sizeof id);
  return open_as(ctx, s, id, pspf_checkpoint_dir(), false, NULL, NULL);
}

void kafka_task_sink_restored(pspf_sink_t *s) {
  kp_t *k = s->impl;
  s->length = s->records;
  if (k)
    k->committed = s->records;
}

int kafka_task_sink_open(pspf_ctx_t *ctx, pspf_sink_t *s, const char *id,
                         const char *dir, kafka_journal_fn journal,
                         void *journal_arg) {
  return open_as(ctx, s, id, dir, true, journal, journal_arg);
}

/* Waits until every message is delivered or failed, for at most the
 * retry limit. */
static int flush(pspf_ctx_t *ctx, pspf_sink_t *s) {
  kp_t *k = s->impl;
  if (!k || !k->rk)
    return 0;
  int64_t ms = pspf_sink_retry_ms();
  rd_kafka_resp_err_t e =
      rd_kafka_flush(k->rk, ms > INT32_MAX ? INT32_MAX : (int)ms);
  if (e == RD_KAFKA_RESP_ERR__TIMED_OUT)
    return fail(ctx, s, "messages not delivered within the retry limit");
  if (k->failed) {
    char what[400];
    snprintf(what, sizeof what, "%llu messages not delivered (%s)",
             (unsigned long long)k->failed, k->first_error);
    return fail(ctx, s, what);
  }
  if (!k->txn) /* (a transaction's records count once it commits) */
    s->length = s->records;
  return 0;
}

/* ---- the commit journal ----------------------------------------------------
 *
 * DIR/SINK.kafka-commits has a line for each transaction the sink has
 * committed, written just after the commit:
 *
 *   checkpoint=12 records=3400 messages=340 partitions=0:120-200,3:55-70
 *   close after=12 records=3450 messages=50 partitions=1:90-139
 *
 * (records: the sink's total so far; the offsets are those the broker
 * gave the transaction's messages). On recovery, the newest checkpoint
 * that a line names is the last whose output is committed for certain,
 * with the group offset below: the transaction of a checkpoint written
 * just before a crash may not be. The file starts over past 1 MiB.
 */

static void journal_path(const char *dir, pspf_sink_t *s, char *path,
                         size_t n) {
  snprintf(path, n, "%s/%s.kafka-commits", dir, s->name);
}

static void journal_add(pspf_ctx_t *ctx, pspf_sink_t *s, uint64_t checkpoint,
                        uint64_t messages) {
  kp_t *k = s->impl;
  char line[8192], path[4200];
  int n = checkpoint
              ? snprintf(line, sizeof line, "checkpoint=%llu",
                         (unsigned long long)checkpoint)
              : snprintf(line, sizeof line, "close after=%llu",
                         (unsigned long long)k->last_ck);
  n += snprintf(line + n, sizeof line - (size_t)n,
                " records=%llu messages=%llu partitions=",
                (unsigned long long)s->records, (unsigned long long)messages);
  bool first = true;
  for (int p = 0; p < k->nrange && n < (int)sizeof line - 64; p++)
    if (k->range[p][0] >= 0) {
      n += snprintf(line + n, sizeof line - (size_t)n, "%s%d:%lld-%lld",
                    first ? "" : ",", p, (long long)k->range[p][0],
                    (long long)k->range[p][1]);
      first = false;
    }
  line[n++] = '\n';
  if (k->journal) {
    if (k->journal(k->journal_arg, s->name, line, (size_t)n) < 0)
      pspf_log(ctx, 1, "sink '%s': cannot write its commit journal to the "
               "changelog", s->name);
    return;
  }
  journal_path(k->dir, s, path, sizeof path);
  struct stat st;
  bool anew = stat(path, &st) == 0 && st.st_size > (1 << 20);
  char tmp[4300];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = anew ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
                : open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && write(fd, line, (size_t)n) == n;
  if (fd >= 0)
    close(fd);
  if (ok && anew)
    ok = rename(tmp, path) == 0;
  if (!ok) /* the group offset still says it on a real broker */
    pspf_log(ctx, 1, "sink '%s': cannot write its commit journal '%s': %s",
             s->name, path, strerror(errno));
}

uint64_t kafka_journal_id(const char *line) {
  unsigned long long id;
  if (sscanf(line, "checkpoint=%llu ", &id) == 1 ||
      sscanf(line, "close after=%llu ", &id) == 1)
    return id;
  return 0;
}

/* The newest checkpoint=N of the journal, or 0. */
static uint64_t journal_last(const char *dir, pspf_sink_t *s) {
  char path[4200];
  journal_path(dir, s, path, sizeof path);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  uint64_t last = 0;
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    size_t n = strlen(line);
    /* (A line cut short by a crash is not one; "close after=N" says N
     * committed too: the file starts over past 1 MiB, maybe with one.) */
    uint64_t id = n && line[n - 1] == '\n' ? kafka_journal_id(line) : 0;
    if (id > last)
      last = id;
  }
  fclose(f);
  return last;
}

/* Commits the open transaction and begins the next; a failure aborts it
 * and stops the program (a restart goes on from the last checkpoint, and
 * produces those records again). */
static int commit_txn(pspf_ctx_t *ctx, pspf_sink_t *s, bool again,
                      uint64_t checkpoint) {
  kp_t *k = s->impl;
  int64_t ms = pspf_sink_retry_ms();
  int tmo = ms > INT32_MAX ? INT32_MAX : (int)ms;
  rd_kafka_error_t *e = NULL;
  uint64_t until = uv_hrtime() + (uint64_t)ms * 1000000u;
  if (checkpoint) {
    /* The checkpoint's id, committed in the transaction as the offset of
     * the sink's group on partition 0: on a real broker, recovery reads
     * whether this transaction committed from there. */
    rd_kafka_consumer_group_metadata_t *g =
        rd_kafka_consumer_group_metadata_new(k->group);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, s->topic, 0)->offset =
        (int64_t)checkpoint;
    while ((e = rd_kafka_send_offsets_to_transaction(k->rk, l, g, tmo)) &&
           rd_kafka_error_is_retriable(e) && uv_hrtime() < until)
      rd_kafka_error_destroy(e);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_group_metadata_destroy(g);
  }
  if (!e)
    while ((e = rd_kafka_commit_transaction(k->rk, tmo)) &&
           rd_kafka_error_is_retriable(e) && uv_hrtime() < until)
      rd_kafka_error_destroy(e);
  if (!e && !k->failed) {
    uint64_t messages = s->records - k->committed;
    journal_add(ctx, s, checkpoint, messages);
    pspf_log(ctx, 3, "sink '%s': transaction committed (%llu records, %llu "
             "so far%s)", s->name, (unsigned long long)messages,
             (unsigned long long)s->records,
             checkpoint ? ", with a checkpoint" : ", at close");
    k->committed = s->records;
    s->length = s->records;
    if (checkpoint)
      k->last_ck = checkpoint;
    for (int p = 0; p < k->nrange; p++)
      k->range[p][0] = k->range[p][1] = -1;
  }
  if (!e && again) {
    e = rd_kafka_begin_transaction(k->rk);
    if (!e)
      pspf_log(ctx, 3, "sink '%s': transaction begun", s->name);
  }
  if (!e && !k->failed)
    return 0;
  char what[400];
  snprintf(what, sizeof what, "cannot commit the transaction: %s",
           e ? rd_kafka_error_string(e) : k->first_error);
  if (e && rd_kafka_error_txn_requires_abort(e)) {
    rd_kafka_error_t *a = rd_kafka_abort_transaction(k->rk, tmo);
    if (a)
      rd_kafka_error_destroy(a);
    else
      pspf_log(ctx, 3, "sink '%s': transaction aborted", s->name);
  }
  if (e)
    rd_kafka_error_destroy(e);
  return fail(ctx, s, what);
}

static int sink_commit(pspf_ctx_t *ctx, pspf_sink_t *s, uint64_t checkpoint) {
  kp_t *k = s->impl;
  if (!k)
    return 0;
  if (!checkpoint) { /* a plain flush: serve the delivery reports */
    rd_kafka_poll(k->rk, 0);
    return k->failed ? flush(ctx, s) : 0;
  }
  /* Every message delivered: at least once, or, in a transaction, ready
   * to commit once the checkpoint is durable (sink_done). */
  return flush(ctx, s);
}

static int sink_done(pspf_ctx_t *ctx, pspf_sink_t *s, uint64_t checkpoint) {
  kp_t *k = s->impl;
  if (!k || !k->txn) /* the records since the last checkpoint, in one go */
    return 0;
  return commit_txn(ctx, s, true, checkpoint);
}

/* The newest checkpoint whose transaction is known to have committed: in
 * the journal, or as the sink group's offset (which the mock cluster of
 * the tests does not keep). */
static uint64_t committed_as(pspf_ctx_t *ctx, pspf_sink_t *s,
                             const char *name, const char *dir) {
  uint64_t last = dir ? journal_last(dir, s) : 0, group = 0;
  char err[512];
  const char *const set[][2] = {
      {"bootstrap.servers", s->path}, {"group.id", name}, {"log_level", "3"}};
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_t *rk = NULL;
  if (kafka_conf_set_all(conf, set, sizeof set / sizeof set[0], err, sizeof err))
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  else
    rd_kafka_conf_destroy(conf);
  if (rk) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, s->topic, 0);
    int64_t ms = pspf_sink_retry_ms();
    rd_kafka_resp_err_t e =
        rd_kafka_committed(rk, l, ms > 10000 ? 10000 : (int)ms);
    if (e)
      snprintf(err, sizeof err, "%s", rd_kafka_err2str(e));
    else if (l->elems[0].offset > 0)
      group = (uint64_t)l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    if (e)
      rk = NULL;
  }
  if (!rk)
    pspf_log(ctx, 1, "sink '%s': cannot read its group's offset (%s); "
             "going by its commit journal", s->name, err);
  pspf_log(ctx, 3, "sink '%s': transactions committed up to checkpoint %llu "
           "(journal %llu, group %llu)", s->name,
           (unsigned long long)(group > last ? group : last),
           (unsigned long long)last, (unsigned long long)group);
  return group > last ? group : last;
}

static uint64_t sink_committed(pspf_ctx_t *ctx, pspf_sink_t *s) {
  char name[300];
  sink_id(s, name, sizeof name);
  return committed_as(ctx, s, name, pspf_checkpoint_dir());
}

uint64_t kafka_task_committed(pspf_ctx_t *ctx, pspf_sink_t *s, const char *id,
                              const char *dir) {
  return committed_as(ctx, s, id, dir);
}

static void free_kp(kp_t *k) {
  free(k->range);
  free(k);
}

static void on_closed(uv_handle_t *h) { free_kp(h->data); }

static int sink_close(pspf_ctx_t *ctx, pspf_sink_t *s) {
  kp_t *k = s->impl;
  if (!k)
    return 0;
  int r = 0;
  if (k->txn && k->rk) {
    if (!ctx->exit_status) {
      r = commit_txn(ctx, s, false, 0);
    } else { /* stopping on an error: what was not committed goes */
      rd_kafka_error_t *a = rd_kafka_abort_transaction(k->rk, 10000);
      if (a)
        rd_kafka_error_destroy(a);
      else
        pspf_log(ctx, 3, "sink '%s': transaction aborted (the program stops "
                 "on an error)", s->name);
    }
  } else if (!ctx->exit_status) {
    r = flush(ctx, s);
  }
  if (k->topic)
    rd_kafka_topic_destroy(k->topic);
  if (k->rk)
    rd_kafka_destroy(k->rk);
  s->impl = NULL;
  if (k->timer.data) {
    uv_timer_stop(&k->timer);
    uv_close((uv_handle_t *)&k->timer, on_closed);
  } else {
    free_kp(k);
  }
  return r;
}

const pspf_sink_ops_t pspf_kafka_sink_ops = {
    .open = sink_open, .commit = sink_commit, .close = sink_close,
    .done = sink_done, .committed = sink_committed};

/* Produces [n] bytes at [p] with [key] to [partition] (or the
 * partitioner's choice), waiting while the local queue is full. */
static void produce(pspf_ctx_t *ctx, pspf_sink_t *s, int32_t partition,
                    const void *p, size_t n, const void *key, size_t keylen) {
  kp_t *k = s->impl;
  uint64_t until = 0;
  for (;;) {
    if (rd_kafka_produce(k->topic, partition, RD_KAFKA_MSG_F_COPY, (void *)p,
                         n, key, keylen, NULL) == 0)
      break;
    rd_kafka_resp_err_t e = rd_kafka_last_error();
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      fail(ctx, s, rd_kafka_err2str(e));
      return;
    }
    /* The local queue is full: wait for deliveries (the program, and so
     * its sources, pause). */
    if (!until)
      until = uv_hrtime() + (uint64_t)pspf_sink_retry_ms() * 1000000u;
    if (uv_hrtime() > until) {
      fail(ctx, s, "the broker took no messages within the retry limit");
      return;
    }
    rd_kafka_poll(k->rk, 100);
  }
  s->records++;
  rd_kafka_poll(k->rk, 0);
  if (k->failed)
    flush(ctx, s);
}

void pspf_kafka_produce(pspf_ctx_t *ctx, pspf_sink_t *s, const char *key,
                        size_t keylen) {
  if (s->impl) /* (else a partition's state being freed: nowhere) */
    produce(ctx, s, RD_KAFKA_PARTITION_UA, s->buf.p, s->buf.n, key, keylen);
  s->buf.n = 0;
}

void kafka_task_produce_to(pspf_ctx_t *ctx, pspf_sink_t *s, int partition,
                           const void *p, size_t n, const void *key,
                           size_t keylen) {
  produce(ctx, s, partition, p, n, key, keylen);
}

int kafka_partitions(rd_kafka_t *rk, const char *topic, char *why,
                     size_t whylen) {
  rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
  rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TRANSPORT;
  int n = -1;
  uint64_t until = uv_hrtime() + (uint64_t)pspf_sink_retry_ms() * 1000000u;
  while (n < 0 && uv_hrtime() < until) {
    const struct rd_kafka_metadata *md = NULL;
    e = rd_kafka_metadata(rk, 0, t, &md, 5000);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
        md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topics[0].partition_cnt > 0)
      n = md->topics[0].partition_cnt;
    if (md)
      rd_kafka_metadata_destroy(md);
    if (n < 0)
      uv_sleep(200);
  }
  rd_kafka_topic_destroy(t);
  if (n < 0)
    snprintf(why, whylen, "%s", e ? rd_kafka_err2str(e)
                                  : "the topic has no partitions (yet)");
  return n;
}

/* ---- sources ---------------------------------------------------------------
 *
 * A consumer of one topic. Its partitions are assigned by the program
 * itself (rd_kafka_assign), each at the offset its checkpoint holds, or
 * at the group's committed offset on a fresh start (the earliest, without
 * one): a restart goes on exactly where the checkpoint was, without a
 * group rebalance. After each checkpoint the offsets are committed to the
 * group (group: given, or pspf-PROGRAM-SOURCE), for monitoring. The
 * consumer queue signals a pipe watched by a uv_poll when it becomes
 * non-empty; each signal drains it. A Kafka source never ends.
 */

#define KAFKA_MAX_PARTS 256
#define KAFKA_BATCH 20000 /* messages a turn of the loop */
#define KAFKA_RECHECK_MS 25 /* the queue looked at without a signal */

typedef struct kc_s {
  rd_kafka_t *rk;
  rd_kafka_queue_t *queue;
  pspf_ctx_t *ctx;
  pspf_source_t *src;
  int pipe[2];
  uv_poll_t poll;
  bool poll_open;
  uv_timer_t more;      /* a full batch: go on in the next turn */
  bool more_open;
  int nparts;
  int64_t next[KAFKA_MAX_PARTS]; /* the offset of each partition's next record */
} kc_t;

static void drain_queue(kc_t *c);

static void on_more(uv_timer_t *h) { drain_queue(h->data); }

static void drain_queue(kc_t *c) {
  char junk[256];
  while (read(c->pipe[0], junk, sizeof junk) > 0)
    ;
  int n = 0;
  rd_kafka_message_t *m;
  while (n < KAFKA_BATCH && !c->ctx->stopping &&
         (m = rd_kafka_consumer_poll(c->rk, 0))) {
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        pspf_log(c->ctx, 1, "source '%s': %s", c->src->name,
                 rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    if (m->partition >= 0 && m->partition < KAFKA_MAX_PARTS)
      c->next[m->partition] = m->offset + 1;
    pspf_source_message(c->ctx, c->src, m->payload, m->len,
                        (uint64_t)m->offset, (uint64_t)m->offset + 1);
    rd_kafka_message_destroy(m);
    n++;
  }
  if (n)
    pspf_batch_done(c->ctx);
  /* The next batch at once; else a look again in KAFKA_RECHECK_MS, as
   * well as on the pipe: librdkafka 2.0 does not signal every arrival
   * (messages fetched while the queue was full came in up to seconds
   * late). */
  if (!c->ctx->stopping)
    uv_timer_start(&c->more, on_more, n == KAFKA_BATCH ? 0 : KAFKA_RECHECK_MS,
                   0);
}

static void on_kc_poll(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  drain_queue(h->data);
}

static int kc_fail(pspf_ctx_t *ctx, pspf_source_t *src, const char *what) {
  pspf_log(ctx, 0, "source '%s' (kafka %s, topic '%s'): %s", src->name,
           src->path, src->topic, what);
  return PSPF_EIO;
}

static int source_start(pspf_ctx_t *ctx, pspf_source_t *src) {
  kc_t *c = calloc(1, sizeof *c);
  if (!c)
    return kc_fail(ctx, src, "out of memory");
  c->ctx = ctx;
  c->src = src;
  c->pipe[0] = c->pipe[1] = -1;
  src->impl = c;
  char err[512], group[256];
  if (src->client_id)
    snprintf(group, sizeof group, "%s", src->client_id);
  else
    snprintf(group, sizeof group, "pspf-%s-%s", pspf_program_name(),
             src->name);
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *const set[][2] = {
      {"bootstrap.servers", src->path}, {"group.id", group},
      {"enable.auto.commit", "false"}, {"auto.offset.reset", "earliest"},
      {"log_level", "4"},              {"enable.partition.eof", "false"},
      /* Backpressure: while the program does not poll (a stalled sink),
       * the consumer fetches ahead at most 4 MiB of messages (past it by
       * one fetch at most; a bound on messages a partition,
       * queued.min.messages, cost 5x the throughput: each partition's
       * fetching paused and resumed). */
      {"queued.max.messages.kbytes", "4096"},
  };
  if (!kafka_conf_set_all(conf, set, sizeof set / sizeof set[0], err, sizeof err)) {
    rd_kafka_conf_destroy(conf);
    return kc_fail(ctx, src, err);
  }
  c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!c->rk)
    return kc_fail(ctx, src, err);
  rd_kafka_poll_set_consumer(c->rk);
  /* The topic's partitions, from the cluster. */
  c->nparts = kafka_partitions(c->rk, src->topic, err, sizeof err);
  if (c->nparts < 0)
    return kc_fail(ctx, src, err);
  if (c->nparts > KAFKA_MAX_PARTS)
    c->nparts = KAFKA_MAX_PARTS;
  rd_kafka_resp_err_t e;
  /* Each partition at its checkpointed offset; else at the group's
   * committed one, else at the earliest: resolved to a number now, so that
   * every checkpoint holds where each partition is. */
  rd_kafka_topic_partition_list_t *l =
      rd_kafka_topic_partition_list_new(c->nparts);
  for (int p = 0; p < c->nparts; p++) {
    int64_t off = RD_KAFKA_OFFSET_INVALID;
    for (int i = 0; i < src->nresume; i++)
      if (src->resume_pos[2 * i] == p && src->resume_pos[2 * i + 1] >= 0)
        off = src->resume_pos[2 * i + 1];
    rd_kafka_topic_partition_list_add(l, src->topic, p)->offset = off;
  }
  rd_kafka_topic_partition_list_t *need =
      rd_kafka_topic_partition_list_new(c->nparts);
  for (int p = 0; p < c->nparts; p++)
    if (l->elems[p].offset < 0)
      rd_kafka_topic_partition_list_add(need, src->topic, p);
  if (need->cnt)
    rd_kafka_committed(c->rk, need, 10000);
  /* The earliest offsets of those without a committed one, in one
   * request (ListOffsets at time -2, the earliest), not one a partition. */
  rd_kafka_topic_partition_list_t *first =
      rd_kafka_topic_partition_list_new(need->cnt ? need->cnt : 1);
  for (int i = 0; i < need->cnt; i++)
    if (need->elems[i].offset < 0)
      rd_kafka_topic_partition_list_add(first, src->topic,
                                        need->elems[i].partition)
          ->offset = -2;
  if (first->cnt &&
      rd_kafka_offsets_for_times(c->rk, first, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    for (int i = 0; i < first->cnt; i++)
      first->elems[i].offset = -1; /* (then the earliest, unresolved) */
  for (int i = 0; i < need->cnt; i++) {
    int p = need->elems[i].partition;
    int64_t off = need->elems[i].offset;
    for (int j = 0; off < 0 && j < first->cnt; j++)
      if (first->elems[j].partition == p && !first->elems[j].err)
        off = first->elems[j].offset;
    l->elems[p].offset = off < 0 ? RD_KAFKA_OFFSET_BEGINNING : off;
  }
  rd_kafka_topic_partition_list_destroy(first);
  rd_kafka_topic_partition_list_destroy(need);
  for (int p = 0; p < c->nparts; p++)
    c->next[p] = l->elems[p].offset;
  e = rd_kafka_assign(c->rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (e)
    return kc_fail(ctx, src, rd_kafka_err2str(e));
  /* The queue signals a pipe when it gets messages. */
  if (pipe(c->pipe) < 0)
    return kc_fail(ctx, src, strerror(errno));
  for (int i = 0; i < 2; i++)
    fcntl(c->pipe[i], F_SETFL, O_NONBLOCK), fcntl(c->pipe[i], F_SETFD,
                                                  FD_CLOEXEC);
  c->queue = rd_kafka_queue_get_consumer(c->rk);
  rd_kafka_queue_io_event_enable(c->queue, c->pipe[1], "1", 1);
  uv_poll_init(uv_default_loop(), &c->poll, c->pipe[0]);
  c->poll.data = c;
  c->poll_open = true;
  uv_poll_start(&c->poll, UV_READABLE, on_kc_poll);
  uv_timer_init(uv_default_loop(), &c->more);
  c->more.data = c;
  c->more_open = true;
  /* What is there already (the pipe is signalled on new messages only),
   * once the loop runs. */
  uv_timer_start(&c->more, on_more, 0, 0);
  return 0;
}

static void on_kc_closed(uv_handle_t *h) {
  kc_t *c = h->data;
  if (h == (uv_handle_t *)&c->poll)
    c->poll_open = false;
  else
    c->more_open = false;
  if (!c->poll_open && !c->more_open)
    free(c);
}

static void source_stop(pspf_ctx_t *ctx, pspf_source_t *src) {
  (void)ctx;
  kc_t *c = src->impl;
  if (!c)
    return;
  src->impl = NULL;
  /* Where it stopped: the last checkpoint (taken after this) needs it. */
  src->nresume = 0;
  for (int p = 0; p < c->nparts && p < 64; p++) {
    src->resume_pos[2 * p] = p;
    src->resume_pos[2 * p + 1] = c->next[p];
    src->nresume++;
  }
  if (c->queue) {
    rd_kafka_queue_io_event_enable(c->queue, -1, NULL, 0);
    rd_kafka_queue_destroy(c->queue);
  }
  if (c->rk) {
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
  }
  for (int i = 0; i < 2; i++)
    if (c->pipe[i] >= 0)
      close(c->pipe[i]);
  bool handles = c->poll_open || c->more_open;
  if (c->poll_open)
    uv_close((uv_handle_t *)&c->poll, on_kc_closed);
  if (c->more_open)
    uv_close((uv_handle_t *)&c->more, on_kc_closed);
  if (!handles)
    free(c);
}

/* The positions for a checkpoint: (partition, next offset) pairs; then
 * the same offsets are committed to the group (asynchronously: only for
 * monitoring, the checkpoint is what counts). */
static int source_positions(pspf_source_t *src, int64_t *pos, int max) {
  kc_t *c = src->impl;
  if (!c) { /* stopped: where it stopped */
    int n = src->nresume < max ? src->nresume : max;
    memcpy(pos, src->resume_pos, sizeof *pos * 2 * (size_t)n);
    return n;
  }
  int n = 0;
  rd_kafka_topic_partition_list_t *l =
      rd_kafka_topic_partition_list_new(c->nparts);
  for (int p = 0; p < c->nparts && n < max; p++) {
    pos[2 * n] = p;
    pos[2 * n + 1] = c->next[p];
    n++;
    if (c->next[p] >= 0)
      rd_kafka_topic_partition_list_add(l, src->topic, p)->offset = c->next[p];
  }
  if (l->cnt)
    rd_kafka_commit(c->rk, l, 1);
  rd_kafka_topic_partition_list_destroy(l);
  return n;
}

static uint64_t source_queued(pspf_source_t *src) {
  kc_t *c = src->impl;
  return c && c->queue ? (uint64_t)rd_kafka_queue_length(c->queue) : 0;
}

const pspf_source_ops_t pspf_kafka_source_ops = {
    .start = source_start, .stop = source_stop,
    .positions = source_positions, .kind = "kafka",
    .queued = source_queued};
