/*
 * test_mqtt.c -- mqtt sources and sinks against a real mosquitto broker,
 * started by each test on a free loopback port, with mosquitto_pub and
 * mosquitto_sub as the independent peer. Programs are built with the
 * sanitized pspfc and themselves compiled with the sanitizers.
 *
 * No Criterion .timeout (see test_follow.c): every wait has a deadline.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#define DEADLINE_MS 30000

typedef struct T {
  char dir[64];
  char path[700];
  int port;
  pid_t broker; /* mosquitto */
  pid_t prog;   /* the program under test */
} T;

static const char *in_dir(T *t, const char *name) {
  snprintf(t->path, sizeof t->path, "%s/%s", t->dir, name);
  return t->path;
}

static void put_file(T *t, const char *name, const char *text) {
  FILE *f = fopen(in_dir(t, name), "w");
  cr_assert(f, "%s: %s", t->path, strerror(errno));
  fputs(text, f);
  fclose(f);
}

static bool port_open(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
  close(s);
  return ok;
}

/* Starts mosquitto on t->port, loopback only, with persistence in the
 * test's directory (a QoS 1 session survives a broker restart). */
static void broker_start(T *t) {
  char conf[1024];
  snprintf(conf, sizeof conf,
           "listener %d 127.0.0.1\nallow_anonymous true\npersistence true\n"
           "persistence_location %s/\nautosave_interval 1\n"
           "max_queued_messages 0\n%s",
           t->port, t->dir,
           /* as root, mosquitto would drop to its own user, who cannot
            * write the persistence file in the test's directory */
           geteuid() == 0 ? "user root\n" : "");
  put_file(t, "mosquitto.conf", conf);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    int n = open("/dev/null", O_RDWR);
    int e = open(in_dir(t, "broker.log"), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (n < 0 || e < 0 || dup2(n, 0) < 0 || dup2(e, 1) < 0 || dup2(e, 2) < 0)
      _exit(127);
    execlp("mosquitto", "mosquitto", "-c", in_dir(t, "mosquitto.conf"),
           (char *)NULL);
    _exit(127);
  }
  t->broker = pid;
  long until = now_ms() + DEADLINE_MS;
  while (!port_open(t->port)) {
    cr_assert(now_ms() < until, "mosquitto did not listen on %d", t->port);
    pause_ms(20);
  }
}

static void broker_stop(T *t) {
  if (t->broker > 0) {
    kill(t->broker, SIGTERM);
    waitpid(t->broker, NULL, 0);
    t->broker = 0;
  }
}

/* A test's directory, a broker, and the program built from [text]
 * (every "PORT" in it replaced by the broker's port). */
static void setup(T *t, const char *text) {
  memset(t, 0, sizeof *t);
  strcpy(t->dir, "/tmp/pspfc-mqtt-XXXXXX");
  cr_assert(mkdtemp(t->dir));
  t->port = free_port();
  broker_start(t);
  char prog[4096], *o = prog;
  for (const char *p = text; *p && o < prog + sizeof prog - 8;) {
    if (strncmp(p, "PORT", 4) == 0) {
      o += sprintf(o, "%d", t->port);
      p += 4;
    } else {
      *o++ = *p++;
    }
  }
  *o = 0;
  put_file(t, "prog.pspf", prog);
  char *out;
  int st = build_in(t->dir, "prog.pspf", "prog", SAN_CFLAGS, &out);
  cr_assert_eq(st, 0, "build failed:\n%s", out);
  free(out);
}

static void start(T *t) {
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    if (chdir(t->dir) < 0)
      _exit(127);
    int n = open("/dev/null", O_RDWR);
    int o = open("stdout.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open("stderr.txt", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (n < 0 || o < 0 || e < 0 || dup2(n, 0) < 0 || dup2(o, 1) < 0 ||
        dup2(e, 2) < 0)
      _exit(127);
    execl("./prog", "./prog", "--log-level=info", (char *)NULL);
    _exit(127);
  }
  t->prog = pid;
}

static char *contents(T *t, const char *name) {
  char *s = slurp(in_dir(t, name));
  return s ? s : strdup("");
}

static int stop_prog(T *t) {
  int st = -1;
  if (t->prog > 0) {
    kill(t->prog, SIGTERM);
    long until = now_ms() + DEADLINE_MS;
    while (waitpid(t->prog, &st, WNOHANG) != t->prog) {
      if (now_ms() > until) {
        kill(t->prog, SIGKILL);
        waitpid(t->prog, &st, 0);
        break;
      }
      pause_ms(10);
    }
    t->prog = 0;
  }
  return st;
}

static void teardown(T *t) {
  stop_prog(t);
  broker_stop(t);
  char *out;
  run_in(t->dir, &out, "cd / && rm -rf '%s'", t->dir);
  free(out);
}

/* Publishes ids [from, to] as JSON records on [topic] at QoS 1. */
static void publish(T *t, const char *topic, int from, int to) {
  char *out;
  int st = run_in(t->dir, &out,
              "seq %d %d | awk '{ printf \"{\\\"id\\\": %%d, \\\"name\\\": "
              "\\\"n%%d\\\"}\\n\", $1, $1 }' | mosquitto_pub -p %d -t '%s' "
              "-q 1 -l",
              from, to, t->port, topic);
  cr_assert_eq(st, 0, "mosquitto_pub: %s", out);
  free(out);
}

/* Publishes probes (id 0) until the program has one in out.csv: then it
 * is connected and subscribed. */
static void wait_subscribed(T *t) {
  long until = now_ms() + DEADLINE_MS;
  for (;;) {
    publish(t, "t/in/probe", 0, 0);
    pause_ms(100);
    char *s = contents(t, "out.csv");
    bool in = strstr(s, "\n0,n0\n") != NULL;
    free(s);
    if (in)
      return;
    cr_assert(now_ms() < until, "the program did not subscribe");
  }
}

/* The ids in out.csv (header and probes skipped), sorted, one a line. */
static char *ids(T *t) {
  char *out;
  run_in(t->dir, &out, "tail -n +2 out.csv | cut -d, -f1 | grep -v '^0$' | sort -n");
  return out;
}

/* The lines of out.csv that are not probes (header included). */
static int records(T *t) {
  char *out;
  run_in(t->dir, &out, "grep -vc '^0,' out.csv");
  int n = atoi(out);
  free(out);
  return n;
}

static void wait_records(T *t, int want) {
  long until = now_ms() + DEADLINE_MS;
  while (records(t) < want) {
    if (now_ms() > until) {
      char *err = contents(t, "stderr.txt");
      static char msg[8192];
      snprintf(msg, sizeof msg, "%d of %d lines; stderr:\n%s", records(t),
               want, err);
      free(err);
      cr_assert_fail("%s", msg);
    }
    pause_ms(20);
  }
}

static char *seq_text(int from, int to) {
  size_t cap = 16 * (size_t)(to - from + 2), k = 0;
  char *s = malloc(cap);
  s[0] = 0;
  for (int i = from; i <= to; i++)
    k += (size_t)snprintf(s + k, cap - k, "%d\n", i);
  return s;
}

static const char *const reader =
    "type R = { id: int, name: string }\n"
    "source rs: R = mqtt(\"tcp://127.0.0.1:PORT\", topic: \"t/in/#\", "
    "qos: 1)\n"
    "sink out = file(\"out.csv\", format: csv)\n"
    "rs |> out\n";

Test(mqtt, every_record_published_arrives) {
  T t;
  setup(&t, reader);
  start(&t);
  wait_subscribed(&t);
  publish(&t, "t/in/a", 1, 500);
  publish(&t, "t/in/b/c", 501, 1000); /* the wildcard */
  wait_records(&t, 1 + 1000);
  int st = stop_prog(&t);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
  char *got = ids(&t), *want = seq_text(1, 1000);
  cr_expect_str_eq(got, want, "not every record arrived exactly once");
  free(got);
  free(want);
  char *err = contents(&t, "stderr.txt");
  cr_expect_null(strstr(err, "Sanitizer"), "%s", err);
  free(err);
  teardown(&t);
}

Test(mqtt, broker_restart_and_program_away_lose_nothing) {
  T t;
  setup(&t, reader);
  start(&t);
  wait_subscribed(&t);
  publish(&t, "t/in/a", 1, 200);
  wait_records(&t, 1 + 200);
  /* The broker goes away and comes back: the program reconnects. */
  broker_stop(&t);
  pause_ms(300);
  broker_start(&t);
  long until = now_ms() + DEADLINE_MS;
  for (;;) { /* reconnected when a message gets through */
    publish(&t, "t/in/probe", 0, 0);
    pause_ms(200);
    char *s = contents(&t, "stderr.txt");
    bool back = strstr(s, "connected to 127.0.0.1") != NULL;
    free(s);
    if (back)
      break;
    cr_assert(now_ms() < until, "the program did not reconnect");
  }
  publish(&t, "t/in/a", 201, 400);
  wait_records(&t, 1 + 400);
  /* The program goes away; what is published meanwhile waits in its
   * persistent session (QoS 1) and arrives when it is back. */
  int st = stop_prog(&t);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
  char *out;
  run_in(t.dir, &out, "cp out.csv first.csv");
  free(out);
  publish(&t, "t/in/a", 401, 600);
  start(&t);
  wait_records(&t, 1 + 200);
  pause_ms(300);
  st = stop_prog(&t);
  /* Every id, the probes (0) aside, exactly once over the two runs. */
  run_in(t.dir, &out, "(tail -n +2 first.csv; tail -n +2 out.csv) | cut -d, -f1 | "
               "grep -v '^0$' | sort -n");
  char *want = seq_text(1, 600);
  cr_expect_str_eq(out, want, "lost or doubled records");
  free(out);
  free(want);
  teardown(&t);
}

Test(mqtt, sink_publishes_every_record) {
  T t;
  setup(&t, "type R = { id: int, name: string }\n"
            "source rs: R = file(\"in.csv\", format: csv)\n"
            "sink m = mqtt(\"tcp://127.0.0.1:PORT\", topic: \"t/out\", "
            "qos: 1)\n"
            "rs |> map(r => { id: r.id * 10, name: upper(r.name) }) |> m\n");
  put_file(&t, "in.csv", "id,name\n1,a\n2,b\n3,\"c, d\"\n");
  char *out;
  /* The peer subscribes first, and stops after three messages. */
  pid_t sub = fork();
  cr_assert(sub >= 0);
  if (sub == 0) {
    int o = open(in_dir(&t, "sub.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || dup2(o, 1) < 0)
      _exit(127);
    char port[16];
    snprintf(port, sizeof port, "%d", t.port);
    execlp("mosquitto_sub", "mosquitto_sub", "-p", port, "-t", "t/out", "-q",
           "1", "-C", "3", "-W", "20", (char *)NULL);
    _exit(127);
  }
  pause_ms(500);
  int st = run_in(t.dir, &out, "./prog 2>&1");
  cr_expect_eq(st, 0, "%s", out);
  free(out);
  int sst;
  waitpid(sub, &sst, 0);
  char *got = contents(&t, "sub.txt");
  cr_expect_str_eq(got, "{\"id\":10,\"name\":\"A\"}\n{\"id\":20,\"name\":\"B\"}\n"
                        "{\"id\":30,\"name\":\"C, D\"}\n");
  free(got);
  teardown(&t);
}

static const char *const writer =
    "type R = { id: int, name: string }\n"
    "source rs: R = file(\"in.csv\", format: csv)\n"
    "sink m = mqtt(\"tcp://127.0.0.1:PORT\", topic: \"t/out\", qos: 1)\n"
    "rs |> m\n";

/* mosquitto_sub with a persistent session (client id "peer"): [count]
 * messages of t/out into dir/[file]; with count 0, only subscribes. */
static int peer(T *t, int count, const char *file) {
  char *out;
  char what[32];
  if (count)
    snprintf(what, sizeof what, "-C %d", count);
  else
    snprintf(what, sizeof what, "-E");
  int st = run_in(t->dir, &out,
              "timeout 20 mosquitto_sub -p %d -t t/out -q 1 -c -i peer %s "
              "> %s 2>&1",
              t->port, what, file);
  free(out);
  return st;
}

static void write_ids(T *t, int n) {
  char *text = malloc((size_t)n * 24 + 16), *p = text;
  p += sprintf(p, "id,name\n");
  for (int i = 1; i <= n; i++)
    p += sprintf(p, "%d,n%d\n", i, i);
  put_file(t, "in.csv", text);
  free(text);
}

Test(mqtt, sink_waits_for_a_broker_that_is_down) {
  T t;
  setup(&t, writer);
  write_ids(&t, 2000);
  cr_assert_eq(peer(&t, 0, "peer0.txt"), 0); /* its session, subscribed */
  broker_stop(&t);
  /* The program starts with the broker down: it waits, its source
   * paused, and publishes everything once the broker is back. */
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    if (chdir(t.dir) < 0)
      _exit(127);
    int e = open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (e < 0 || dup2(e, 2) < 0)
      _exit(127);
    execl("./prog", "./prog", "--log-level=info", (char *)NULL);
    _exit(127);
  }
  pause_ms(1000);
  broker_start(&t);
  int st;
  waitpid(pid, &st, 0);
  char *err = contents(&t, "stderr.txt");
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x:\n%s", st,
            err);
  cr_expect(strstr(err, "is unreachable; the program waits"), "%s", err);
  free(err);
  int pst = peer(&t, 2000, "got.txt");
  char *got = contents(&t, "got.txt"), *blog = contents(&t, "broker.log");
  cr_assert_eq(pst, 0, "mosquitto_sub: %d, %d lines:\n%.300s\nbroker:\n%s", pst,
               (int)strlen(got), got, blog);
  free(got);
  free(blog);
  char *out;
  run_in(t.dir, &out, "sed 's/.*\"id\":\\([0-9]*\\).*/\\1/' got.txt | sort -n");
  char *want = seq_text(1, 2000);
  cr_expect_str_eq(out, want, "lost or doubled messages");
  free(out);
  free(want);
  teardown(&t);
}

Test(mqtt, sink_gives_up_after_the_retry_limit) {
  T t;
  setup(&t, writer);
  write_ids(&t, 10);
  broker_stop(&t);
  char *out;
  long t0 = now_ms();
  int st = run_in(t.dir, &out, "./prog --sink-retry-limit=1s 2>&1");
  long took = now_ms() - t0;
  cr_expect_eq(st, 2, "exit status %d:\n%s", st, out);
  cr_expect(strstr(out, "error: sink 'm': cannot publish to 't/out' on "
                        "127.0.0.1:"),
            "%s", out);
  cr_expect(strstr(out, "unreachable for the retry limit; stopping (a restart "
                        "goes on from the last checkpoint)"),
            "%s", out);
  cr_expect_lt(took, 20000, "took %ld ms", took);
  cr_expect_null(strstr(out, "Sanitizer"), "%s", out);
  free(out);
  teardown(&t);
}

Test(mqtt, merged_with_a_file_source) {
  T t;
  /* A bounded file and a live MQTT source, merged, with event time: the
   * window fires when both watermarks pass it; the file's, once it has
   * ended, no longer holds the merged one back. */
  setup(&t, "type R = { id: int, name: string, ts: int }\n"
            "source live: R = mqtt(\"tcp://127.0.0.1:PORT\", topic: "
            "\"t/in/#\", qos: 1)\n"
            "source old: R = file(\"old.csv\", format: csv)\n"
            "sink out = file(\"out.csv\", format: csv)\n"
            "sink win = file(\"win.csv\", format: csv)\n"
            "let all = merge(old, live)\n"
            "all |> out\n"
            "all |> event_time(r => timestamp(r.ts), lateness: 0s)\n"
            "    |> window(tumbling(10s))\n"
            "    |> aggregate(n: count(), ids: sum(r => r.id))\n"
            "    |> win\n");
  put_file(&t, "old.csv", "id,name,ts\n1001,f1,1000\n1002,f2,2000\n"
                          "1003,f3,3000\n");
  start(&t);
  char *out;
  long until0 = now_ms() + DEADLINE_MS;
  for (;;) { /* probes, id 0 at time 0, until one is through */
    run_in(t.dir, &out, "echo '{\"id\": 0, \"name\": \"n0\", \"ts\": 0}' | "
                 "mosquitto_pub -p %d -t t/in/probe -q 1 -l", t.port);
    free(out);
    pause_ms(100);
    char *s = contents(&t, "out.csv");
    bool in = strstr(s, "\n0,n0,0\n") != NULL;
    free(s);
    if (in)
      break;
    cr_assert(now_ms() < until0, "the program did not subscribe");
  }
  int st = run_in(t.dir, &out,
              "for i in 1 2 3; do echo \"{\\\"id\\\": $i, \\\"name\\\": "
              "\\\"m$i\\\", \\\"ts\\\": ${i}500}\"; done | mosquitto_pub -p %d "
              "-t t/in/x -q 1 -l && echo '{\"id\": 9, \"name\": \"late\", "
              "\"ts\": 25000}' | mosquitto_pub -p %d -t t/in/x -q 1 -l",
              t.port, t.port);
  cr_assert_eq(st, 0, "%s", out);
  free(out);
  wait_records(&t, 1 + 3 + 4);
  /* The window [0, 10s) fired once the MQTT watermark passed 10 s. */
  long until = now_ms() + DEADLINE_MS;
  char *win;
  for (;;) {
    win = contents(&t, "win.csv");
    if (strstr(win, "\n") && strchr(strchr(win, '\n') + 1, '\n'))
      break;
    free(win);
    cr_assert(now_ms() < until, "the window did not fire");
    pause_ms(20);
  }
  stop_prog(&t);
  /* Both sources' records, every one once (probes aside). */
  run_in(t.dir, &out, "tail -n +2 out.csv | grep -v '^0,' | cut -d, -f1 | sort -n | "
               "tr '\\n' ' '");
  cr_expect_str_eq(out, "1 2 3 9 1001 1002 1003 ");
  free(out);
  /* In the window: the file's three and the first three messages, and the
   * probes (id 0, at time 0). */
  char *line = strchr(win, '\n') + 1;
  cr_expect(strstr(line, "1970-01-01T00:00:00.000Z,1970-01-01T00:00:10.000Z,")
                == line,
            "%s", win);
  cr_expect(strstr(line, ",3012\n"), "ids 1+2+3+1001+1002+1003: %s", win);
  free(win);
  teardown(&t);
}
