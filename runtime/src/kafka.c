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
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "pspf/rt.h"

typedef struct kp_s {
  rd_kafka_t *rk;
  rd_kafka_topic_t *topic;
  pspf_ctx_t *ctx;
  pspf_sink_t *sink;
  uv_timer_t timer;
  uint64_t failed;     /* deliveries that failed */
  char first_error[256];
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
  }
}

static void on_timer(uv_timer_t *h) {
  kp_t *k = h->data;
  rd_kafka_poll(k->rk, 0);
}

static int fail(pspf_ctx_t *ctx, pspf_sink_t *s, const char *what) {
  pspf_log(ctx, 0, "sink '%s' (kafka %s, topic '%s'): %s; stopping (a "
           "restart goes on from the last checkpoint)", s->name, s->path,
           s->topic, what);
  ctx->exit_status = PSPF_EXIT_FAILURE;
  ctx->stopping = true;
  return PSPF_EIO;
}

static int sink_open(pspf_ctx_t *ctx, pspf_sink_t *s) {
  kp_t *k = calloc(1, sizeof *k);
  if (!k)
    return fail(ctx, s, "out of memory");
  k->ctx = ctx;
  k->sink = s;
  s->impl = k;
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char client[256];
  snprintf(client, sizeof client, "pspf-%s-%s", pspf_program_name(), s->name);
  static const char *const set[][2] = {
      {"enable.idempotence", "true"}, {"acks", "all"},
      {"linger.ms", "5"},             {"log_level", "4"},
      {"message.timeout.ms", "0"}, /* no giving up: the retry limit does */
  };
  if (rd_kafka_conf_set(conf, "bootstrap.servers", s->path, err, sizeof err) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "client.id", client, err, sizeof err) !=
          RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return fail(ctx, s, err);
  }
  for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
    if (rd_kafka_conf_set(conf, set[i][0], set[i][1], err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
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
  uv_timer_init(uv_default_loop(), &k->timer);
  k->timer.data = k;
  uv_timer_start(&k->timer, on_timer, 100, 100);
  uv_unref((uv_handle_t *)&k->timer);
  return 0;
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
  s->length = s->records;
  return 0;
}

static int sink_commit(pspf_ctx_t *ctx, pspf_sink_t *s, uint64_t checkpoint) {
  kp_t *k = s->impl;
  if (!k)
    return 0;
  if (!checkpoint) { /* a plain flush: serve the delivery reports */
    rd_kafka_poll(k->rk, 0);
    return k->failed ? flush(ctx, s) : 0;
  }
  return flush(ctx, s); /* at least once: delivered before the checkpoint */
}

static void on_closed(uv_handle_t *h) { free(h->data); }

static int sink_close(pspf_ctx_t *ctx, pspf_sink_t *s) {
  kp_t *k = s->impl;
  if (!k)
    return 0;
  int r = ctx->exit_status ? 0 : flush(ctx, s);
  if (k->topic)
    rd_kafka_topic_destroy(k->topic);
  if (k->rk)
    rd_kafka_destroy(k->rk);
  s->impl = NULL;
  if (k->timer.data) {
    uv_timer_stop(&k->timer);
    uv_close((uv_handle_t *)&k->timer, on_closed);
  } else {
    free(k);
  }
  return r;
}

const pspf_sink_ops_t pspf_kafka_sink_ops = {sink_open, sink_commit,
                                             sink_close};

void pspf_kafka_produce(pspf_ctx_t *ctx, pspf_sink_t *s, const char *key,
                        size_t keylen) {
  kp_t *k = s->impl;
  uint64_t until = 0;
  for (;;) {
    if (rd_kafka_produce(k->topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                         s->buf.p, s->buf.n, key, keylen, NULL) == 0)
      break;
    rd_kafka_resp_err_t e = rd_kafka_last_error();
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      fail(ctx, s, rd_kafka_err2str(e));
      s->buf.n = 0;
      return;
    }
    /* The local queue is full: wait for deliveries (the program, and so
     * its sources, pause). */
    if (!until)
      until = uv_hrtime() + (uint64_t)pspf_sink_retry_ms() * 1000000u;
    if (uv_hrtime() > until) {
      fail(ctx, s, "the broker took no messages within the retry limit");
      s->buf.n = 0;
      return;
    }
    rd_kafka_poll(k->rk, 100);
  }
  s->buf.n = 0;
  s->records++;
  rd_kafka_poll(k->rk, 0);
  if (k->failed)
    flush(ctx, s);
}
