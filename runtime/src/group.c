/*
 * group.c -- --scale-out: several instances of one program share a Kafka
 * topic's partitions through the consumer group protocol (cooperative-
 * sticky assignment), as Kafka Streams' instances do. No cluster manager:
 * Kafka's group coordinator decides who reads what.
 *
 * Each partition an instance is assigned is a task: a thread with its
 * own copy of every table, window and watermark (the emitted state is
 * thread-local, as for --workers), its own transactional producer for
 * each kafka sink (transactional id GROUP-SINK-P: a new owner of the
 * partition fences off the old one, and aborts what it left open), and
 * its own checkpoints in CKDIR/TOPIC-P/: the same files as a whole
 * program's (META, SOURCE with the partition's offset, SINK, STATE), so
 * `pspfc inspect-checkpoint` reads them. A task checkpoints every
 * --checkpoint-interval, when its partition is revoked and when the
 * program stops; each kafka sink's transaction commits right after the
 * checkpoint is durable (kafka.c), and a task that is assigned a
 * partition restores its newest checkpoint whose transactions committed
 * before the partition is consumed. State is per partition: the compiler
 * allows --scale-out only where every key's records come in one
 * partition (emit_c.c, scale_refusal()).
 *
 * The loop's thread polls the consumer: the rebalance callback starts and
 * stops tasks (a revoked partition's task checkpoints and ends before the
 * partition is given up; an assigned one's restores before it is
 * consumed); messages go to their partition's task through a queue, and
 * a partition whose task has a full queue is paused until it drains
 * (backpressure, partition by partition; the loop goes on polling).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "changelog.h"
#include "ckpt_meta.h"
#include "kafka.h"
#include "pspf/checkpoint.h"
#include "pspf/rt.h"
#include "workers.h"

#define GROUP_MAX_PARTS 1024
#define TASK_QUEUE_MAX 20000 /* messages waiting for a task */
#define TASK_BATCH 1000      /* messages a task takes at once */
#define GROUP_BATCH 20000    /* messages the loop hands out a turn */
#define GROUP_RECHECK_MS 25  /* the queue looked at without a signal */
/* The key of a router's watermark message ("P TS": its partition, its
 * largest event time) to each partition of the repartition topic. */
#define WM_KEY "__pspf_watermark"

enum { TOPIC_IN, TOPIC_REPART }; /* the topics a group reads */

typedef struct group_s group_t;

typedef struct task_s {
  group_t *g;
  int part;
  int kind;              /* TOPIC_IN, or TOPIC_REPART: what it reads */
  bool router;           /* it routes the input to the repartition topic */
  const char *topic;     /* the topic it reads */
  int ns;                /* its sinks: the program's, or the router's one */
  pspf_sink_t rsink;     /* a router's: the repartition topic */
  const rd_kafka_message_t *at; /* a router's message at hand */
  int64_t maxts;         /* a router's largest event time routed */
  int64_t sent_ts;       /* ... the last it sent the keyed side */
  int64_t *upstream;     /* a keyed task's: each router's largest */
  uv_thread_t thread;
  uv_cond_t cv;          /* messages, or quit (under g->mu) */
  pspf_ctx_t ctx;
  pspf_sink_t *sinks;    /* its thread's */
  char dir[4096];        /* CKDIR/TOPIC-P */
  char (*ids)[300];      /* each sink's transactional id */
  uint64_t *restored;    /* each sink's records at its restore */
  /* Under g->mu: */
  rd_kafka_message_t **q;
  size_t qhead, qlen, qcap;
  bool quit, lost, ready, ended;
  bool want_room;        /* its partition is paused: wake the loop at half */
  int rc;                /* 0, or the exit status it stopped with */
  bool paused;           /* (the loop's) its partition's fetching paused */
  /* Its thread's: */
  int64_t start;         /* the offset restored, or ..._OFFSET_BEGINNING */
  int64_t next;          /* the offset after the last message run */
  int64_t ck_offset;     /* ... at the last checkpoint */
  uint64_t ck_next;      /* the next checkpoint's id */
  int slot;              /* --state-store=kafka: the slot written next */
  uint32_t owner;        /* ... this task's mark on its checkpoints' keys */
  cl_found_t stale;      /* ... the keys it found, dropped after a commit */
  uint64_t ck_due;       /* uv_hrtime() of the next */
  uint64_t records;
  /* What it did this run, for /metrics and the totals: published under
   * g->mu after each batch (from the counts at its restore, base_*). */
  uint64_t base_in, base_bad, base_late;
  uint64_t pub_in, pub_bad, pub_late, pub_checkpoints;
  uint64_t *pub_sinks;   /* records a sink */
  int64_t pub_next;      /* the offset after the last message run */
  uint64_t checkpoints;
  pspf_buf_t msg;        /* the message at hand, with padding */
  pspf_buf_t body;       /* a checkpoint being made */
  cl_t *cl;              /* --state-store=kafka: its changelog partition */
  pspf_buf_t image;      /* ... and a checkpoint file's bytes for it */
} task_t;

struct group_s {
  pspf_program_t *prog;
  pspf_ctx_t *ctx;
  pspf_source_t *src;
  const pspf_scale_opts_t *o;
  char group[256];
  char changelog[300];   /* --state-store=kafka: GROUP-changelog */
  char router_log[300];  /* ... and the routers': GROUP-router-changelog */
  char repart[300];      /* with prog->route: GROUP-repartition */
  int nrepart;           /* ... its partitions */
  rd_kafka_t *rk;
  rd_kafka_queue_t *queue;
  int pipe[2];
  uv_loop_t *loop;
  uv_poll_t poll;
  uv_timer_t more;
  uv_async_t wake;       /* tasks -> the loop: room, or a task stopped */
  uv_signal_t sig[2];
  uv_mutex_t mu;
  uv_cond_t ready;       /* a task has restored (or failed to) */
  task_t *tasks[2][GROUP_MAX_PARTS]; /* by kind and partition */
  /* Counts of the tasks that have ended (this run's), for /metrics. */
  uint64_t done_in, done_bad, done_late, done_checkpoints;
  uint64_t *done_sinks;
  bool assigned;         /* the group has given it an assignment */
  bool stopping;
  int status;
};

/* ---- a task's checkpoints ------------------------------------------------ */

static void task_log(task_t *t, int level, const char *fmt, const char *what) {
  pspf_log(&t->ctx, level, fmt, t->topic, t->part, what);
}

/* Flushes every sink of the task (a kafka sink: every message delivered)
 * ahead of checkpoint [id] (0: a plain flush). */
static int flush_sinks(task_t *t, uint64_t id) {
  for (int k = 0; k < t->ns; k++) {
    pspf_sink_t *s = &t->sinks[k];
    if (s->ops ? s->ops->commit(&t->ctx, s, id) < 0
               : rt_sink_flush(&t->ctx, s) < 0)
      return -1;
  }
  return 0;
}

/* Writes checkpoint t->ck_next of the task's partition, then commits its
 * sinks' transactions with it. */
static int task_checkpoint(task_t *t) {
  group_t *g = t->g;
  pspf_program_t *prog = g->prog;
  pspf_ctx_t *ctx = &t->ctx;
  uint64_t id = t->ck_next;
  if (flush_sinks(t, id) < 0)
    return -1;
  pspf_buf_t *b = &t->body;
  b->n = 0;
  uint32_t ns = 0;
  size_t at = pspf_ckpt_section_begin(b, PSPF_CKPT_META, 0);
  pspf_ck_cstr(b, prog->name);
  pspf_ck_u64(b, g->o->nlayout);
  for (size_t i = 0; i < g->o->nlayout; i++) {
    pspf_ck_str(b, g->o->layout[i]);
    pspf_ck_cstr(b, g->o->where[i]);
  }
  pspf_ck_u64(b, ctx->records_in);
  pspf_ck_u64(b, ctx->bad);
  pspf_ck_u64(b, ctx->late);
  pspf_ck_cstr(b, ctx->dead_path);
  pspf_ck_u64(b, 0); /* (the dead-letter file is shared: not cut back) */
  pspf_ckpt_section_end(b, at, 0);
  ns++;
  at = pspf_ckpt_section_begin(b, PSPF_CKPT_SOURCE, 0);
  pspf_ck_cstr(b, g->src->name);
  pspf_ck_cstr(b, g->src->path);
  pspf_ck_bool(b, false);
  pspf_ck_u64(b, t->records);
  pspf_ck_str(b, (pspf_str_t){"", 0});
  pspf_ck_u64(b, 1);
  pspf_ck_i64(b, t->part);
  pspf_ck_i64(b, t->next);
  pspf_ckpt_section_end(b, at, 0);
  ns++;
  for (int k = 0; k < t->ns; k++) {
    pspf_sink_t *s = &t->sinks[k];
    at = pspf_ckpt_section_begin(b, PSPF_CKPT_SINK, (uint32_t)k);
    pspf_ck_cstr(b, s->name);
    pspf_ck_cstr(b, s->kind ? s->kind : "file");
    pspf_ck_cstr(b, s->path);
    pspf_ck_u64(b, s->length);
    pspf_ck_u64(b, s->records);
    pspf_ckpt_section_end(b, at, 0);
    ns++;
  }
  for (int i = 0; i < prog->nstates; i++) {
    at = pspf_ckpt_section_begin(b, PSPF_CKPT_STATE, (uint32_t)i);
    uint64_t keys = prog->states[i].save(b);
    pspf_ckpt_section_end(b, at, keys);
    ns++;
  }
  if (t->router || t->upstream) { /* event time across the repartition */
    at = pspf_ckpt_section_begin(b, PSPF_CKPT_STATE, (uint32_t)prog->nstates);
    int nts = t->upstream ? g->nrepart : 1;
    pspf_ck_u64(b, (uint64_t)nts);
    for (int i = 0; i < nts; i++)
      pspf_ck_i64(b, t->upstream ? t->upstream[i] : t->maxts);
    pspf_ckpt_section_end(b, at, 0);
    ns++;
  }
  char why[512];
  if (t->cl) { /* into the changelog (compaction keeps two) */
    t->image.n = 0;
    pspf_ckpt_image(&t->image, id, g->o->fingerprint, 0, b, ns);
    if (cl_put_checkpoint(t->cl, t->owner, id, t->slot, &t->image) < 0)
      return -1;
  } else {
    if (pspf_ckpt_write(t->dir, id, g->o->fingerprint, 0, b, ns, why,
                        sizeof why) < 0) {
      task_log(t, 0, "partition %s-%d: cannot write its checkpoint: %s", why);
      return -1;
    }
  }
  for (int k = 0; k < t->ns; k++) {
    pspf_sink_t *s = &t->sinks[k];
    if (s->ops && s->ops->done && s->ops->done(ctx, s, id) < 0)
      return -1;
  }
  /* Committed: what came before it goes (never the newest committed
   * one, which a restore may need while a newer one is uncommitted). */
  t->ck_next = id + 1;
  t->ck_offset = t->next;
  t->checkpoints++;
  t->slot = 1 - t->slot;
  if (t->cl && t->stale.nstale) /* (the former owners' checkpoints) */
    cl_drop_keys(t->cl, &t->stale);
  if (!t->cl) {
    uint64_t *ids;
    long n = pspf_ckpt_list(t->dir, &ids);
    for (long i = 0; i < n; i++)
      if (ids[i] < id) {
        char *path = pspf_ckpt_path(t->dir, ids[i]);
        unlink(path);
        free(path);
      }
    free(n >= 0 ? ids : NULL);
  }
  if (t->next >= 0) { /* the group's offset, for lag monitoring only */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, t->topic, t->part)->offset =
        t->next;
    rd_kafka_commit(g->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
  }
  if (ctx->log_level >= 3) {
    char what[64];
    snprintf(what, sizeof what, "%llu at offset %lld", (unsigned long long)id,
             (long long)t->next);
    task_log(t, 3, "partition %s-%d: checkpoint %s", what);
  }
  return 0;
}

/* Loads checkpoint [f] into the task (its thread's state). */
static int task_apply(task_t *t, pspf_ckpt_file_t *f) {
  pspf_program_t *prog = t->g->prog;
  const char **state = calloc((size_t)prog->nstates + 1, sizeof *state);
  size_t *sizes = calloc((size_t)prog->nstates + 1, sizeof *sizes);
  if (!state || !sizes)
    pspf_ck_oom();
  int nstate = 0, nsrc = 0;
  const char *err = NULL;
  for (uint32_t i = 0; i < f->nsections && !err; i++) {
    pspf_ckpt_section_t *s = &f->sections[i];
    if (s->kind == PSPF_CKPT_META) {
      ck_meta_t m = {0};
      if (!(err = ck_meta_read(s, &m))) {
        t->ctx.records_in = m.records_in;
        t->ctx.bad = m.bad;
        t->ctx.late = m.late;
      }
      ck_meta_free(&m);
    } else if (s->kind == PSPF_CKPT_SOURCE) {
      ck_source_t cs;
      if (!(err = ck_source_read(s, &cs))) {
        if (cs.npos != 1 || cs.partition[0] != t->part)
          err = "its source position is not this partition's";
        t->start = cs.offset[0] >= 0 ? cs.offset[0] : RD_KAFKA_OFFSET_BEGINNING;
        t->records = cs.records;
        nsrc++;
      }
    } else if (s->kind == PSPF_CKPT_SINK && s->index < (uint32_t)t->ns) {
      ck_sink_t cs;
      if (!(err = ck_sink_read(s, &cs)))
        t->sinks[s->index].records = cs.records;
    } else if (s->kind == PSPF_CKPT_STATE &&
               s->index == (uint32_t)prog->nstates) {
      pspf_ckr_t r = pspf_ckr_of(s->payload, s->size);
      size_t nts = pspf_ckr_count(&r, 1);
      for (size_t k = 0; k < nts && !r.error; k++) {
        int64_t v = pspf_ckr_i64(&r);
        if (t->upstream && k < (size_t)t->g->nrepart)
          t->upstream[k] = v;
        else if (t->router && k == 0)
          t->maxts = v;
      }
      if (t->upstream) { /* the watermark it had */
        int64_t cap = INT64_MAX;
        for (int k = 0; k < t->g->nrepart; k++)
          cap = t->upstream[k] < cap ? t->upstream[k] : cap;
        t->ctx.time_cap = cap;
      }
      err = r.error;
    } else if (s->kind == PSPF_CKPT_STATE &&
               s->index < (uint32_t)prog->nstates && !state[s->index]) {
      state[s->index] = s->payload;
      sizes[s->index] = s->size;
      nstate++;
    }
  }
  char why[512];
  if (!err && (nsrc != 1 || nstate != prog->nstates))
    err = "it lacks sections";
  if (!err && prog->nstates &&
      pspf_load_states(prog, (const char *const *)state, sizes, 1, 1, 0,
                       why, sizeof why) < 0)
    err = why;
  free(state);
  free(sizes);
  if (err) {
    char what[700];
    snprintf(what, sizeof what, "checkpoint %llu: %s",
             (unsigned long long)f->id, err);
    task_log(t, 0, "partition %s-%d: %s", what);
    return -1;
  }
  return 0;
}

/* Whether every kafka sink of checkpoint [f] committed its transaction
 * (its output up to it is there for certain), by what each sink's
 * journal and group say ([known]). */
static bool task_committed(task_t *t, pspf_ckpt_file_t *f,
                           const uint64_t *known) {
  for (uint32_t i = 0; i < f->nsections; i++) {
    pspf_ckpt_section_t *s = &f->sections[i];
    ck_sink_t cs;
    if (s->kind != PSPF_CKPT_SINK || s->index >= (uint32_t)t->ns ||
        ck_sink_read(s, &cs) || cs.records == cs.position)
      continue;
    pspf_sink_t *sk = &t->sinks[s->index];
    if (sk->ops && sk->ops->done && known[s->index] < f->id)
      return false;
  }
  return true;
}

/* The checkpoint ids --checkpoint-reset left behind in the task's
 * directory (DIR/TOPIC-P/reset-above), or 0. */
static uint64_t reset_above(task_t *t) {
  if (t->cl)
    return 0;
  char path[4200];
  snprintf(path, sizeof path, "%s/reset-above", t->dir);
  FILE *f = fopen(path, "r");
  unsigned long long v = 0;
  if (f) {
    if (fscanf(f, "%llu", &v) != 1)
      v = 0;
    fclose(f);
  }
  return v;
}

/* Restores the newest checkpoint of the task's partition whose output
 * committed. Returns 0 (restored, or none there) or -1. */
static int task_restore(task_t *t) {
  group_t *g = t->g;
  uint64_t t0 = uv_hrtime();
  /* The newest checkpoint each kafka sink committed with. */
  uint64_t *known = calloc((size_t)t->ns + 1, sizeof *known), newest = 0;
  if (!known)
    pspf_ck_oom();
  cl_found_t found;
  memset(&found, 0, sizeof found);
  if (t->cl && cl_read(t->cl, &found) < 0) {
    free(known);
    return -1;
  }
  /* After --checkpoint-reset, ids go on above the old ones (which the
   * sinks' group offsets may still name). */
  uint64_t above = reset_above(t), floor = UINT64_MAX;
  for (int k = 0; k < t->ns; k++)
    if (t->sinks[k].ops && t->sinks[k].ops->done) {
      uint64_t g_off = kafka_task_committed(&t->ctx, &t->sinks[k], t->ids[k],
                                            t->cl ? NULL : t->dir);
      uint64_t c = t->cl ? cl_committed(&found, t->sinks[k].name) : 0;
      known[k] = g_off > c ? g_off : c;
      if (known[k] <= above)
        known[k] = 0;
      newest = known[k] > newest ? known[k] : newest;
      floor = known[k] < floor ? known[k] : floor;
    }
  if (floor == UINT64_MAX)
    floor = 0;
  /* That checkpoint was written before its commit: a listing without it
   * is out of date (a network file system's cached directory) or the
   * store lost files. Looked at again for a while, then an error: going
   * on from an older one would commit its output twice. */
  uint64_t *ids = NULL;
  long n = -1;
  if (t->cl) { /* (read to its end: nothing to look at again) */
    n = found.n;
    ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (!ids)
      pspf_ck_oom();
    memcpy(ids, found.ids, (size_t)n * sizeof *ids);
  }
  for (int tries = 0; tries < 60 && !t->cl; tries++) {
    free(ids);
    ids = NULL;
    n = pspf_ckpt_list(t->dir, &ids);
    if (n < 0 || (n > 0 && ids[0] >= newest) || !newest)
      break;
    uv_sleep(500);
  }
  if (n < 0 || (newest && (n == 0 || ids[0] < newest))) {
    char what[200];
    snprintf(what, sizeof what, "%llu, but its directory holds %s",
             (unsigned long long)newest,
             n < 0 ? "nothing readable" : "no checkpoint that new");
    task_log(t, 0, "partition %s-%d: its sinks committed with checkpoint %s "
             "(a stale listing of a network file system? see "
             "docs/operations.md, section 11)", what);
    free(ids);
    free(known);
    cl_found_free(&found);
    return -1;
  }
  /* The next id skips one: the partition's former owner, fenced off now,
   * may still write the checkpoint it was making (it cannot commit it,
   * nor make another), and its file must not take the place of ours. */
  t->ck_next = (n ? ids[0] : 0) + 2;
  if (t->cl && found.max_id + 2 > t->ck_next) /* (one cut off is there too) */
    t->ck_next = found.max_id + 2;
  if (t->ck_next <= above)
    t->ck_next = above + 1;
  int rc = 1;
  uint64_t got = 0; /* the checkpoint restored */
  for (long i = 0; i < n && rc > 0; i++) {
    char *path = t->cl ? NULL : pspf_ckpt_path(t->dir, ids[i]);
    pspf_ckpt_file_t f;
    char why[512];
    bool read;
    if (t->cl) { /* (the file takes a copy of the bytes) */
      char *b = malloc(found.sizes[i] + 1);
      if (!b)
        pspf_ck_oom();
      memcpy(b, found.bytes[i], found.sizes[i]);
      read = pspf_ckpt_from(b, found.sizes[i], &f, why, sizeof why) == 0;
      char name[64];
      snprintf(name, sizeof name, "changelog checkpoint %llu",
               (unsigned long long)ids[i]);
      path = strdup(name);
      if (!path)
        pspf_ck_oom();
    } else {
      read = pspf_ckpt_read(path, &f, why, sizeof why) == 0;
    }
    if (!read) {
      task_log(t, 1, "partition %s-%d: a damaged checkpoint is passed over: "
               "%s", why);
    } else if (f.fingerprint != g->o->fingerprint) {
      task_log(t, 0, "partition %s-%d: the program has changed since its "
               "checkpoint %s was taken; to start over, run with "
               "--checkpoint-reset", path);
      rc = -1;
    } else if (!task_committed(t, &f, known)) {
      task_log(t, 1, "partition %s-%d: checkpoint %s went with a transaction "
               "that never committed: the one before it is used", path);
    } else {
      rc = task_apply(t, &f);
      if (!rc) {
        got = f.id;
        if (t->cl)
          t->slot = 1 - found.slots[i]; /* (that one stays until a commit) */
      }
      if (!rc && t->ctx.log_level >= 2) {
        char what[600];
        snprintf(what, sizeof what, "%llu (offset %lld) in %.1f ms",
                 (unsigned long long)f.id, (long long)t->start,
                 (double)(uv_hrtime() - t0) / 1e6);
        task_log(t, 2, "partition %s-%d: restored checkpoint %s", what);
      }
    }
    if (read)
      pspf_ckpt_file_free(&f);
    free(path);
  }
  free(ids);
  free(known);
  t->stale.stale = found.stale; /* (kept until the first commit) */
  t->stale.nstale = found.nstale;
  found.stale = NULL;
  found.nstale = 0;
  cl_found_free(&found);
  /* Never back before what every sink committed: its output would be
   * committed twice. */
  if (rc >= 0 && floor && got < floor) {
    char what[200];
    snprintf(what, sizeof what, "%llu, which cannot be read back (only %llu "
             "can)", (unsigned long long)floor, (unsigned long long)got);
    task_log(t, 0, "partition %s-%d: its sinks committed with checkpoint %s; "
             "stopping rather than commit that output again", what);
    return -1;
  }
  return rc < 0 ? -1 : 0;
}

/* ---- a task's thread ----------------------------------------------------- */

/* A kafka sink's commit journal line, into the task's changelog. */
static int to_changelog(void *arg, const char *sink, const char *line,
                        size_t n) {
  task_t *t = arg;
  return cl_put_journal(t->cl, sink, line, n);
}

/* Its context, sinks and state: restored and opened. Returns 0 or an exit
 * status. */
static int task_begin(task_t *t) {
  group_t *g = t->g;
  pspf_program_t *prog = g->prog;
  pspf_ctx_t *ctx = &t->ctx;
  ctx->nworkers = 1;
  ctx->chunk_mine = ctx->report = true;
  ctx->log_level = g->ctx->log_level;
  ctx->max_bad = g->ctx->max_bad;
  ctx->dead_path = g->ctx->dead_path;
  ctx->pos.source = g->src->name;
  ctx->pos.path = g->src->path;
  /* Without a checkpoint, from the partition's start: the store, not the
   * group's offset (committed for monitoring only), says where the
   * partition's state is. */
  t->start = RD_KAFKA_OFFSET_BEGINNING;
  t->next = t->ck_offset = -1;
  if (t->router) { /* one sink: the repartition topic, the input as is */
    t->ns = 1;
    t->sinks = &t->rsink;
    t->rsink = (pspf_sink_t){.name = "repartition", .kind = "kafka",
                             .path = g->src->path, .fd = -1,
                             .ops = &pspf_kafka_sink_ops, .topic = g->repart};
  } else {
    t->ns = prog->nsinks;
    t->sinks = prog->worker_sinks();
  }
  t->ids = calloc((size_t)t->ns + 1, sizeof *t->ids);
  t->restored = calloc((size_t)t->ns + 1, sizeof *t->restored);
  if (!t->ids || !t->restored)
    pspf_ck_oom();
  for (int k = 0; k < t->ns; k++) {
    pspf_sink_t *s = &t->sinks[k];
    if (!t->router)
      *s = prog->sinks[k];
    s->buf = s->segs = s->key = (pspf_buf_t){0};
    s->records = s->length = 0;
    s->impl = NULL;
    s->fd = -1;
    snprintf(t->ids[k], sizeof t->ids[k], "%s-%s-%d", g->group, s->name,
             t->part);
  }
  if (g->o->kafka_store) {
    t->owner = (uint32_t)(uv_hrtime() ^ ((uint64_t)getpid() << 20) ^
                          ((uint64_t)t->part * 2654435761u));
    char id[320];
    snprintf(id, sizeof id, "%s-%d", g->changelog, t->part);
    const char *log = t->router ? g->router_log : g->changelog;
    snprintf(id, sizeof id, "%s-%d", log, t->part);
    if (!(t->cl = cl_open(ctx, g->src->path, log, t->part, id)))
      return PSPF_EXIT_FAILURE;
  } else if (mkdir(t->dir, 0755) < 0 && errno != EEXIST) {
    task_log(t, 0, "partition %s-%d: cannot make its checkpoint directory: "
             "%s", strerror(errno));
    return PSPF_EXIT_FAILURE;
  }
  /* The sinks first: opening a transactional producer fences off the
   * partition's last owner, which cannot commit after that; what it
   * committed before is in the journal read next. */
  for (int k = 0; k < t->ns; k++) {
    pspf_sink_t *s = &t->sinks[k];
    if (s->ops ? kafka_task_sink_open(ctx, s, t->ids[k], t->dir,
                                      t->cl ? to_changelog : NULL, t) < 0
               : pspf_sink_open(ctx, s) < 0)
      return PSPF_EXIT_FAILURE;
  }
  t->maxts = t->sent_ts = INT64_MIN;
  if (!t->router && prog->route_time) {
    t->upstream = malloc(((size_t)g->nrepart + 1) * sizeof *t->upstream);
    if (!t->upstream)
      pspf_ck_oom();
    for (int i = 0; i < g->nrepart; i++)
      t->upstream[i] = INT64_MIN;
    ctx->time_cap = INT64_MIN;
  }
  if (task_restore(t) < 0)
    return PSPF_EXIT_FAILURE;
  for (int k = 0; k < t->ns; k++) {
    if (t->sinks[k].ops)
      kafka_task_sink_restored(&t->sinks[k]);
    t->restored[k] = t->sinks[k].records;
  }
  if (!t->router && prog->route_time)
    ctx->capped = true; /* the routers' watermark (time_cap, restored) */
  t->base_in = ctx->records_in;
  t->base_bad = ctx->bad;
  t->base_late = ctx->late;
  /* Bad records of every task go to one file: whole lines each. */
  FILE *dead = fopen(ctx->dead_path, "a");
  if (dead)
    setvbuf(dead, NULL, _IOLBF, 1 << 16);
  ctx->dead = dead;
  t->ck_due = uv_hrtime() + (uint64_t)g->o->interval_ms * 1000000u;
  t->ck_offset = t->next = t->start;
  return 0;
}

/* A router's parsed record: its message goes, as it is, to the
 * repartition topic's partition of its key. */
static void route_record(pspf_ctx_t *ctx, const void *rec, size_t n) {
  (void)n;
  task_t *t = (task_t *)(void *)((char *)ctx - offsetof(task_t, ctx));
  group_t *g = t->g;
  if (g->prog->route_time) {
    int64_t ts = g->prog->route_time(ctx, rec);
    if (ctx->fault)
      return; /* (a bad record: the dead-letter file, here) */
    if (ts > t->maxts)
      t->maxts = ts;
  }
  int part = pspf_owner(g->prog->route(rec), g->nrepart);
  kafka_task_produce_to(ctx, &t->rsink, part, t->at->payload, t->at->len,
                        t->at->key, t->at->key_len);
}

/* A keyed task's watermark message "P TS" (in [p]): router P has routed
 * records up to event time TS; the watermark is the least of the
 * routers', once every one has said. */
static void upstream_moved(task_t *t, const char *p) {
  long long part, ts;
  group_t *g = t->g;
  if (sscanf(p, "%lld %lld", &part, &ts) != 2 || part < 0 ||
      part >= g->nrepart)
    return;
  if (ts > t->upstream[part])
    t->upstream[part] = ts;
  int64_t cap = INT64_MAX;
  for (int i = 0; i < g->nrepart; i++)
    if (t->upstream[i] < cap)
      cap = t->upstream[i];
  if (cap > t->ctx.time_cap) {
    t->ctx.time_cap = cap;
    g->prog->tick(&t->ctx);
    t->ctx.scratch.n = 0;
    pspf_scratch_reset(&t->ctx);
  }
}

/* A router's largest event time, to every partition of the repartition
 * topic (in its transaction, after the records it covers). */
static void send_watermark(task_t *t) {
  char v[64];
  int n = snprintf(v, sizeof v, "%d %lld", t->part, (long long)t->maxts);
  for (int q = 0; q < t->g->nrepart && !t->ctx.stopping; q++)
    kafka_task_produce_to(&t->ctx, &t->rsink, q, v, (size_t)n, WM_KEY,
                          sizeof WM_KEY - 1);
  t->sent_ts = t->maxts;
}

/* Runs message [m] through the pipelines (a router: to its partition of
 * the repartition topic). */
static void task_message(task_t *t, const rd_kafka_message_t *m) {
  pspf_ctx_t *ctx = &t->ctx;
  pspf_source_t *src = t->g->src;
  size_t n = m->len;
  t->msg.n = 0;
  char *p = pspf_buf_reserve(&t->msg, n + PSPF_READ_PAD);
  if (!p)
    pspf_ck_oom();
  if (n)
    memcpy(p, m->payload, n);
  memset(p + n, 0, PSPF_READ_PAD);
  while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
    n--;
  t->next = m->offset + 1;
  if (t->upstream && m->key_len == sizeof WM_KEY - 1 &&
      memcmp(m->key, WM_KEY, sizeof WM_KEY - 1) == 0) {
    upstream_moved(t, p);
    return;
  }
  if (no_record(src, p, n))
    return;
  ctx->csv_nf = -2;
  ctx->pos.offset = (uint64_t)m->offset;
  ctx->pos.line = (uint64_t)m->offset + 1;
  ctx->input = (pspf_str_t){p, n};
  ctx->records_in++;
  t->records++;
  if (t->router) {
    ctx->collect = t; /* (the reader hands the record to route_record) */
    ctx->routed = route_record;
    t->at = m;
  }
  src->on_record(ctx, p, n);
  if (ctx->fault)
    pspf_bad_record(ctx);
  ctx->scratch.n = 0;
  pspf_scratch_reset(ctx);
}

/* Its counts, for the loop's thread (under g->mu). */
static void publish(task_t *t) {
  pspf_ctx_t *ctx = &t->ctx;
  t->pub_in = ctx->records_in - t->base_in;
  t->pub_bad = ctx->bad - t->base_bad;
  t->pub_late = ctx->late - t->base_late;
  t->pub_checkpoints = t->checkpoints;
  t->pub_next = t->next;
  for (int k = 0; k < t->ns && !t->router; k++)
    t->pub_sinks[k] = t->sinks[k].records - t->restored[k];
}

static void task_run(task_t *t) {
  group_t *g = t->g;
  pspf_ctx_t *ctx = &t->ctx;
  rd_kafka_message_t *batch[TASK_BATCH];
  for (;;) {
    size_t nb = 0;
    uv_mutex_lock(&g->mu);
    publish(t);
    if (!t->quit && !t->qlen)
      uv_cond_timedwait(&t->cv, &g->mu, 100 * 1000000u);
    bool quit = t->quit;
    while (!quit && nb < TASK_BATCH && t->qlen) {
      batch[nb++] = t->q[t->qhead];
      t->qhead = (t->qhead + 1) % t->qcap;
      t->qlen--;
    }
    bool room = t->want_room && t->qlen < TASK_QUEUE_MAX / 2 && !g->stopping;
    if (room)
      t->want_room = false;
    uv_mutex_unlock(&g->mu);
    if (room)
      uv_async_send(&g->wake);
    if (quit)
      break;
    for (size_t i = 0; i < nb; i++) {
      if (!ctx->stopping)
        task_message(t, batch[i]);
      rd_kafka_message_destroy(batch[i]);
    }
    if (!ctx->stopping && t->router && t->g->prog->route_time &&
        t->maxts > t->sent_ts)
      send_watermark(t);
    if (!ctx->stopping && flush_sinks(t, 0) < 0)
      ctx->stopping = true;
    if (!ctx->stopping && uv_hrtime() >= t->ck_due) {
      if (t->next != t->ck_offset && task_checkpoint(t) < 0)
        ctx->stopping = true;
      t->ck_due = uv_hrtime() + (uint64_t)g->o->interval_ms * 1000000u;
    }
    if (ctx->stopping) { /* a sink failed, or too many bad records */
      if (!ctx->exit_status)
        ctx->exit_status = PSPF_EXIT_FAILURE;
      break;
    }
  }
}

/* The task's last checkpoint (unless its partition was lost or it
 * failed), its sinks closed and its state freed. */
static void task_end(task_t *t) {
  group_t *g = t->g;
  pspf_program_t *prog = g->prog;
  pspf_ctx_t *ctx = &t->ctx;
  uv_mutex_lock(&g->mu);
  bool lost = t->lost;
  uv_mutex_unlock(&g->mu);
  if (!ctx->exit_status && !lost && t->next != t->ck_offset &&
      task_checkpoint(t) < 0 && !ctx->exit_status)
    ctx->exit_status = PSPF_EXIT_FAILURE;
  if (lost && !ctx->exit_status)
    ctx->exit_status = PSPF_EXIT_FAILURE; /* (its transactions abort) */
  for (int k = 0; k < t->ns; k++) {
    pspf_sink_t *s = &t->sinks[k];
    if (s->ops)
      s->ops->close(ctx, s);
    s->fd = -1; /* (the standard output stays open) */
  }
  if (lost)
    ctx->exit_status = 0;
  uv_mutex_lock(&g->mu); /* this run's records, for the totals */
  publish(t);
  for (int k = 0; k < t->ns && !t->router; k++)
    prog->sinks[k].records += t->sinks[k].records - t->restored[k];
  uv_mutex_unlock(&g->mu);
  /* Its state goes: what firing it makes goes nowhere. */
  prog->finish(ctx);
  for (int k = 0; k < t->ns; k++) {
    pspf_buf_free(&t->sinks[k].buf);
    pspf_buf_free(&t->sinks[k].key);
  }
  rt_strs_free_all();
  pspf_buf_free(&ctx->scratch);
  rt_scratch_free_all(ctx);
  if (ctx->dead)
    fclose(ctx->dead);
  ctx->dead = NULL;
  pspf_buf_free(&t->msg);
  pspf_buf_free(&t->body);
  pspf_buf_free(&t->image);
  cl_found_free(&t->stale);
  free(t->upstream);
  t->upstream = NULL;
  cl_close(t->cl);
  t->cl = NULL;
}

static void task_main(void *arg) {
  task_t *t = arg;
  group_t *g = t->g;
  int rc = task_begin(t);
  uv_mutex_lock(&g->mu);
  t->ready = true;
  t->rc = rc;
  uv_cond_broadcast(&g->ready);
  uv_mutex_unlock(&g->mu);
  if (!rc)
    task_run(t);
  if (!t->ctx.exit_status && rc)
    t->ctx.exit_status = rc;
  task_end(t);
  uv_mutex_lock(&g->mu);
  t->rc = t->ctx.exit_status;
  t->ended = true;
  bool tell = !g->stopping; /* (a failed task stops the program) */
  uv_mutex_unlock(&g->mu);
  if (tell)
    uv_async_send(&g->wake);
}

/* ---- the loop's thread: tasks come and go ------------------------------- */

static task_t *task_start(group_t *g, int kind, int part) {
  task_t *t = calloc(1, sizeof *t);
  if (!t)
    pspf_ck_oom();
  t->g = g;
  t->part = part;
  t->kind = kind;
  t->router = kind == TOPIC_IN && g->prog->route;
  t->topic = kind == TOPIC_IN ? g->src->topic : g->repart;
  t->qcap = 1024;
  t->q = malloc(t->qcap * sizeof *t->q);
  t->pub_sinks = calloc((size_t)g->prog->nsinks + 1, sizeof *t->pub_sinks);
  if (!t->q || !t->pub_sinks)
    pspf_ck_oom();
  snprintf(t->dir, sizeof t->dir, "%s/%s-%d", g->o->ck_dir, t->topic, part);
  uv_cond_init(&t->cv);
  if (uv_thread_create(&t->thread, task_main, t) != 0) {
    pspf_log(g->ctx, 0, "cannot start a thread for partition %d", part);
    exit(PSPF_EXIT_FAILURE);
  }
  return t;
}

/* Ends task [t] ([lost]: its partition is someone else's already) and
 * frees it; returns the status it ended with. */
static int task_stop(group_t *g, task_t *t, bool lost) {
  uv_mutex_lock(&g->mu);
  t->quit = true;
  t->lost = lost;
  uv_cond_signal(&t->cv);
  uv_mutex_unlock(&g->mu);
  uv_thread_join(&t->thread);
  while (t->qlen) { /* what it did not run: its next owner reads it */
    rd_kafka_message_destroy(t->q[t->qhead]);
    t->qhead = (t->qhead + 1) % t->qcap;
    t->qlen--;
  }
  int rc = t->rc;
  g->ctx->records_in += t->pub_in; /* (this run's, for the totals) */
  g->ctx->bad += t->pub_bad;
  g->ctx->late += t->pub_late;
  g->done_in += t->pub_in;
  g->done_bad += t->pub_bad;
  g->done_late += t->pub_late;
  g->done_checkpoints += t->pub_checkpoints;
  for (int k = 0; k < g->prog->nsinks; k++)
    g->done_sinks[k] += t->pub_sinks[k];
  free(t->pub_sinks);
  uv_cond_destroy(&t->cv);
  free(t->q);
  free(t->ids);
  free(t->restored);
  free(t);
  return rc;
}

/* One metric of one sample, without labels. */
static void metric1(pspf_buf_t *b, const char *name, const char *type,
                    const char *help, double v) {
  pspf_metric_head(b, name, type, help);
  pspf_metric(b, name, NULL, NULL, v);
}

/* /metrics of a scaled-out instance: the counts of its tasks, running and
 * ended, and each partition it holds. */
static void collect(void *arg, pspf_buf_t *b) {
  group_t *g = arg;
  pspf_program_t *prog = g->prog;
  uint64_t in = g->done_in, bad = g->done_bad, late = g->done_late,
           cks = g->done_checkpoints;
  uint64_t *sinks = calloc((size_t)prog->nsinks + 1, sizeof *sinks);
  if (!sinks)
    pspf_ck_oom();
  int held = 0;
  char num[32], label[128];
  pspf_buf_t parts = {0}; /* the per-partition samples */
  uv_mutex_lock(&g->mu);
  for (int k = 0; k < prog->nsinks; k++)
    sinks[k] = g->done_sinks[k];
  for (int i = 0; i < 2 * GROUP_MAX_PARTS; i++) {
    task_t *t = g->tasks[i / GROUP_MAX_PARTS][i % GROUP_MAX_PARTS];
    int p = i % GROUP_MAX_PARTS;
    if (!t)
      continue;
    held++;
    in += t->pub_in, bad += t->pub_bad, late += t->pub_late;
    cks += t->pub_checkpoints;
    for (int k = 0; k < prog->nsinks; k++)
      sinks[k] += t->pub_sinks[k];
    snprintf(num, sizeof num, "%d", p);
    label[0] = 0;
    pspf_label(label, sizeof label, "topic", t->topic);
    pspf_label(label, sizeof label, "partition", num);
    if (t->pub_next >= 0)
      pspf_metric_labels(&parts, "pspf_partition_next_offset", label,
                         (double)t->pub_next);
    pspf_metric_labels(&parts, "pspf_partition_queued_messages", label,
                       (double)t->qlen);
  }
  uv_mutex_unlock(&g->mu);
  pspf_metric_head(b, "pspf_source_records_total", "counter",
                   "records read from each source (this instance's partitions)");
  pspf_metric(b, "pspf_source_records_total", "source", g->src->name,
              (double)in);
  pspf_metric_head(b, "pspf_sink_records_total", "counter",
                   "records written to each sink");
  for (int k = 0; k < prog->nsinks; k++)
    pspf_metric(b, "pspf_sink_records_total", "sink", prog->sinks[k].name,
                (double)sinks[k]);
  metric1(b, "pspf_bad_records_total", "counter",
          "records sent to the dead-letter file", (double)bad);
  metric1(b, "pspf_late_records_total", "counter",
          "records that came after all their windows fired", (double)late);
  metric1(b, "pspf_checkpoints_total", "counter",
          "partition checkpoints taken", (double)cks);
  metric1(b, "pspf_partitions_assigned", "gauge",
          "partitions (of the source's and the repartition topic) this "
          "instance holds", (double)held);
  pspf_metric_head(b, "pspf_partition_next_offset", "gauge",
                   "each held partition's offset after the last record run");
  pspf_metric_head(b, "pspf_partition_queued_messages", "gauge",
                   "messages fetched for each held partition, not run yet");
  if (parts.n)
    pspf_buf_add(b, parts.p, parts.n);
  pspf_buf_free(&parts);
  free(sinks);
}

static void stop_group(group_t *g, int status) {
  if (status && !g->status)
    g->status = status;
  if (g->stopping)
    return;
  uv_mutex_lock(&g->mu); /* (tasks read it: the wake-up goes with it) */
  g->stopping = true;
  uv_mutex_unlock(&g->mu);
  uv_poll_stop(&g->poll);
  uv_timer_stop(&g->more);
  uv_close((uv_handle_t *)&g->poll, NULL);
  uv_close((uv_handle_t *)&g->more, NULL);
  uv_close((uv_handle_t *)&g->wake, NULL);
  for (int i = 0; i < 2; i++)
    uv_close((uv_handle_t *)&g->sig[i], NULL);
  if (g->o->metrics_addr)
    pspf_metrics_stop();
}

static void set_paused(group_t *g, task_t *t, bool pause);

/* TOPIC_IN or TOPIC_REPART for topic [name], or -1. */
static int kind_of(group_t *g, const char *name) {
  if (strcmp(name, g->src->topic) == 0)
    return TOPIC_IN;
  return g->prog->route && strcmp(name, g->repart) == 0 ? TOPIC_REPART : -1;
}

/* The task of element [e] of a rebalance's list, and where it goes. */
static task_t **slot_of(group_t *g, const rd_kafka_topic_partition_t *e) {
  int kind = kind_of(g, e->topic);
  return kind >= 0 && e->partition >= 0 && e->partition < GROUP_MAX_PARTS
             ? &g->tasks[kind][e->partition]
             : NULL;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
  group_t *g = opaque;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    g->assigned = true;
    /* Each new partition's task restores its state, then it is read. */
    for (int i = 0; i < parts->cnt; i++) {
      task_t **ts = slot_of(g, &parts->elems[i]);
      if (ts && !*ts && !g->stopping)
        *ts = task_start(g, kind_of(g, parts->elems[i].topic),
                         parts->elems[i].partition);
    }
    uv_mutex_lock(&g->mu);
    for (int i = 0; i < parts->cnt; i++) {
      task_t **ts = slot_of(g, &parts->elems[i]), *t = ts ? *ts : NULL;
      while (t && !t->ready)
        uv_cond_wait(&g->ready, &g->mu);
      parts->elems[i].offset = t && !t->rc ? t->start : RD_KAFKA_OFFSET_INVALID;
    }
    uv_mutex_unlock(&g->mu);
    int failed = 0;
    uv_mutex_lock(&g->mu);
    for (int i = 0; i < parts->cnt; i++) {
      int p = parts->elems[i].partition;
      task_t **ts = slot_of(g, &parts->elems[i]), *t = ts ? *ts : NULL;
      if (t && t->rc)
        failed = t->rc;
      if (p >= GROUP_MAX_PARTS) {
        pspf_log(g->ctx, 0, "source '%s': partition %d is beyond the %d an "
                 "instance can hold", g->src->name, p, GROUP_MAX_PARTS);
        failed = PSPF_EXIT_FAILURE;
      }
    }
    uv_mutex_unlock(&g->mu);
    rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
    if (e) {
      pspf_log(g->ctx, 0, "source '%s': cannot take partitions: %s",
               g->src->name, rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      failed = PSPF_EXIT_FAILURE;
    }
    if (g->ctx->log_level >= 2 && parts->cnt) {
      char list[2048];
      size_t n = 0;
      list[0] = 0;
      for (int i = 0; i < parts->cnt && n < sizeof list - 16; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s%d", i ? "," : "",
                              kind_of(g, parts->elems[i].topic) == TOPIC_REPART
                                  ? "r"
                                  : "",
                              parts->elems[i].partition);
      pspf_log(g->ctx, 2, "source '%s': assigned partitions %s of '%s'%s",
               g->src->name, list, g->src->topic,
               g->prog->route ? " (rN: of the repartition topic)" : "");
    }
    if (failed)
      stop_group(g, failed);
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    /* Each revoked partition's task checkpoints (its transaction commits)
     * and ends, before the partition is given up. */
    bool lost = rd_kafka_assignment_lost(rk);
    int failed = 0;
    for (int i = 0; i < parts->cnt; i++) {
      task_t **ts = slot_of(g, &parts->elems[i]);
      if (!ts || !*ts)
        continue;
      if ((*ts)->paused) /* (librdkafka keeps it paused otherwise) */
        set_paused(g, *ts, false);
      int rc = task_stop(g, *ts, lost);
      *ts = NULL;
      if (rc)
        failed = rc;
    }
    rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
    if (e)
      rd_kafka_error_destroy(e);
    if (g->ctx->log_level >= 2)
      pspf_log(g->ctx, 2, "source '%s': %d partition%s of '%s' %s",
               g->src->name, parts->cnt, parts->cnt == 1 ? "" : "s",
               g->src->topic, lost ? "lost (their transactions abort)"
                                   : "handed over");
    if (failed)
      stop_group(g, failed);
    return;
  }
  pspf_log(g->ctx, 0, "source '%s': the group's rebalance failed: %s",
           g->src->name, rd_kafka_err2str(err));
  rd_kafka_assign(rk, NULL);
  stop_group(g, PSPF_EXIT_FAILURE);
}

static void drain(group_t *g);
static void on_more(uv_timer_t *h) { drain(h->data); }

/* Pauses or resumes the fetching of task [t]'s partition. */
static void set_paused(group_t *g, task_t *t, bool pause) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, t->topic, t->part);
  if (pause)
    rd_kafka_pause_partitions(g->rk, l);
  else
    rd_kafka_resume_partitions(g->rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  t->paused = pause;
}

/* Hands the consumer's messages to their partitions' tasks. */
static void drain(group_t *g) {
  char junk[256];
  while (read(g->pipe[0], junk, sizeof junk) > 0)
    ;
  int n = 0;
  rd_kafka_message_t *m;
  while (n < GROUP_BATCH && !g->stopping &&
         (m = rd_kafka_consumer_poll(g->rk, 0))) {
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        pspf_log(g->ctx, 1, "source '%s': %s", g->src->name,
                 rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    int kind = kind_of(g, rd_kafka_topic_name(m->rkt));
    task_t *t = kind >= 0 && m->partition >= 0 &&
                        m->partition < GROUP_MAX_PARTS
                    ? g->tasks[kind][m->partition]
                    : NULL;
    if (!t) { /* (a partition given up: its next owner reads it) */
      rd_kafka_message_destroy(m);
      continue;
    }
    uv_mutex_lock(&g->mu);
    if (t->qlen == t->qcap) {
      size_t cap = t->qcap * 2;
      rd_kafka_message_t **q = malloc(cap * sizeof *q);
      if (!q)
        pspf_ck_oom();
      for (size_t i = 0; i < t->qlen; i++)
        q[i] = t->q[(t->qhead + i) % t->qcap];
      free(t->q);
      t->q = q;
      t->qcap = cap;
      t->qhead = 0;
    }
    t->q[(t->qhead + t->qlen++) % t->qcap] = m;
    if (t->qlen == 1)
      uv_cond_signal(&t->cv);
    bool pause = t->qlen >= TASK_QUEUE_MAX && !t->paused;
    if (pause)
      t->want_room = true;
    uv_mutex_unlock(&g->mu);
    if (pause) /* (librdkafka drops what it fetched ahead for it, and
                  fetches it again on resume) */
      set_paused(g, t, true);
    n++;
  }
  if (!g->stopping)
    uv_timer_start(&g->more, on_more, n == GROUP_BATCH ? 0 : GROUP_RECHECK_MS,
                   0);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  drain(h->data);
}

/* A task made room in its queue, or ended. */
static void on_wake(uv_async_t *h) {
  group_t *g = h->data;
  int failed = 0;
  for (int i = 0; i < 2 * GROUP_MAX_PARTS; i++) {
    task_t *t = g->tasks[i / GROUP_MAX_PARTS][i % GROUP_MAX_PARTS];
    if (!t)
      continue;
    uv_mutex_lock(&g->mu);
    if (t->ended && t->rc)
      failed = t->rc;
    bool resume = t->paused && t->qlen < TASK_QUEUE_MAX / 2;
    uv_mutex_unlock(&g->mu);
    if (resume && !g->stopping)
      set_paused(g, t, false);
  }
  if (failed) {
    pspf_log(g->ctx, 0, "source '%s': a partition's task stopped on an "
             "error; stopping (a restart goes on from the checkpoints)",
             g->src->name);
    stop_group(g, failed);
  }
}

static void on_signal(uv_signal_t *h, int signum) {
  group_t *g = h->data;
  g->ctx->stop_signal = signum;
  pspf_log(g->ctx, 2, "%s: checkpointing every partition, then leaving the "
           "group", signum == SIGINT ? "SIGINT" : "SIGTERM");
  stop_group(g, 0);
}

/* --checkpoint-reset: every partition's checkpoints and journals go. */
static int reset_topic(group_t *g, const char *topic) {
  DIR *d = opendir(g->o->ck_dir);
  if (!d)
    return errno == ENOENT ? 0 : -1;
  size_t tl = strlen(topic);
  struct dirent *de;
  int removed = 0;
  while ((de = readdir(d))) {
    if (strncmp(de->d_name, topic, tl) != 0 || de->d_name[tl] != '-')
      continue;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", g->o->ck_dir, de->d_name);
    /* The ids so far (files, journal lines, an earlier reset): the next
     * go on above them. */
    unsigned long long top = 0, v;
    uint64_t *ids;
    long n = pspf_ckpt_list(dir, &ids);
    if (n > 0)
      top = ids[0];
    free(n >= 0 ? ids : NULL);
    DIR *pd = opendir(dir);
    struct dirent *fe;
    while (pd && (fe = readdir(pd))) {
      if (fe->d_name[0] == '.' &&
          (!fe->d_name[1] || (fe->d_name[1] == '.' && !fe->d_name[2])))
        continue;
      char path[8300], line[8192];
      snprintf(path, sizeof path, "%s/%s", dir, fe->d_name);
      FILE *f = fopen(path, "r");
      while (f && fgets(line, sizeof line, f))
        if (((v = kafka_journal_id(line)) ||
             (strcmp(fe->d_name, "reset-above") == 0 &&
              sscanf(line, "%llu", &v) == 1)) &&
            v > top)
          top = v;
      if (f)
        fclose(f);
      unlink(path);
    }
    if (pd)
      closedir(pd);
    char path[4200];
    snprintf(path, sizeof path, "%s/reset-above", dir);
    FILE *f = fopen(path, "w");
    if (f) {
      fprintf(f, "%llu\n", top);
      fclose(f);
    }
    removed++;
  }
  closedir(d);
  if (removed)
    pspf_log(g->ctx, 1, "--checkpoint-reset: removed the checkpoints of %d "
             "partition%s of '%s'; they start from the beginning", removed,
             removed == 1 ? "" : "s", topic);
  return 0;
}

static int reset_store(group_t *g) {
  if (reset_topic(g, g->src->topic) < 0)
    return -1;
  return g->prog->route ? reset_topic(g, g->repart) : 0;
}

static int start_consumer(group_t *g) {
  pspf_source_t *src = g->src;
  char err[512];
  char session[32], beat[32];
  int64_t ms = g->o->session_ms;
  snprintf(session, sizeof session, "%lld", (long long)ms);
  snprintf(beat, sizeof beat, "%lld", (long long)(ms / 3));
  const char *const set[][2] = {
      {"bootstrap.servers", src->path},
      {"group.id", g->group},
      {"partition.assignment.strategy", "cooperative-sticky"},
      {"enable.auto.commit", "false"},
      {"auto.offset.reset", "earliest"},
      /* (the default, said: what an aborted transaction wrote to the
       * repartition topic is never read) */
      {"isolation.level", "read_committed"},
      {"enable.partition.eof", "false"},
      {"session.timeout.ms", session},
      {"heartbeat.interval.ms", beat},
      {"log_level", "4"},
      /* Fetched ahead, for all partitions: 4 MiB (as an unscaled
       * source) held one instance to half its speed, fetch round trips
       * apart (bench/README.md, "Scaling out"). */
      {"queued.max.messages.kbytes", "16384"},
  };
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (!kafka_conf_set_all(conf, set, sizeof set / sizeof set[0], err,
                          sizeof err)) {
    rd_kafka_conf_destroy(conf);
    pspf_log(g->ctx, 0, "source '%s': %s", src->name, err);
    return -1;
  }
  /* PSPF_KAFKA_DEBUG=cgrp,...: librdkafka's debug contexts, for
   * troubleshooting a group (docs/operations.md). */
  const char *dbg = getenv("PSPF_KAFKA_DEBUG");
  if (dbg && *dbg &&
      rd_kafka_conf_set(conf, "debug", dbg, err, sizeof err) != RD_KAFKA_CONF_OK)
    pspf_log(g->ctx, 1, "PSPF_KAFKA_DEBUG: %s", err);
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  rd_kafka_conf_set_opaque(conf, g);
  g->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!g->rk) {
    pspf_log(g->ctx, 0, "source '%s': %s", src->name, err);
    return -1;
  }
  rd_kafka_poll_set_consumer(g->rk);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
  rd_kafka_topic_partition_list_add(l, src->topic, RD_KAFKA_PARTITION_UA);
  if (g->prog->route)
    rd_kafka_topic_partition_list_add(l, g->repart, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(g->rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (e) {
    pspf_log(g->ctx, 0, "source '%s': cannot join group '%s': %s", src->name,
             g->group, rd_kafka_err2str(e));
    return -1;
  }
  if (pipe(g->pipe) < 0) {
    pspf_log(g->ctx, 0, "cannot start: %s", strerror(errno));
    return -1;
  }
  for (int i = 0; i < 2; i++) {
    fcntl(g->pipe[i], F_SETFL, O_NONBLOCK);
    fcntl(g->pipe[i], F_SETFD, FD_CLOEXEC);
  }
  g->queue = rd_kafka_queue_get_consumer(g->rk);
  rd_kafka_queue_io_event_enable(g->queue, g->pipe[1], "1", 1);
  return 0;
}

/* How many partitions the input topic has (from the cluster), or -1. */
static int input_partitions(group_t *g) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", g->src->path, err,
                        sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    pspf_log(g->ctx, 0, "source '%s': %s", g->src->name, err);
    return -1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    pspf_log(g->ctx, 0, "source '%s': %s", g->src->name, err);
    return -1;
  }
  int n = kafka_partitions(rk, g->src->topic, err, sizeof err);
  rd_kafka_destroy(rk);
  if (n < 0)
    pspf_log(g->ctx, 0, "source '%s': topic '%s': %s", g->src->name,
             g->src->topic, err);
  return n;
}

int pspf_scale_out(pspf_program_t *prog, pspf_ctx_t *ctx,
                   const pspf_scale_opts_t *o) {
  group_t *g = calloc(1, sizeof *g);
  if (!g)
    pspf_ck_oom();
  g->prog = prog;
  g->ctx = ctx;
  g->src = &prog->sources[0];
  g->o = o;
  g->pipe[0] = g->pipe[1] = -1;
  g->loop = uv_default_loop();
  if (g->src->client_id)
    snprintf(g->group, sizeof g->group, "%s", g->src->client_id);
  else
    snprintf(g->group, sizeof g->group, "pspf-%s-%s", prog->name,
             g->src->name);
  uv_mutex_init(&g->mu);
  uv_cond_init(&g->ready);
  g->done_sinks = calloc((size_t)prog->nsinks + 1, sizeof *g->done_sinks);
  if (!g->done_sinks)
    pspf_ck_oom();
  int status = 0;
  snprintf(g->changelog, sizeof g->changelog, "%s-changelog", g->group);
  snprintf(g->router_log, sizeof g->router_log, "%s-router-changelog",
           g->group);
  snprintf(g->repart, sizeof g->repart, "%s-repartition", g->group);
  /* The repartition topic: as many partitions as the input. */
  int parts = o->kafka_store || prog->route ? input_partitions(g) : 0;
  g->nrepart = parts;
  if (parts < 0 ||
      (prog->route &&
       cl_create_topic(ctx, g->src->path, g->repart, parts, false) < 0))
    status = PSPF_EXIT_FAILURE;
  if (status) {
  } else if (o->kafka_store) {
    if (o->reset)
      pspf_log(ctx, 0, "--checkpoint-reset with --state-store=kafka: delete "
               "topic '%s' instead (it holds every partition's state)",
               g->changelog);
    if (o->reset ||
        cl_create_topic(ctx, g->src->path, g->changelog, parts, true) < 0 ||
        (prog->route && cl_create_topic(ctx, g->src->path, g->router_log,
                                        parts, true) < 0))
      status = PSPF_EXIT_FAILURE;
  } else if (mkdir(o->ck_dir, 0755) < 0 && errno != EEXIST) {
    pspf_log(ctx, 0, "cannot make the checkpoint directory '%s': %s",
             o->ck_dir, strerror(errno));
    status = PSPF_EXIT_FAILURE;
  } else if (o->reset && reset_store(g) < 0) {
    pspf_log(ctx, 0, "--checkpoint-reset: cannot read '%s': %s", o->ck_dir,
             strerror(errno));
    status = PSPF_EXIT_FAILURE;
  }
  /* What the main thread's sinks hold (a CSV header) goes out once. */
  for (int k = 0; k < prog->nsinks && !status; k++) {
    pspf_sink_t *s = &prog->sinks[k];
    if (!s->ops && s->buf.n && pspf_sink_open(ctx, s) == 0)
      rt_sink_flush(ctx, s);
  }
  if (!status && start_consumer(g) < 0)
    status = PSPF_EXIT_FAILURE;
  if (!status && o->metrics_addr &&
      pspf_metrics_start(ctx, o->metrics_addr, collect, g) < 0)
    status = PSPF_EXIT_USAGE;
  if (!status) {
    pspf_log(ctx, 2, "scaled out: group '%s' on topic '%s'%s%s%s; "
             "partitions' state in %s%s", g->group, g->src->topic,
             prog->route ? ", through topic '" : "",
             prog->route ? g->repart : "",
             prog->route ? "' by key" : "", o->kafka_store ? "topic " : "",
             o->kafka_store ? g->changelog : o->ck_dir);
    uv_poll_init(g->loop, &g->poll, g->pipe[0]);
    g->poll.data = g;
    uv_poll_start(&g->poll, UV_READABLE, on_poll);
    uv_timer_init(g->loop, &g->more);
    g->more.data = g;
    uv_timer_start(&g->more, on_more, 0, 0);
    uv_async_init(g->loop, &g->wake, on_wake);
    g->wake.data = g;
    static const int signums[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
      uv_signal_init(g->loop, &g->sig[i]);
      g->sig[i].data = g;
      uv_signal_start(&g->sig[i], on_signal, signums[i]);
    }
    uv_run(g->loop, UV_RUN_DEFAULT);
    status = g->status;
  }
  /* Every task checkpoints and ends; then the instance leaves the group
   * (its partitions go to the others at once). */
  for (int i = 0; i < 2 * GROUP_MAX_PARTS; i++)
    if (g->tasks[i / GROUP_MAX_PARTS][i % GROUP_MAX_PARTS]) {
      task_t **ts = &g->tasks[i / GROUP_MAX_PARTS][i % GROUP_MAX_PARTS];
      int rc = task_stop(g, *ts, false);
      *ts = NULL;
      if (rc && !status)
        status = rc;
    }
  if (g->queue) {
    rd_kafka_queue_io_event_enable(g->queue, -1, NULL, 0);
    rd_kafka_queue_destroy(g->queue);
  }
  if (g->rk) {
    rd_kafka_consumer_close(g->rk);
    /* librdkafka 2.0 aborts destroying a cooperative-sticky consumer that
     * joined but was never given an assignment (its issue 4312, fixed in
     * 2.3): such a handle is kept, as the process ends anyway. */
    static rd_kafka_t *kept;
    if (g->assigned)
      rd_kafka_destroy(g->rk);
    else
      kept = g->rk;
    (void)kept;
  }
  for (int i = 0; i < 2; i++)
    if (g->pipe[i] >= 0)
      close(g->pipe[i]);
  uv_cond_destroy(&g->ready);
  uv_mutex_destroy(&g->mu);
  free(g->done_sinks);
  free(g);
  ctx->exit_status = status;
  return status;
}
