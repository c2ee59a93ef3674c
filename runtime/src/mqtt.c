/*
 * mqtt.c -- MQTT sources and sinks on libmosquitto, driven by the libuv
 * loop (rt.h: pspf_mqtt_source_ops, pspf_mqtt_sink_ops). Only programs
 * with an mqtt connector reference them, so only they link this file and
 * -lmosquitto.
 *
 * No thread of libmosquitto's own: the client's socket is watched with a
 * uv_poll (readable always, writable while the client has bytes to send),
 * and a one-second uv_timer runs mosquitto_loop_misc() for keep-alive.
 * The connection is made asynchronously; when it is lost (or cannot be
 * made), it is made again after an exponential backoff with jitter
 * (RECONNECT_MIN_MS doubling to RECONNECT_MAX_MS, times 0.5-1.0).
 *
 * A source subscribes to its topic (wildcards allowed) with its QoS in
 * the connect callback. With QoS 1 the session is persistent (clean
 * session off, a client id that stays the same from run to run:
 * pspf-PROGRAM-SOURCE unless client_id: is given), so that the broker keeps
 * what is published while the program is away. Each message is one
 * record. A sink publishes one message a record; at QoS 1 it waits, when
 * it is flushed or closed, until the broker has acknowledged every one.
 * Messages written while the connection is down wait in the client and
 * go out once it is back.
 *
 * The user name and password come from --mqtt-username/--mqtt-password
 * (PSPF_MQTT_USERNAME, PSPF_MQTT_PASSWORD), a CA file for TLS from
 * --mqtt-cafile (PSPF_MQTT_CAFILE; mqtts:// or ssl:// URLs use TLS).
 */
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "pspf/rt.h"

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 10000
#define KEEPALIVE_S 30

typedef struct mq_s {
  struct mosquitto *m;
  pspf_ctx_t *ctx;
  pspf_source_t *src;  /* a source's, or NULL */
  pspf_sink_t *sink;   /* a sink's, or NULL */
  const char *what;    /* "source 'x'" / "sink 'y'" for messages */
  char what_buf[160];
  char host[256];
  int port;
  bool tls;
  uv_poll_t poll;
  bool poll_open;      /* poll is initialized (on the current socket) */
  int poll_fd;
  uv_timer_t timer;    /* keep-alive, and reconnection */
  bool timer_open;
  bool connected;
  bool closing;        /* stopped: no more reconnection */
  unsigned attempt;    /* failed connections in a row */
  uint64_t received;   /* messages: the records' positions */
  uint64_t unacked;    /* QoS 1 publishes not acknowledged yet */
} mq_t;

/* tcp://host:port, mqtt://, mqtts://, ssl://, or host[:port]. */
static int parse_url(mq_t *q, const char *url) {
  const char *p = url;
  q->port = 1883;
  const char *sep = strstr(p, "://");
  if (sep) {
    size_t n = (size_t)(sep - p);
    if ((n == 5 && strncmp(p, "mqtts", 5) == 0) ||
        (n == 3 && strncmp(p, "ssl", 3) == 0)) {
      q->tls = true;
      q->port = 8883;
    } else if (!((n == 3 && strncmp(p, "tcp", 3) == 0) ||
                 (n == 4 && strncmp(p, "mqtt", 4) == 0))) {
      return -1;
    }
    p = sep + 3;
  }
  const char *colon = strrchr(p, ':');
  size_t hn = colon ? (size_t)(colon - p) : strlen(p);
  if (!hn || hn >= sizeof q->host)
    return -1;
  memcpy(q->host, p, hn);
  q->host[hn] = 0;
  if (colon) {
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535)
      return -1;
    q->port = (int)port;
  }
  return 0;
}

static void update_poll(mq_t *q);
static void schedule_reconnect(mq_t *q);
static int reconnect_waiting(mq_t *q);

static void on_poll_closed(uv_handle_t *h) { (void)h; }

static void close_poll(mq_t *q) {
  if (q->poll_open) {
    uv_poll_stop(&q->poll);
    uv_close((uv_handle_t *)&q->poll, on_poll_closed);
    q->poll_open = false;
  }
}

/* The connection is gone (or never came): try again later. */
static void lost(mq_t *q, int rc) {
  if (q->connected)
    pspf_log(q->ctx, 1, "%s: lost the connection to %s:%d (%s); "
             "reconnecting", q->what, q->host, q->port,
             mosquitto_strerror(rc));
  q->connected = false;
  close_poll(q);
  schedule_reconnect(q);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  mq_t *q = h->data;
  int rc = status < 0 ? MOSQ_ERR_CONN_LOST : MOSQ_ERR_SUCCESS;
  uint64_t before = q->received;
  if (rc == MOSQ_ERR_SUCCESS && (events & UV_READABLE))
    rc = mosquitto_loop_read(q->m, 1);
  if (q->received != before) /* what came is written out */
    pspf_batch_done(q->ctx);
  if (rc == MOSQ_ERR_SUCCESS && (events & UV_WRITABLE))
    rc = mosquitto_loop_write(q->m, 1);
  if (q->closing)
    return;
  if (rc != MOSQ_ERR_SUCCESS)
    lost(q, rc);
  else
    update_poll(q);
}

/* Watches the client's socket: readable, and writable while it has
 * bytes to send. */
static void update_poll(mq_t *q) {
  int fd = mosquitto_socket(q->m);
  if (fd < 0 || q->closing)
    return;
  if (q->poll_open && q->poll_fd != fd)
    close_poll(q);
  if (!q->poll_open) {
    uv_poll_init(uv_default_loop(), &q->poll, fd);
    q->poll.data = q;
    q->poll_fd = fd;
    q->poll_open = true;
    if (q->sink) /* a sink does not keep the program going */
      uv_unref((uv_handle_t *)&q->poll);
  }
  uv_poll_start(&q->poll,
                UV_READABLE | (mosquitto_want_write(q->m) ? UV_WRITABLE : 0),
                on_poll);
}

static void try_connect(mq_t *q) {
  int rc = q->attempt == 0 && !q->received
               ? mosquitto_connect_async(q->m, q->host, q->port, KEEPALIVE_S)
               : mosquitto_reconnect_async(q->m);
  if (rc != MOSQ_ERR_SUCCESS) {
    if (q->attempt == 0)
      pspf_log(q->ctx, 1, "%s: cannot connect to %s:%d (%s); trying again",
               q->what, q->host, q->port, mosquitto_strerror(rc));
    schedule_reconnect(q);
    return;
  }
  update_poll(q);
}

static void on_timer(uv_timer_t *h) {
  mq_t *q = h->data;
  if (q->closing)
    return;
  if (!q->connected && mosquitto_socket(q->m) < 0) {
    try_connect(q);
    return;
  }
  int rc = mosquitto_loop_misc(q->m);
  if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
    lost(q, rc);
  else
    update_poll(q);
  uv_timer_start(&q->timer, on_timer, 1000, 0);
}

static void schedule_reconnect(mq_t *q) {
  if (q->closing)
    return;
  unsigned ms = RECONNECT_MIN_MS;
  for (unsigned i = 0; i < q->attempt && ms < RECONNECT_MAX_MS; i++)
    ms *= 2;
  if (ms > RECONNECT_MAX_MS)
    ms = RECONNECT_MAX_MS;
  ms = ms / 2 + (unsigned)(rand() % (int)(ms / 2 + 1)); /* jitter */
  q->attempt++;
  uv_timer_start(&q->timer, on_timer, ms, 0);
}

static void on_connect(struct mosquitto *m, void *obj, int rc) {
  mq_t *q = obj;
  if (rc != 0) {
    pspf_log(q->ctx, rc == 4 || rc == 5 ? 0 : 1,
             "%s: %s:%d refused the connection: %s", q->what, q->host,
             q->port, mosquitto_connack_string(rc));
    return; /* the client disconnects; on_poll sees it and retries */
  }
  if (q->attempt)
    pspf_log(q->ctx, 2, "%s: connected to %s:%d again", q->what, q->host,
             q->port);
  q->connected = true;
  q->attempt = 0;
  if (q->src) {
    int src_rc = mosquitto_subscribe(m, NULL, q->src->topic, q->src->qos);
    if (src_rc != MOSQ_ERR_SUCCESS)
      pspf_log(q->ctx, 0, "%s: cannot subscribe to '%s': %s", q->what,
               q->src->topic, mosquitto_strerror(src_rc));
  }
}

static void on_message(struct mosquitto *m, void *obj,
                       const struct mosquitto_message *msg) {
  (void)m;
  mq_t *q = obj;
  if (q->closing || q->ctx->stopping)
    return;
  size_t n = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
  q->received++;
  pspf_source_message(q->ctx, q->src, msg->payload, n, q->received,
                      q->received);
}

static void on_publish(struct mosquitto *m, void *obj, int mid) {
  (void)m;
  (void)mid;
  mq_t *q = obj;
  if (q->unacked)
    q->unacked--;
}

static mq_t *mq_new(pspf_ctx_t *ctx, const char *kind, const char *name,
                    const char *url, const char *client_id, bool clean) {
  static bool init;
  if (!init) {
    mosquitto_lib_init();
    init = true;
  }
  mq_t *q = calloc(1, sizeof *q);
  if (!q)
    return NULL;
  q->ctx = ctx;
  snprintf(q->what_buf, sizeof q->what_buf, "%s '%s'", kind, name);
  q->what = q->what_buf;
  if (parse_url(q, url) < 0) {
    pspf_log(ctx, 0, "%s: '%s' is not an MQTT URL (tcp://host:port, "
             "mqtts://host:port)", q->what, url);
    free(q);
    return NULL;
  }
  q->m = mosquitto_new(client_id, clean, q);
  if (!q->m) {
    pspf_log(ctx, 0, "%s: cannot make an MQTT client", q->what);
    free(q);
    return NULL;
  }
  mosquitto_int_option(q->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  const char *user = pspf_connector_option("mqtt_username");
  const char *pass = pspf_connector_option("mqtt_password");
  if (user)
    mosquitto_username_pw_set(q->m, user, pass);
  const char *cafile = pspf_connector_option("mqtt_cafile");
  if (q->tls || cafile) {
    int rc = mosquitto_tls_set(q->m, cafile, cafile ? NULL : "/etc/ssl/certs",
                               NULL, NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
      pspf_log(ctx, 0, "%s: cannot set up TLS: %s", q->what,
               mosquitto_strerror(rc));
      mosquitto_destroy(q->m);
      free(q);
      return NULL;
    }
  }
  mosquitto_connect_callback_set(q->m, on_connect);
  mosquitto_message_callback_set(q->m, on_message);
  mosquitto_publish_callback_set(q->m, on_publish);
  uv_timer_init(uv_default_loop(), &q->timer);
  q->timer.data = q;
  q->timer_open = true;
  uv_unref((uv_handle_t *)&q->timer);
  return q;
}

static void on_timer_closed(uv_handle_t *h) { free(h->data); }

/* Stops [q]: no more reconnection, the socket no longer watched; the
 * client is destroyed once its handles are closed. */
static void mq_free(mq_t *q) {
  q->closing = true;
  close_poll(q);
  if (q->m) {
    if (q->connected)
      mosquitto_disconnect(q->m);
    mosquitto_destroy(q->m);
    q->m = NULL;
  }
  if (q->timer_open) {
    uv_timer_stop(&q->timer);
    uv_close((uv_handle_t *)&q->timer, on_timer_closed);
  } else {
    free(q);
  }
}

/* The client id: given, or pspf-PROGRAM-NAME (the same every run, so
 * that a persistent session finds the program again). */
static const char *client_id(char *buf, size_t n, const char *given,
                             const char *name) {
  if (given)
    return given;
  snprintf(buf, n, "pspf-%s-%s", pspf_program_name(), name);
  return buf;
}

/* ---- sources ---------------------------------------------------------------- */

static int source_start(pspf_ctx_t *ctx, pspf_source_t *src) {
  char id[256];
  const char *cid = client_id(id, sizeof id, src->client_id, src->name);
  mq_t *q = mq_new(ctx, "source", src->name, src->path, cid, src->qos == 0);
  if (!q)
    return PSPF_EIO;
  q->src = src;
  src->impl = q;
  uv_ref((uv_handle_t *)&q->timer); /* a source keeps the program going */
  try_connect(q);
  uv_timer_start(&q->timer, on_timer, 1000, 0);
  return 0;
}

static void source_stop(pspf_ctx_t *ctx, pspf_source_t *src) {
  (void)ctx;
  if (src->impl)
    mq_free(src->impl);
  src->impl = NULL;
}

const pspf_source_ops_t pspf_mqtt_source_ops = {
    .start = source_start, .stop = source_stop, .kind = "mqtt"};

/* ---- sinks ------------------------------------------------------------------ */

static int sink_open(pspf_ctx_t *ctx, pspf_sink_t *s) {
  char id[256];
  char name[200];
  snprintf(name, sizeof name, "%s-out", s->name);
  const char *cid = client_id(id, sizeof id, s->client_id, name);
  mq_t *q = mq_new(ctx, "sink", s->name, s->path, cid, true);
  if (!q)
    return PSPF_EIO;
  q->sink = s;
  s->impl = q;
  try_connect(q);
  uv_timer_start(&q->timer, on_timer, 1000, 0);
  return 0;
}

/* Waits until [q]'s QoS 1 messages are all acknowledged and its bytes
 * sent, or [ms] pass: with the client's own mosquitto_loop() on its
 * socket (this may run inside a libuv callback, where the loop cannot be
 * run again). */
static void drain(mq_t *q, unsigned ms) {
  uint64_t until = uv_hrtime() + (uint64_t)ms * 1000000u;
  while ((q->unacked || (q->m && mosquitto_want_write(q->m))) &&
         uv_hrtime() < until && !q->closing) {
    int rc = mosquitto_loop(q->m, 100, 1);
    if ((rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST) &&
        reconnect_waiting(q) < 0)
      break;
  }
  update_poll(q);
}

static int sink_commit(pspf_ctx_t *ctx, pspf_sink_t *s, uint64_t checkpoint) {
  mq_t *q = s->impl;
  (void)ctx;
  if (!q)
    return 0;
  /* At least once: what was published before a checkpoint is on the
   * broker (QoS 1) or sent (QoS 0) before it is taken. A plain flush only
   * makes sure the socket is watched for writing. */
  if (checkpoint)
    drain(q, 30000);
  else
    update_poll(q);
  s->length = s->records;
  return 0;
}

static int sink_close(pspf_ctx_t *ctx, pspf_sink_t *s) {
  mq_t *q = s->impl;
  int r = 0;
  if (!q)
    return 0;
  drain(q, 10000);
  if (q->unacked) {
    pspf_log(ctx, 0, "%s: %llu messages were not acknowledged by %s:%d",
             q->what, (unsigned long long)q->unacked, q->host, q->port);
    r = PSPF_EIO;
  }
  mq_free(q);
  s->impl = NULL;
  return r;
}

const pspf_sink_ops_t pspf_mqtt_sink_ops = {
    .open = sink_open, .commit = sink_commit, .close = sink_close};

/* Connects [q] again, waiting (the program, and so its sources, pause):
 * exponential backoff with jitter, for at most pspf_sink_retry_ms() in
 * all. Returns 0 once connected, -1 at the limit. */
static int reconnect_waiting(mq_t *q) {
  pspf_retry_t retry = {0};
  bool told = false;
  close_poll(q);
  q->connected = false;
  do {
    if (q->closing)
      break;
    if (mosquitto_reconnect(q->m) == MOSQ_ERR_SUCCESS) {
      /* Wait for the CONNACK. */
      uint64_t ack = uv_hrtime() + 5000000000u;
      while (!q->connected && uv_hrtime() < ack &&
             mosquitto_loop(q->m, 100, 1) == MOSQ_ERR_SUCCESS)
        ;
      if (q->connected) {
        update_poll(q);
        return 0;
      }
    }
    if (!told) {
      pspf_log(q->ctx, 1, "%s: %s:%d is unreachable; the program waits "
               "(retrying for up to %lld ms)", q->what, q->host, q->port,
               (long long)pspf_sink_retry_ms());
      told = true;
    }
  } while (pspf_retry_wait(&retry));
  return -1;
}

/* The most QoS 1 messages in flight: past it, the program waits for
 * acknowledgements (backpressure: its sources pause). */
#define MAX_INFLIGHT 1000

void pspf_mqtt_publish(pspf_ctx_t *ctx, pspf_sink_t *s) {
  mq_t *q = s->impl;
  int rc;
  for (;;) {
    rc = mosquitto_publish(q->m, NULL, s->topic, (int)s->buf.n, s->buf.p,
                           s->qos, false);
    if (rc != MOSQ_ERR_NO_CONN && rc != MOSQ_ERR_CONN_LOST)
      break;
    /* Not connected: the program waits for the broker (its sources
     * pause). A QoS 1 message is in the client's queue already, and goes
     * out once connected; a QoS 0 one is published again. */
    if (reconnect_waiting(q) < 0)
      break;
    if (s->qos > 0) {
      rc = MOSQ_ERR_SUCCESS;
      break;
    }
  }
  s->buf.n = 0;
  if (rc == MOSQ_ERR_SUCCESS) {
    s->records++;
    if (s->qos > 0)
      q->unacked++;
    if (q->unacked >= MAX_INFLIGHT)
      drain(q, (unsigned)pspf_sink_retry_ms());
    if (q->unacked < MAX_INFLIGHT) {
      update_poll(q);
      return;
    }
  }
  pspf_log(ctx, 0, "%s: cannot publish to '%s' on %s:%d: %s; stopping "
           "(a restart goes on from the last checkpoint)", q->what, s->topic,
           q->host, q->port,
           rc == MOSQ_ERR_SUCCESS ? "no acknowledgement within the retry limit"
           : rc == MOSQ_ERR_NO_CONN ? "unreachable for the retry limit"
                                    : mosquitto_strerror(rc));
  ctx->exit_status = PSPF_EXIT_FAILURE;
  ctx->stopping = true;
}
