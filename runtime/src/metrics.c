/*
 * metrics.c -- --metrics-addr HOST:PORT: a small HTTP/1.1 server on the
 * program's libuv loop (no thread of its own) answering
 *
 *   GET /metrics   the Prometheus text exposition format, version 0.0.4
 *   GET /healthz   200 "ok" while the program runs normally, else 503
 *
 * Each connection gets one answer and is closed. A request is read up to
 * its blank line (at most 8 KiB); anything else gets 400, 404 or 405.
 * The server's handles do not keep the loop alive: the program ends when
 * its sources do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "pspf/rt.h"

#define REQ_MAX 8192

typedef struct client_s {
  uv_tcp_t tcp;
  uv_write_t wr;
  char req[REQ_MAX];
  size_t n;
  pspf_buf_t out;
  bool answered;
} client_t;

static uv_tcp_t server;
static bool listening;
static pspf_metrics_fn collect;
static void *collect_arg;
static pspf_ctx_t *mctx;

static void on_client_closed(uv_handle_t *h) {
  client_t *c = h->data;
  pspf_buf_free(&c->out);
  free(c);
}

static void on_written(uv_write_t *w, int status) {
  (void)status;
  client_t *c = w->data;
  uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void answer(client_t *c, int code, const char *type,
                   const pspf_buf_t *body) {
  static const struct {
    int code;
    const char *text;
  } reasons[] = {{200, "OK"},
                 {400, "Bad Request"},
                 {404, "Not Found"},
                 {405, "Method Not Allowed"},
                 {503, "Service Unavailable"}};
  const char *reason = "Error";
  for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++)
    if (reasons[i].code == code)
      reason = reasons[i].text;
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: "
                   "%zu\r\nConnection: close\r\n\r\n",
                   code, reason, type, body ? body->n : 0);
  pspf_buf_add(&c->out, head, (size_t)n);
  if (body && body->n)
    pspf_buf_add(&c->out, body->p, body->n);
  c->answered = true;
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_buf_t b = uv_buf_init(c->out.p, (unsigned)c->out.n);
  c->wr.data = c;
  if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
    uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void answer_text(client_t *c, int code, const char *text) {
  pspf_buf_t b = {0};
  pspf_buf_add(&b, text, strlen(text));
  answer(c, code, "text/plain; charset=utf-8", &b);
  pspf_buf_free(&b);
}

static void serve(client_t *c) {
  char method[16], path[256];
  if (sscanf(c->req, "%15s %255s HTTP/1.%*c", method, path) != 2) {
    answer_text(c, 400, "bad request\n");
    return;
  }
  char *q = strchr(path, '?');
  if (q)
    *q = 0;
  bool get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;
  if (strcmp(path, "/metrics") == 0 && (get || head)) {
    pspf_buf_t b = {0};
    if (collect)
      collect(collect_arg, &b);
    answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
    pspf_buf_free(&b);
  } else if (strcmp(path, "/healthz") == 0 && (get || head)) {
    bool ok = mctx && !mctx->stopping && !mctx->exit_status;
    answer_text(c, ok ? 200 : 503, ok ? "ok\n" : "stopping\n");
  } else if (strcmp(path, "/metrics") == 0 || strcmp(path, "/healthz") == 0) {
    answer_text(c, 405, "only GET\n");
  } else {
    answer_text(c, 404, "not found: try /metrics or /healthz\n");
  }
}

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf) {
  (void)want;
  client_t *c = h->data;
  *buf = uv_buf_init(c->req + c->n, (unsigned)(REQ_MAX - 1 - c->n));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  client_t *c = s->data;
  if (c->answered)
    return;
  if (n < 0) {
    uv_close((uv_handle_t *)&c->tcp, on_client_closed);
    return;
  }
  c->n += (size_t)n;
  c->req[c->n] = 0;
  if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
    serve(c);
  else if (c->n >= REQ_MAX - 1)
    answer_text(c, 400, "request too long\n");
}

static void on_connection(uv_stream_t *srv, int status) {
  if (status < 0)
    return;
  client_t *c = calloc(1, sizeof *c);
  if (!c)
    return;
  uv_tcp_init(srv->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
    uv_close((uv_handle_t *)&c->tcp, on_client_closed);
    return;
  }
  uv_unref((uv_handle_t *)&c->tcp);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int pspf_metrics_start(pspf_ctx_t *ctx, const char *addr, pspf_metrics_fn fn,
                       void *arg) {
  mctx = ctx;
  collect = fn;
  collect_arg = arg;
  char host[256];
  const char *colon = strrchr(addr, ':');
  int port = colon ? atoi(colon + 1) : 0;
  size_t hl = colon ? (size_t)(colon - addr) : 0;
  if (!colon || hl >= sizeof host || port <= 0 || port > 65535) {
    pspf_log(ctx, 0, "--metrics-addr is HOST:PORT, such as 127.0.0.1:9464, "
             "not '%s'", addr);
    return -1;
  }
  memcpy(host, addr, hl);
  host[hl] = 0;
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* [::1]:9464 */
    memmove(host, host + 1, hl - 2);
    host[hl - 2] = 0;
  }
  struct sockaddr_storage sa;
  if (uv_ip4_addr(*host ? host : "0.0.0.0", port,
                  (struct sockaddr_in *)&sa) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) != 0) {
    pspf_log(ctx, 0, "--metrics-addr: '%s' is not an IP address", host);
    return -1;
  }
  uv_tcp_init(uv_default_loop(), &server);
  int e = uv_tcp_bind(&server, (const struct sockaddr *)&sa, 0);
  if (!e)
    e = uv_listen((uv_stream_t *)&server, 64, on_connection);
  if (e) {
    pspf_log(ctx, 0, "--metrics-addr %s: cannot listen: %s", addr,
             uv_strerror(e));
    uv_close((uv_handle_t *)&server, NULL);
    return -1;
  }
  uv_unref((uv_handle_t *)&server);
  listening = true;
  pspf_log(ctx, 2, "metrics at http://%s/metrics, health at /healthz", addr);
  return 0;
}

void pspf_metrics_stop(void) {
  if (listening)
    uv_close((uv_handle_t *)&server, NULL);
  listening = false;
}

/* ---- the exposition format ------------------------------------------------ */

void pspf_metric_head(pspf_buf_t *b, const char *name, const char *type,
                      const char *help) {
  char line[512];
  int n = snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name,
                   help, name, type);
  pspf_buf_add(b, line, (size_t)n);
}

void pspf_label(char *out, size_t n, const char *key, const char *value) {
  size_t k = strlen(out);
  int w = snprintf(out + k, n - k, "%s%s=\"", k ? "," : "", key);
  if (w < 0 || (size_t)w >= n - k)
    return;
  k += (size_t)w;
  for (const char *p = value; *p && k + 3 < n; p++) {
    if (*p == '\\' || *p == '"' || *p == '\n') {
      out[k++] = '\\';
      out[k++] = *p == '\n' ? 'n' : *p;
    } else {
      out[k++] = *p;
    }
  }
  if (k + 1 < n)
    out[k++] = '"';
  out[k] = 0;
}

void pspf_metric_labels(pspf_buf_t *b, const char *name, const char *labels,
                        double v) {
  char line[2048];
  int n = snprintf(line, sizeof line, "%s{%s} %.17g\n", name, labels, v);
  if (n > 0)
    pspf_buf_add(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void pspf_metric(pspf_buf_t *b, const char *name, const char *label,
                 const char *value, double v) {
  if (label) {
    char l[512] = "";
    pspf_label(l, sizeof l, label, value);
    pspf_metric_labels(b, name, l, v);
    return;
  }
  char line[512];
  int n = snprintf(line, sizeof line, "%s %.17g\n", name, v);
  if (n > 0)
    pspf_buf_add(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}
