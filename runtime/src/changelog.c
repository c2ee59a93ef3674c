/*
 * changelog.c -- --state-store=kafka: see changelog.h.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "changelog.h"
#include "kafka.h"
#include "pspf/checkpoint.h"

#define CL_CHUNK 900000 /* bytes of a checkpoint a message */
#define CL_KEEP 3       /* checkpoints kept while reading, newest */

struct cl_s {
  pspf_ctx_t *ctx;
  rd_kafka_t *rk;          /* its idempotent producer */
  rd_kafka_topic_t *topic;
  const char *brokers;
  char name[256];          /* the topic */
  int part;
  int failed;              /* deliveries that failed */
  char error[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  (void)rk;
  cl_t *c = opaque;
  if (m->err && !c->failed++)
    snprintf(c->error, sizeof c->error, "%s", rd_kafka_err2str(m->err));
}

cl_t *cl_open(pspf_ctx_t *ctx, const char *brokers, const char *topic,
              int part, const char *client_id) {
  cl_t *c = calloc(1, sizeof *c);
  if (!c)
    pspf_ck_oom();
  c->ctx = ctx;
  c->brokers = brokers;
  c->part = part;
  snprintf(c->name, sizeof c->name, "%s", topic);
  char err[512];
  const char *const set[][2] = {
      {"bootstrap.servers", brokers}, {"client.id", client_id},
      {"enable.idempotence", "true"}, {"acks", "all"},
      {"linger.ms", "0"},             {"log_level", "4"},
      {"message.max.bytes", "1000000"},
  };
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (!kafka_conf_set_all(conf, set, sizeof set / sizeof set[0], err,
                          sizeof err)) {
    rd_kafka_conf_destroy(conf);
    pspf_log(ctx, 0, "changelog '%s': %s", topic, err);
    free(c);
    return NULL;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, c);
  c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!c->rk)
    rd_kafka_conf_destroy(conf); /* (not taken on failure) */
  if (!c->rk || !(c->topic = rd_kafka_topic_new(c->rk, topic, NULL))) {
    pspf_log(ctx, 0, "changelog '%s': %s", topic,
             c->rk ? rd_kafka_err2str(rd_kafka_last_error()) : err);
    cl_close(c);
    return NULL;
  }
  return c;
}

void cl_close(cl_t *c) {
  if (!c)
    return;
  if (c->topic)
    rd_kafka_topic_destroy(c->topic);
  if (c->rk) {
    rd_kafka_flush(c->rk, 10000);
    rd_kafka_destroy(c->rk);
  }
  free(c);
}

/* Produces one message to the partition (waiting while the local queue
 * is full). */
static int put(cl_t *c, const char *key, const void *v, size_t n) {
  uint64_t until = uv_hrtime() + (uint64_t)pspf_sink_retry_ms() * 1000000u;
  while (rd_kafka_produce(c->topic, c->part, RD_KAFKA_MSG_F_COPY, (void *)v,
                          n, key, strlen(key), NULL) != 0) {
    rd_kafka_resp_err_t e = rd_kafka_last_error();
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || uv_hrtime() > until) {
      pspf_log(c->ctx, 0, "changelog '%s' partition %d: %s", c->name, c->part,
               rd_kafka_err2str(e));
      return -1;
    }
    rd_kafka_poll(c->rk, 100);
  }
  return 0;
}

/* Every message delivered, within the retry limit. */
static int settle(cl_t *c) {
  int64_t ms = pspf_sink_retry_ms();
  rd_kafka_resp_err_t e =
      rd_kafka_flush(c->rk, ms > INT32_MAX ? INT32_MAX : (int)ms);
  if (e || c->failed) {
    pspf_log(c->ctx, 0, "changelog '%s' partition %d: %s", c->name, c->part,
             e ? "messages not delivered within the retry limit" : c->error);
    return -1;
  }
  return 0;
}

int cl_put_checkpoint(cl_t *c, uint32_t owner, uint64_t id, int slot,
                      const pspf_buf_t *image) {
  uint32_t chunks = (uint32_t)((image->n + CL_CHUNK - 1) / CL_CHUNK);
  char *msg = malloc(16 + CL_CHUNK);
  if (!msg)
    pspf_ck_oom();
  int rc = 0;
  for (uint32_t i = 0; i < chunks && !rc; i++) {
    size_t at = (size_t)i * CL_CHUNK;
    size_t n = image->n - at < CL_CHUNK ? image->n - at : CL_CHUNK;
    memcpy(msg, &id, 8);
    memcpy(msg + 8, &i, 4);
    memcpy(msg + 12, &chunks, 4);
    memcpy(msg + 16, image->p + at, n);
    char key[64];
    snprintf(key, sizeof key, "ckpt-%08x-%d-%u", owner, slot, i);
    rc = put(c, key, msg, 16 + n);
  }
  free(msg);
  return rc ? rc : settle(c);
}

int cl_drop_keys(cl_t *c, cl_found_t *f) {
  for (int i = 0; i < f->nstale; i++)
    if (rd_kafka_produce(c->topic, c->part, RD_KAFKA_MSG_F_COPY, NULL, 0,
                         f->stale[i], strlen(f->stale[i]), NULL) != 0) {
      pspf_log(c->ctx, 1, "changelog '%s' partition %d: %s", c->name, c->part,
               rd_kafka_err2str(rd_kafka_last_error()));
      break;
    }
  for (int i = 0; i < f->nstale; i++)
    free(f->stale[i]);
  free(f->stale);
  f->stale = NULL;
  f->nstale = 0;
  return settle(c);
}

int cl_put_journal(cl_t *c, const char *sink, const char *line, size_t n) {
  char key[160];
  snprintf(key, sizeof key, "journal-%s", sink);
  return put(c, key, line, n) ? -1 : settle(c);
}

/* ---- reading ---------------------------------------------------------------- */

typedef struct part_s { /* a checkpoint being put together */
  uint64_t id;
  int slot;
  uint32_t chunks, got;
  char **chunk;
  size_t *len;
} part_t;

static void part_free(part_t *p) {
  for (uint32_t i = 0; p->chunk && i < p->chunks; i++)
    free(p->chunk[i]);
  free(p->chunk);
  free(p->len);
  memset(p, 0, sizeof *p);
}

/* Keeps chunk [i] of [n] of checkpoint [id] among the CL_KEEP newest. */
static void keep_chunk(part_t *keep, uint64_t id, int slot, uint32_t i,
                       uint32_t n, const char *p, size_t len) {
  part_t *x = NULL;
  for (int k = 0; k < CL_KEEP && !x; k++)
    if (keep[k].chunk && keep[k].id == id)
      x = &keep[k];
  if (!x) { /* the oldest (or an empty slot) goes */
    int old = 0;
    for (int k = 0; k < CL_KEEP; k++) {
      if (!keep[k].chunk) {
        old = k;
        break;
      }
      if (keep[k].id < keep[old].id)
        old = k;
    }
    if (keep[old].chunk && keep[old].id > id)
      return; /* older than all kept */
    part_free(&keep[old]);
    x = &keep[old];
    x->id = id;
    x->chunks = n;
    x->chunk = calloc(n, sizeof *x->chunk);
    x->len = calloc(n, sizeof *x->len);
    if (!x->chunk || !x->len)
      pspf_ck_oom();
  }
  if (n != x->chunks) { /* the id written again (cut off before): anew */
    uint64_t keep_id = x->id;
    part_free(x);
    x->id = keep_id;
    x->chunks = n;
    x->chunk = calloc(n, sizeof *x->chunk);
    x->len = calloc(n, sizeof *x->len);
    if (!x->chunk || !x->len)
      pspf_ck_oom();
  }
  x->slot = slot;
  if (i >= n)
    return;
  if (!x->chunk[i])
    x->got++;
  free(x->chunk[i]);
  x->chunk[i] = malloc(len ? len : 1);
  if (!x->chunk[i])
    pspf_ck_oom();
  memcpy(x->chunk[i], p, len);
  x->len[i] = len;
}

/* Notes checkpoint key [k] (once): a new owner drops them (cl_drop_keys)
 * once it has committed a checkpoint of its own. */
static void note_key(cl_found_t *f, const char *k, size_t kn) {
  for (int i = 0; i < f->nstale; i++)
    if (strlen(f->stale[i]) == kn && memcmp(f->stale[i], k, kn) == 0)
      return;
  char **l = realloc(f->stale, (size_t)(f->nstale + 1) * sizeof *l);
  if (!l)
    pspf_ck_oom();
  f->stale = l;
  f->stale[f->nstale] = malloc(kn + 1);
  if (!f->stale[f->nstale])
    pspf_ck_oom();
  memcpy(f->stale[f->nstale], k, kn);
  f->stale[f->nstale++][kn] = 0;
}

static void note_journal(cl_found_t *f, const char *sink, size_t sn,
                         const char *line, size_t n) {
  char buf[64];
  size_t m = n < sizeof buf - 1 ? n : sizeof buf - 1;
  memcpy(buf, line, m);
  buf[m] = 0;
  /* ("close after=N": N committed, and compaction may keep only this) */
  uint64_t id = n && line[n - 1] == '\n' ? kafka_journal_id(buf) : 0;
  if (!id)
    return;
  int k = 0;
  while (k < f->njournals &&
         !(strlen(f->sinks[k]) == sn && memcmp(f->sinks[k], sink, sn) == 0))
    k++;
  if (k == f->njournals) {
    f->sinks = realloc(f->sinks, (size_t)(k + 1) * sizeof *f->sinks);
    f->committed = realloc(f->committed, (size_t)(k + 1) * sizeof *f->committed);
    if (!f->sinks || !f->committed)
      pspf_ck_oom();
    snprintf(f->sinks[k], sizeof f->sinks[k], "%.*s", (int)sn, sink);
    f->committed[k] = 0;
    f->njournals++;
  }
  if (id > f->committed[k])
    f->committed[k] = id;
}

int cl_read(cl_t *c, cl_found_t *out) {
  memset(out, 0, sizeof *out);
  int64_t lo = 0, hi = 0;
  rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
      c->rk, c->name, c->part, &lo, &hi, 10000);
  if (e) {
    pspf_log(c->ctx, 0, "changelog '%s' partition %d: %s", c->name, c->part,
             rd_kafka_err2str(e));
    return -1;
  }
  if (hi <= lo)
    return 0;
  char err[512];
  const char *const set[][2] = {
      {"bootstrap.servers", c->brokers}, {"group.id", "pspf-changelog-reader"},
      {"enable.auto.commit", "false"},   {"enable.partition.eof", "true"},
      {"log_level", "4"},                {"fetch.wait.max.ms", "10"},
  };
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (!kafka_conf_set_all(conf, set, sizeof set / sizeof set[0], err,
                          sizeof err)) {
    rd_kafka_conf_destroy(conf);
    pspf_log(c->ctx, 0, "changelog '%s': %s", c->name, err);
    return -1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    pspf_log(c->ctx, 0, "changelog '%s': %s", c->name, err);
    return -1;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, c->name, c->part)->offset = lo;
  rd_kafka_assign(rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  part_t keep[CL_KEEP];
  memset(keep, 0, sizeof keep);
  int rc = 0;
  uint64_t until = uv_hrtime() + (uint64_t)pspf_sink_retry_ms() * 1000000u;
  int64_t next = lo;
  while (next < hi) {
    if (uv_hrtime() > until) {
      pspf_log(c->ctx, 0, "changelog '%s' partition %d: not read to its end "
               "(offset %lld of %lld) within the retry limit", c->name,
               c->part, (long long)next, (long long)hi);
      rc = -1;
      break;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
    if (!m)
      continue;
    if (m->err) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->offset > next)
        next = m->offset; /* (read up to there) */
      rd_kafka_message_destroy(m);
      continue;
    }
    next = m->offset + 1;
    const char *k = m->key;
    size_t kn = m->key_len;
    if (kn > 16 && memcmp(k, "ckpt-", 5) == 0 && m->len >= 16) {
      uint64_t id;
      uint32_t i, n;
      memcpy(&id, m->payload, 8);
      memcpy(&i, (char *)m->payload + 8, 4);
      memcpy(&n, (char *)m->payload + 12, 4);
      int slot = k[14] == '1'; /* ("ckpt-OWNER-S-I") */
      note_key(out, k, kn);
      if (n && n < 1u << 16)
        keep_chunk(keep, id, slot, i, n, (char *)m->payload + 16, m->len - 16);
      if (id > out->max_id)
        out->max_id = id;
    } else if (kn > 8 && memcmp(k, "journal-", 8) == 0) {
      note_journal(out, k + 8, kn - 8, m->payload, m->len);
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  /* The whole checkpoints, newest first. */
  out->ids = calloc(CL_KEEP, sizeof *out->ids);
  out->bytes = calloc(CL_KEEP, sizeof *out->bytes);
  out->sizes = calloc(CL_KEEP, sizeof *out->sizes);
  out->slots = calloc(CL_KEEP, sizeof *out->slots);
  if (!out->ids || !out->bytes || !out->sizes || !out->slots)
    pspf_ck_oom();
  for (;;) {
    int best = -1;
    for (int k = 0; k < CL_KEEP; k++)
      if (keep[k].chunk && keep[k].got == keep[k].chunks &&
          (best < 0 || keep[k].id > keep[best].id))
        best = k;
    if (best < 0)
      break;
    part_t *x = &keep[best];
    size_t size = 0;
    for (uint32_t i = 0; i < x->chunks; i++)
      size += x->len[i];
    char *b = malloc(size ? size : 1);
    if (!b)
      pspf_ck_oom();
    for (size_t i = 0, at = 0; i < x->chunks; at += x->len[i], i++)
      memcpy(b + at, x->chunk[i], x->len[i]);
    out->ids[out->n] = x->id;
    out->bytes[out->n] = b;
    out->sizes[out->n] = size;
    out->slots[out->n] = x->slot;
    out->n++;
    part_free(x);
  }
  for (int k = 0; k < CL_KEEP; k++)
    part_free(&keep[k]);
  return rc;
}

uint64_t cl_committed(const cl_found_t *f, const char *sink) {
  for (int k = 0; k < f->njournals; k++)
    if (strcmp(f->sinks[k], sink) == 0)
      return f->committed[k];
  return 0;
}

void cl_found_free(cl_found_t *f) {
  for (int i = 0; i < f->n; i++)
    free(f->bytes[i]);
  free(f->ids);
  free(f->bytes);
  free(f->sizes);
  free(f->sinks);
  free(f->committed);
  free(f->slots);
  for (int i = 0; i < f->nstale; i++)
    free(f->stale[i]);
  free(f->stale);
  memset(f, 0, sizeof *f);
}

/* Partitions of [topic] in the cluster (every topic's metadata: asking
 * for one may create it), 0 when it is not there, -1 when unknown. */
static int partitions_of(rd_kafka_t *rk, const char *topic) {
  const struct rd_kafka_metadata *md = NULL;
  if (rd_kafka_metadata(rk, 1, NULL, &md, 10000) != 0)
    return -1;
  int n = 0;
  for (int i = 0; i < md->topic_cnt; i++)
    if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
      n = md->topics[i].partition_cnt;
  rd_kafka_metadata_destroy(md);
  return n;
}

int cl_create_topic(pspf_ctx_t *ctx, const char *brokers, const char *topic,
                    int parts, bool compact) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *const set[][2] = {{"bootstrap.servers", brokers},
                                {"log_level", "4"}};
  if (!kafka_conf_set_all(conf, set, 2, err, sizeof err)) {
    rd_kafka_conf_destroy(conf);
    pspf_log(ctx, 0, "changelog '%s': %s", topic, err);
    return -1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    pspf_log(ctx, 0, "changelog '%s': %s", topic, err);
    return -1;
  }
  int have = partitions_of(rk, topic), rc = -1;
  snprintf(err, sizeof err, "cannot read the cluster's topics");
  if (have > 0 && have < parts)
    snprintf(err, sizeof err, "it has %d partitions, fewer than the input's "
             "%d", have, parts);
  else if (have >= parts)
    rc = 0;
  if (have == 0) { /* made now: compacted, a partition an input one */
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(topic, parts, -1, err, sizeof err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    if (nt && compact) {
      rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
      /* (segments rolled every 10 minutes, so that compaction reaches
       * them: a restore reads what is not compacted) */
      rd_kafka_NewTopic_set_config(nt, "segment.ms", "600000");
    }
    if (nt) {
      rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
      rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
      const rd_kafka_CreateTopics_result_t *res =
          ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
      size_t n = 0;
      const rd_kafka_topic_result_t **tr =
          res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
      rd_kafka_resp_err_t e =
          !ev                      ? RD_KAFKA_RESP_ERR__TIMED_OUT
          : rd_kafka_event_error(ev) ? rd_kafka_event_error(ev)
          : n                      ? rd_kafka_topic_result_error(tr[0])
                                   : RD_KAFKA_RESP_ERR__FAIL;
      if (!e || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        rc = 0;
      else
        snprintf(err, sizeof err, "cannot create it: %s", rd_kafka_err2str(e));
      if (ev)
        rd_kafka_event_destroy(ev);
      rd_kafka_NewTopic_destroy(nt);
    }
    rd_kafka_queue_destroy(q);
  }
  rd_kafka_destroy(rk);
  if (rc)
    pspf_log(ctx, 0, "topic '%s': %s (create it%s, with %d partitions)",
             topic, err, compact ? " compacted" : "", parts);
  return rc;
}
