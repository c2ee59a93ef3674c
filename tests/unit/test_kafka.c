/*
 * test_kafka.c -- kafka sinks against librdkafka's mock cluster (the real
 * Kafka protocol on loopback), run by build/bin/pspf-kafka-mock in a
 * process of its own; kcat is the independent reader. Programs are built
 * with the sanitized pspfc and compiled with the sanitizers.
 *
 * No Criterion .timeout (see test_follow.c): every wait has a deadline.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

typedef struct K {
  char dir[64];
  char path[700];
  char brokers[256];
  pid_t mock;
} K;

static const char *in_dir(K *k, const char *name) {
  snprintf(k->path, sizeof k->path, "%s/%s", k->dir, name);
  return k->path;
}

static void put_file(K *k, const char *name, const char *text) {
  FILE *f = fopen(in_dir(k, name), "w");
  cr_assert(f, "%s: %s", k->path, strerror(errno));
  fputs(text, f);
  fclose(f);
}

/* The mock cluster with [topics] ("-t name:parts ..."), its bootstrap
 * servers in k->brokers. */
static void mock_start(K *k, const char *topic, int parts) {
  strcpy(k->dir, "/tmp/pspfc-kafka-XXXXXX");
  cr_assert(mkdtemp(k->dir));
  const char *root = getenv("PSPF_ROOT") ? getenv("PSPF_ROOT") : ".";
  int fds[2];
  cr_assert_eq(pipe(fds), 0);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    char exe[600], spec[200], spec2[200];
    snprintf(exe, sizeof exe, "%s/build/bin/pspf-kafka-mock", root);
    snprintf(spec, sizeof spec, "%s:%d", topic, parts);
    snprintf(spec2, sizeof spec2, "%s2:%d", topic, parts);
    /* (it goes with the test: a failed assertion skips teardown) */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(fds[1], 1);
    close(fds[0]);
    /* the topic, and TOPIC2 beside it for merges; the changelogs of the
     * scaled-out tests' groups (the mock makes no topic on request) */
    char cl1[64], cl2[64], rp1[64], rp2[64];
    snprintf(cl1, sizeof cl1, "g-changelog:%d", parts);
    snprintf(cl2, sizeof cl2, "g1-changelog:%d", parts);
    snprintf(rp1, sizeof rp1, "g-repartition:%d", parts);
    snprintf(rp2, sizeof rp2, "g1-repartition:%d", parts);
    execl(exe, exe, "-t", spec, "-t", spec2, "-t", cl1, "-t", cl2, "-t", rp1,
          "-t", rp2, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  k->mock = pid;
  FILE *f = fdopen(fds[0], "r");
  cr_assert(f && fgets(k->brokers, sizeof k->brokers, f),
            "pspf-kafka-mock printed no bootstrap servers");
  fclose(f);
  k->brokers[strcspn(k->brokers, "\n")] = 0;
}

static void teardown(K *k) {
  if (k->mock > 0) {
    kill(k->mock, SIGTERM);
    waitpid(k->mock, NULL, 0);
  }
  char *out;
  run_in(k->dir, &out, "cd / && rm -rf '%s'", k->dir);
  free(out);
}

/* The checkout's absolute path ($PSPF_ROOT, else the working
 * directory), for the scripts of tests/kafka. */
static void top_dir(char top[4096]) {
  const char *root = getenv("PSPF_ROOT") ? getenv("PSPF_ROOT") : ".";
  cr_assert(realpath(root, top), "%s: %s", root, strerror(errno));
}

static void build(K *k, const char *text) {
  build_prog_in(k->dir, text, SAN_CFLAGS);
}

Test(kafka, sink_produces_every_record_keyed) {
  K k;
  mock_start(&k, "out", 4);
  build(&k, "type R = { id: int, shop: string }\n"
            "param brokers: string = \"\"\n"
            "source rs: R = file(\"in.csv\", format: csv)\n"
            "sink k = kafka(brokers: brokers, topic: \"out\", key: shop)\n"
            "rs |> map(r => { id: r.id * 2, shop: r.shop }) |> k\n");
  char *out;
  int st = run_in(k.dir, &out,
              "seq 1 3000 | awk 'BEGIN { print \"id,shop\" } { print $1 \",s\" "
              "($1 %% 13) }' > in.csv && ./prog --brokers='%s' 2>&1",
              k.brokers);
  cr_assert_eq(st, 0, "%s", out);
  cr_expect_str_eq(out, "");
  free(out);
  /* Read back with kcat: every record once, as JSON, keyed by its shop. */
  st = run_in(k.dir, &out,
          "timeout 30 kcat -b '%s' -C -t out -e -q -f '%%k %%s\\n' | sort > "
          "got.txt && awk 'BEGIN { for (i = 1; i <= 3000; i++) printf "
          "\"s%%d {\\\"id\\\":%%d,\\\"shop\\\":\\\"s%%d\\\"}\\n\", i %% 13, 2 * "
          "i, i %% 13 }' | sort > want.txt && cmp want.txt got.txt",
          k.brokers);
  cr_expect_eq(st, 0, "the messages read back differ: %s", out);
  free(out);
  /* A key's messages are all in one partition (keyed partitioning). */
  st = run_in(k.dir, &out,
          "timeout 30 kcat -b '%s' -C -t out -e -q -f '%%k %%p\\n' | sort -u "
          "| cut -d' ' -f1 | uniq -d | wc -l",
          k.brokers);
  cr_expect_eq(st, 0);
  cr_expect_str_eq(out, "0\n", "some key is in several partitions");
  free(out);
  teardown(&k);
}

Test(kafka, sink_gives_up_when_no_broker_answers) {
  K k;
  mock_start(&k, "out", 1);
  build(&k, "type R = { id: int }\n"
            "source rs: R = file(\"in.csv\", format: csv)\n"
            "sink k = kafka(brokers: \"127.0.0.1:1\", topic: \"out\")\n"
            "rs |> k\n");
  char *out;
  int st = run_in(k.dir, &out, "printf 'id\\n1\\n2\\n' > in.csv && ./prog "
                        "--sink-retry-limit=2s 2>&1");
  cr_expect_eq(st, 2, "exit status %d:\n%s", st, out);
  cr_expect(strstr(out, "error: sink 'k' (kafka 127.0.0.1:1, topic 'out'): "
                        "messages not delivered within the retry limit; "
                        "stopping"),
            "%s", out);
  cr_expect_null(strstr(out, "Sanitizer"), "%s", out);
  free(out);
  teardown(&k);
}

/* ./prog on the mock with checkpoints every 20 ms; its stderr in
 * stderr.txt. */
static pid_t spawn(K *k) {
  char b[300];
  snprintf(b, sizeof b, "--brokers=%s", k->brokers);
  return spawn_in(k->dir, "stderr.txt",
                  (const char *const[]){"./prog", b, "--checkpoint-dir=ck",
                                        "--checkpoint-interval=20ms",
                                        "--log-level=info", NULL});
}

static int out_lines(K *k) {
  char *s = slurp(in_dir(k, "out.csv"));
  int n = 0;
  for (char *p = s; p && *p; p++)
    n += *p == '\n';
  free(s);
  return n;
}

Test(kafka, source_resumes_from_its_checkpoint_after_sigkill) {
  K k;
  mock_start(&k, "in", 4);
  build(&k, "type R = { id: int, shop: string }\n"
            "param brokers: string = \"\"\n"
            "source rs: R = kafka(brokers: brokers, topic: \"in\", group: "
            "\"g\")\n"
            "sink out = file(\"out.csv\", format: csv)\n"
            "rs |> filter(r => r.id > 0) |> out\n");
  char *out;
  int n = 20000;
  int st = run_in(k.dir, &out,
              "seq 1 %d | awk '{ printf \"s%%d\\t{\\\"id\\\":%%d,\\\"shop\\\":"
              "\\\"s%%d\\\"}\\n\", $1 %% 97, $1, $1 %% 97 }' | timeout 60 kcat "
              "-b '%s' -P -t in -K '\\t'",
              n, k.brokers);
  cr_assert_eq(st, 0, "kcat -P: %s", out);
  free(out);
  /* Killed twice while it reads, then left to finish. */
  int kills = 0;
  for (int round = 0; round < 3; round++) {
    pid_t pid = spawn(&k);
    long until = now_ms() + 60000;
    int want = round < 2 ? (round + 1) * n / 4 : n + 1;
    while (out_lines(&k) < want && now_ms() < until)
      pause_ms(5);
    if (round < 2) {
      kill(pid, SIGKILL);
      kills++;
    } else {
      pause_ms(200); /* nothing more may come */
      kill(pid, SIGTERM);
    }
    waitpid(pid, &st, 0);
  }
  cr_expect_eq(kills, 2);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
  st = run_in(k.dir, &out, "tail -n +2 out.csv | cut -d, -f1 | sort -n > got.txt && "
                    "seq 1 %d > want.txt && cmp want.txt got.txt", n);
  char *err = slurp(in_dir(&k, "stderr.txt"));
  cr_expect_eq(st, 0, "records lost or doubled across the kills: %s\n%s", out,
               err ? err : "");
  cr_expect(err && strstr(err, "resuming from checkpoint"), "%s",
            err ? err : "");
  free(err);
  free(out);
  teardown(&k);
}

Test(kafka, topic_to_topic_with_transactions_across_sigkill) {
  K k;
  mock_start(&k, "in", 4);
  build(&k, "type R = { id: int, shop: string }\n"
            "param brokers: string = \"\"\n"
            "source rs: R = kafka(brokers: brokers, topic: \"in\", group: "
            "\"g\")\n"
            "sink k = kafka(brokers: brokers, topic: \"out\", key: shop)\n"
            "rs |> map(r => { id: r.id, shop: upper(r.shop) }) |> k\n");
  char *out;
  int n = 20000;
  int st = run_in(k.dir, &out,
              "seq 1 %d | awk '{ printf \"s%%d\\t{\\\"id\\\":%%d,\\\"shop\\\":"
              "\\\"s%%d\\\"}\\n\", $1 %% 97, $1, $1 %% 97 }' | timeout 60 kcat "
              "-b '%s' -P -t in -K '\\t'",
              n, k.brokers);
  cr_assert_eq(st, 0, "kcat -P: %s", out);
  free(out);
  /* Killed at random moments twice, then stopped once all is through. */
  srand(5);
  for (int round = 0; round < 3; round++) {
    pid_t pid = spawn(&k);
    if (round < 2) {
      pause_ms(100 + rand() % 400);
      kill(pid, SIGKILL);
    } else {
      long until = now_ms() + 60000;
      for (;;) { /* every id in the output topic */
        st = run_in(k.dir, &out, "timeout 30 kcat -b '%s' -C -t out -e -q -f "
                          "'%%s\\n' | sed 's/.*\"id\":\\([0-9]*\\).*/\\1/' | "
                          "sort -nu | wc -l", k.brokers);
        int have = atoi(out);
        free(out);
        if (have >= n || now_ms() > until)
          break;
        pause_ms(200);
      }
      kill(pid, SIGTERM);
    }
    waitpid(pid, &st, 0);
  }
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
  /* Every record is there. The mock does not hide aborted transactions:
   * an extra copy can only be a record the kills left in an open one, so
   * there are at most as many as two checkpoint intervals' worth. */
  st = run_in(k.dir, &out, "timeout 30 kcat -b '%s' -C -t out -e -q -f '%%s\\n' > "
                    "all.txt && sed 's/.*\"id\":\\([0-9]*\\).*/\\1/' all.txt | "
                    "sort -nu > got.txt && seq 1 %d > want.txt && cmp want.txt "
                    "got.txt && wc -l < all.txt", k.brokers, n);
  cr_expect_eq(st, 0, "records missing from the output topic: %s", out);
  long total = atol(out);
  cr_expect(total >= n && total <= 2 * n, "%ld messages for %d records",
            total, n);
  free(out);
  st = run_in(k.dir, &out, "grep -c '\"shop\":\"S' all.txt");
  cr_expect_eq(atol(out), total, "not every message went through the map");
  free(out);
  teardown(&k);
}

/* The records=N of the last line of the sink's commit journal. */
static int committed_records(K *k) {
  char *s = slurp(in_dir(k, "ck/k.kafka-commits"));
  int n = 0;
  for (char *p = s; p && (p = strstr(p, " records=")); p++)
    n = atoi(p + 9);
  free(s);
  return n;
}

/* Records into a 4-partition topic, aggregated per key into another
 * one by a program killed with SIGKILL at random moments, then let
 * finish. The sink's transactions, told apart by its commit journal (the
 * mock does not hide uncommitted ones), hold every expected update
 * exactly once; every other message is a copy of an expected one, left
 * in a transaction that a kill left open (tests/kafka/txn_check.py). */
Test(kafka, aggregate_to_topic_exactly_once_across_sigkill) {
  K k;
  mock_start(&k, "in", 4); /* (and in2, also 4 partitions: the output) */
  build(&k, "type R = { id: int, shop: string }\n"
            "param brokers: string = \"\"\n"
            "source rs: R = kafka(brokers: brokers, topic: \"in\", group: "
            "\"g\")\n"
            "sink k = kafka(brokers: brokers, topic: \"in2\", key: key)\n"
            "rs |> key_by(r => r.shop)\n"
            "   |> aggregate(n: count(), total: sum(r => r.id))\n"
            "   |> k\n");
  char *out;
  int n = 200000;
  int st = run_in(k.dir, &out,
              "seq 1 %d | awk '{ printf \"s%%d\\t{\\\"id\\\":%%d,\\\"shop\\\":"
              "\\\"s%%d\\\"}\\n\", $1 %% 97, $1, $1 %% 97 }' | timeout 60 kcat "
              "-b '%s' -P -t in -K '\\t' && "
              /* an uninterrupted run's updates: each key's records come in
               * the order produced (one key, one partition) */
              "seq 1 %d | awk '{ s = \"s\" ($1 %% 97); c[s]++; t[s] += $1; "
              "printf \"{\\\"key\\\":\\\"%%s\\\",\\\"n\\\":%%d,"
              "\\\"total\\\":%%d}\\n\", s, c[s], t[s] }' > want.jsonl",
              n, k.brokers, n);
  cr_assert_eq(st, 0, "kcat -P: %s", out);
  free(out);
  /* Killed once a quarter, a half and three quarters of the updates are
   * committed, a random moment later; stopped once all are. */
  srand(7);
  int kills = 0;
  for (int round = 0; round < 4; round++) {
    pid_t pid = spawn(&k);
    long until = now_ms() + 60000;
    while (committed_records(&k) < (round + 1) * n / 4 && now_ms() < until)
      pause_ms(2);
    if (round < 3) {
      pause_ms(rand() % 30);
      kill(pid, SIGKILL);
      kills++;
    } else {
      pause_ms(300); /* (its signal handlers are set by now) */
      kill(pid, SIGTERM);
    }
    waitpid(pid, &st, 0);
  }
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
  char top[4096];
  top_dir(top);
  st = run_in(k.dir, &out, "timeout 30 kcat -b '%s' -C -t in2 -e -q -f "
                    "'%%p %%o %%s\\n' > all.txt && python3 "
                    "'%s/tests/kafka/txn_check.py' ck/k.kafka-commits all.txt "
                    "want.jsonl %d 2>&1", k.brokers, top, kills);
  char *err = slurp(in_dir(&k, "stderr.txt"));
  cr_expect_eq(st, 0, "%s\n%s", out, err ? err : "");
  cr_expect(strstr(out, "200000 expected, 200000 committed"), "%s", out);
  cr_log_info("%s", out);
  cr_expect(err && strstr(err, "resuming from checkpoint"), "%s",
            err ? err : "");
  cr_expect(err && !strstr(err, "Sanitizer"), "%s", err ? err : "");
  free(err);
  free(out);
  teardown(&k);
}

/* A Kafka source whose sink (a FIFO) stops being read: the consumer
 * fetches ahead a bounded amount (queued.max.messages.kbytes) and no
 * more, so the program's memory stays flat while 12 partitions get
 * 24 MB; read again, every message arrives. */
Test(kafka, stalled_sink_bounds_the_consumer) {
  K k;
  mock_start(&k, "in", 12);
  /* (built without the sanitizers, whose allocator would hide what the
   * program holds) */
  build_prog_in(k.dir,
                "type R = { id: int, pad: string }\n"
                "param brokers: string = \"\"\n"
                "source rs: R = kafka(brokers: brokers, topic: \"in\")\n"
                "sink out = file(\"out.fifo\", format: csv(header: false))\n"
                "rs |> map(r => { id: r.id, n: len(r.pad) }) |> out\n",
                "-O2");
  char *out;
  int st;
  /* 6 chunks of 40000 messages of 122 bytes, 5 MB each, keyed so that
   * they spread evenly (the mock keeps at most 5 MiB a partition, and
   * drops the oldest past it: 240000 fit in 12) */
  int chunk = 40000, nchunks = 6;
  cr_assert_eq(mkfifo(in_dir(&k, "out.fifo"), 0644), 0);
  char b[300];
  snprintf(b, sizeof b, "--brokers=%s", k.brokers);
  pid_t pid = spawn_in(k.dir, "stderr.txt",
                       (const char *const[]){"./prog", b, NULL});
  int fifo = open(in_dir(&k, "out.fifo"), O_RDONLY | O_NONBLOCK);
  cr_assert(fifo >= 0, "%s", strerror(errno));
  long got = 0, per_line = 0;
  long rss[16] = {0};
  for (int c = 0; c < nchunks; c++) {
    st = run_in(k.dir, &out, "seq %d %d | awk '{ printf \"%%d\\t{\\\"id\\\":"
                "%%d,\\\"pad\\\":\\\"%%0100d\\\"}\\n\", $1, $1, 0 }' | "
                "timeout 60 kcat -b '%s' -P -t in -K '\\t'", c * chunk + 1,
                (c + 1) * chunk, k.brokers);
    cr_assert_eq(st, 0, "kcat -P: %s", out);
    free(out);
    if (c == 0) { /* flowing: the first chunk comes out */
      per_line = 5; /* ",100\n" and the id's digits */
      long want = 0;
      for (int i = 1; i <= chunk; i++)
        want += per_line + (i < 10 ? 1 : i < 100 ? 2 : i < 1000 ? 3 : i < 10000
                                                                 ? 4 : 5);
      drain_fd(fifo, &got, want, 30000, NULL);
      cr_assert_eq(got, want, "the first chunk came out as %ld bytes, not %ld",
                   got, want);
    }
    pause_ms(300); /* (the consumer fetches what it may) */
    rss[c] = rss_kib(pid);
  }
  /* Stalled from the second chunk on: the first stalled chunks fill the
   * consumer's queue, after which memory stays where it is. */
  long full = rss[2], peak = 0;
  for (int c = 2; c < nchunks; c++)
    peak = rss[c] > peak ? rss[c] : peak;
  cr_log_info("kafka, stalled sink: RSS %ld KiB flowing, %ld KiB with the "
              "queue full, at most %ld KiB while 15 MB more came",
              rss[0], full, peak);
  cr_expect(full > 0 && peak - full < 3072, "memory grew from %ld to %ld KiB "
            "while the sink was stalled", full, peak);
  cr_expect(peak - rss[0] < 20480, "memory grew from %ld to %ld KiB", rss[0],
            peak);

  /* Read again: every message comes out once. */
  FILE *o = fopen(in_dir(&k, "rest.csv"), "w");
  cr_assert(o);
  long all = got;
  for (int i = chunk + 1; i <= nchunks * chunk; i++)
    all += per_line + (i < 100000 ? 5 : 6);
  drain_fd(fifo, &got, all, 60000, o);
  fclose(o);
  kill(pid, SIGTERM);
  waitpid(pid, &st, 0);
  close(fifo);
  cr_expect_eq(got, all, "%ld bytes out of %ld", got, all);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
  st = run_in(k.dir, &out, "cut -d, -f1 rest.csv | sort -n | uniq | wc -l");
  cr_expect_eq(atol(out), (long)(nchunks - 1) * chunk, "%s", out);
  free(out);
  teardown(&k);
}

/* The lines of [log] that are about the sink's transactions. */
static char *txn_lines(const char *log) {
  size_t cap = strlen(log) + 1, k = 0;
  char *r = malloc(cap);
  for (const char *p = log; *p;) {
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p + 1) : strlen(p);
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)n, p);
    const char *s = strstr(line, "sink 'k': ");
    if (strstr(line, "transaction") && s) {
      size_t m = strlen(s);
      memcpy(r + k, s, m);
      k += m;
    }
    p += n;
  }
  r[k] = 0;
  return r;
}

Test(kafka, sink_transactions_follow_the_checkpoints) {
  K k;
  mock_start(&k, "out", 1);
  build(&k, "type R = { id: int }\n"
            "param brokers: string = \"\"\n"
            "source rs: R = file(\"in.csv\", format: csv)\n"
            "sink k = kafka(brokers: brokers, topic: \"out\")\n"
            "rs |> k\n");
  put_file(&k, "in.csv", "id\n1\n2\nx\ny\n3\n");
  char *out;
  /* A run to the end: a transaction for the fresh start's checkpoint, one
   * for the end of the input's, one for what closing writes. */
  int st = run_in(k.dir, &out, "./prog --brokers='%s' --checkpoint-dir=ck "
                        "--log-level=debug 2>&1", k.brokers);
  cr_assert_eq(st, 0, "%s", out);
  char *tx = txn_lines(out);
  cr_expect_str_eq(tx, "sink 'k': transaction begun\n"
                       "sink 'k': transaction committed (0 records, 0 so "
                       "far, with a checkpoint)\n"
                       "sink 'k': transaction begun\n"
                       "sink 'k': transaction committed (3 records, 3 so "
                       "far, with a checkpoint)\n"
                       "sink 'k': transaction begun\n"
                       "sink 'k': transaction committed (0 records, 3 so "
                       "far, at close)\n", "%s", out);
  free(tx);
  free(out);
  /* The commit journal has a line for each. */
  st = run_in(k.dir, &out, "cut -d' ' -f1-4 ck/k.kafka-commits");
  cr_expect_str_eq(out, "checkpoint=1 records=0 messages=0 partitions=\n"
                        "checkpoint=2 records=3 messages=3 partitions=0:0-2\n"
                        "close after=2 records=3 messages=0\n");
  free(out);
  /* As if the program had stopped after writing checkpoint 2 but before
   * committing its transaction (so neither line is there: "close
   * after=2" says checkpoint 2 committed too): the restart goes back to
   * checkpoint 1 and produces the three records again. */
  st = run_in(k.dir, &out, "sed -i '/^checkpoint=2 /d; /^close after=2 /d' "
              "ck/k.kafka-commits && "
              "./prog --brokers='%s' --checkpoint-dir=ck --log-level=debug "
              "2>&1", k.brokers);
  cr_expect_eq(st, 0, "%s", out);
  cr_expect(strstr(out, "warning: checkpoint ck/checkpoint-000000000002: the "
                        "output of sink 'k' up to it was never committed (the "
                        "program stopped in between); using the one before "
                        "it\n"), "%s", out);
  cr_expect(strstr(out, "info: resuming from checkpoint 1 of ck "), "%s", out);
  cr_expect(strstr(out, "transaction committed (3 records, 3 so far, with a "
                        "checkpoint)"), "%s", out);
  free(out);
  /* An error stop (too many bad records) aborts the open transaction:
   * its records are not committed. */
  st = run_in(k.dir, &out, "./prog --brokers='%s' --checkpoint-dir=ck2 "
                    "--max-bad-records=1 --log-level=debug 2>&1", k.brokers);
  cr_expect_eq(st, 3, "%s", out);
  tx = txn_lines(out);
  cr_expect_str_eq(tx, "sink 'k': transaction begun\n"
                       "sink 'k': transaction committed (0 records, 0 so "
                       "far, with a checkpoint)\n"
                       "sink 'k': transaction begun\n"
                       "sink 'k': transaction aborted (the program stops on "
                       "an error)\n", "%s", out);
  free(tx);
  free(out);
  /* The aborted transaction is not in the error run's journal. */
  st = run_in(k.dir, &out, "cut -d' ' -f1-3 ck2/k.kafka-commits");
  cr_expect_str_eq(out, "checkpoint=1 records=0 messages=0\n");
  free(out);
  /* What the topic holds: the first run's three records, and the same
   * again from the run that went back a checkpoint; then whatever of the
   * aborted transaction reached the broker (the mock shows aborted
   * messages to every reader; a read_committed reader of a real broker
   * sees none). */
  st = run_in(k.dir, &out, "timeout 30 kcat -b '%s' -C -t out -e -q | tr '\\n' ' '",
          k.brokers);
  const char *committed = "{\"id\":1} {\"id\":2} {\"id\":3} {\"id\":1} "
                          "{\"id\":2} {\"id\":3} ";
  cr_expect(strncmp(out, committed, strlen(committed)) == 0, "%s", out);
  const char *rest = strlen(out) >= strlen(committed)
                         ? out + strlen(committed)
                         : "short";
  cr_expect(!*rest || strcmp(rest, "{\"id\":1} ") == 0 ||
                strcmp(rest, "{\"id\":1} {\"id\":2} ") == 0,
            "%s", out);
  free(out);
  teardown(&k);
}

Test(kafka, two_topics_merged_with_event_time) {
  K k;
  mock_start(&k, "in", 1); /* and in2: one partition each, in order */
  build(&k, "type R = { id: int, ts: int }\n"
            "param brokers: string = \"\"\n"
            "source a: R = kafka(brokers: brokers, topic: \"in\")\n"
            "source b: R = kafka(brokers: brokers, topic: \"in2\")\n"
            "sink out = file(\"out.csv\", format: csv)\n"
            "sink win = file(\"win.csv\", format: csv)\n"
            "let all = merge(a, b)\n"
            "all |> out\n"
            "all |> event_time(r => timestamp(r.ts), lateness: 0s)\n"
            "    |> window(tumbling(10s))\n"
            "    |> aggregate(n: count())\n"
            "    |> win\n");
  char *out;
  /* Topic in: ids 1-100 at 0-9.9 s, then one at 30 s; in2: 101-200 at
   * 0-9.9 s, then one at 20 s. The window [0, 10s) fires once both have
   * passed 10 s: the least of the two watermarks. */
  int st = run_in(k.dir, &out,
              "(seq 1 100 | awk '{ printf \"{\\\"id\\\":%%d,\\\"ts\\\":%%d}\\n\", "
              "$1, ($1 - 1) * 99 }'; echo '{\"id\":1000,\"ts\":30000}') | "
              "timeout 30 kcat -b '%s' -P -t in && (seq 101 200 | awk '{ printf "
              "\"{\\\"id\\\":%%d,\\\"ts\\\":%%d}\\n\", $1, ($1 - 101) * 99 }'; "
              "echo '{\"id\":2000,\"ts\":20000}') | timeout 30 kcat -b '%s' -P "
              "-t in2",
              k.brokers, k.brokers);
  cr_assert_eq(st, 0, "kcat -P: %s", out);
  free(out);
  pid_t pid = spawn(&k);
  long until = now_ms() + 60000;
  while (now_ms() < until) {
    char *w = slurp(in_dir(&k, "win.csv"));
    int lines = 0;
    for (char *p = w; p && *p; p++)
      lines += *p == '\n';
    free(w);
    if (out_lines(&k) >= 1 + 202 && lines >= 2)
      break;
    pause_ms(20);
  }
  kill(pid, SIGTERM);
  waitpid(pid, &st, 0);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
  st = run_in(k.dir, &out, "tail -n +2 out.csv | cut -d, -f1 | sort -n | tr '\\n' ' '");
  char want[2048];
  size_t w = 0;
  for (int i = 1; i <= 200; i++)
    w += (size_t)snprintf(want + w, sizeof want - w, "%d ", i);
  snprintf(want + w, sizeof want - w, "1000 2000 ");
  cr_expect_str_eq(out, want);
  free(out);
  /* [0, 10s) fired with the 200 records; [20s, 30s) has not (the merged
   * watermark is 20 s, the least of 30 s and 20 s). */
  char *win = slurp(in_dir(&k, "win.csv"));
  cr_expect_str_eq(win ? win : "", "start,end,n\n1970-01-01T00:00:00.000Z,"
                                    "1970-01-01T00:00:10.000Z,200\n");
  free(win);
  teardown(&k);
}

/* /metrics of a Kafka source: its records, and its consumer's queue
 * (empty once the program has caught up). */
Test(kafka, source_metrics) {
  K k;
  mock_start(&k, "in", 2);
  build(&k, "type R = { id: int }\n"
            "param brokers: string = \"\"\n"
            "source rs: R = kafka(brokers: brokers, topic: \"in\")\n"
            "sink out = file(\"out.csv\", format: csv)\n"
            "rs |> out\n");
  char *out;
  int st = run_in(k.dir, &out, "seq 1 10 | sed 's/.*/{\"id\":&}/' | timeout "
                  "60 kcat -b '%s' -P -t in", k.brokers);
  cr_assert_eq(st, 0, "%s", out);
  free(out);
  int port = free_port();
  char b[300], m[64];
  snprintf(b, sizeof b, "--brokers=%s", k.brokers);
  snprintf(m, sizeof m, "--metrics-addr=127.0.0.1:%d", port);
  pid_t pid = spawn_in(k.dir, "stderr.txt",
                       (const char *const[]){"./prog", b, m, NULL});
  long until = now_ms() + 30000;
  while (out_lines(&k) < 11 && now_ms() < until)
    pause_ms(10);
  st = run_in(k.dir, &out, "curl -sf -m 10 http://127.0.0.1:%d/metrics | "
              "grep -E '^pspf_source_(records_total|queued_messages)'", port);
  cr_expect_eq(st, 0, "%s", out);
  cr_expect_str_eq(out, "pspf_source_records_total{source=\"rs\"} 10\n"
                        "pspf_source_queued_messages{source=\"rs\"} 0\n");
  free(out);
  kill(pid, SIGTERM);
  waitpid(pid, &st, 0);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
  teardown(&k);
}

/* ---- --scale-out ------------------------------------------------------- */

/* The scaled-out test's program: bids keyed by auction (the topic's key)
 * into 10 s windows, to topic TOPIC (a param), in group GROUP. */
static const char scale_prog[] =
    "type Bid = { auction: int, price: int, ts: timestamp }\n"
    "param brokers: string = \"\"\n"
    "param group: string = \"g\"\n"
    "param topic: string = \"in2\"\n"
    "source bids: Bid = kafka(brokers: brokers, topic: \"in\", group: group, "
    "key: auction)\n"
    "sink out = kafka(brokers: brokers, topic: topic, key: key)\n"
    "bids\n"
    "  |> event_time(b => b.ts, lateness: 1s)\n"
    "  |> key_by(b => b.auction)\n"
    "  |> window(tumbling(10s))\n"
    "  |> aggregate(n: count(), total: sum(b => b.price))\n"
    "  |> out\n";

/* The same keyed by auction without the source saying the topic is:
 * every record goes through the repartition topic. */
static const char scale_prog_routed[] =
    "type Bid = { auction: int, price: int, ts: timestamp }\n"
    "param brokers: string = \"\"\n"
    "param group: string = \"g\"\n"
    "param topic: string = \"in2\"\n"
    "source bids: Bid = kafka(brokers: brokers, topic: \"in\", group: group)\n"
    "sink out = kafka(brokers: brokers, topic: topic, key: key)\n"
    "bids\n"
    "  |> event_time(b => b.ts, lateness: 1s)\n"
    "  |> key_by(b => b.auction)\n"
    "  |> window(tumbling(10s))\n"
    "  |> aggregate(n: count(), total: sum(b => b.price))\n"
    "  |> out\n";

/* Where the scaled-out test keeps state: "dir" (--checkpoint-dir) or
 * "kafka" (--state-store=kafka). */
static const char *scale_store = "dir";

/* Instance [name] of the scaled-out program, standard error in NAME.err;
 * its state in [ckdir] (or, with the kafka store, in GROUP-changelog). */
static pid_t spawn_scaled(K *k, const char *name, const char *group,
                          const char *topic, const char *ckdir) {
  char b[300], g[64], t[64], c[64], err[64];
  snprintf(b, sizeof b, "--brokers=%s", k->brokers);
  snprintf(g, sizeof g, "--group=%s", group);
  snprintf(t, sizeof t, "--topic=%s", topic);
  if (strcmp(scale_store, "kafka") == 0)
    snprintf(c, sizeof c, "--state-store=kafka");
  else
    snprintf(c, sizeof c, "--checkpoint-dir=%s", ckdir);
  snprintf(err, sizeof err, "%s.err", name);
  return spawn_in(k->dir, err,
                  (const char *const[]){"./prog", b, g, t, c, "--scale-out",
                                        "--checkpoint-interval=200ms",
                                        "--session-timeout=6s",
                                        "--log-level=info", NULL});
}

/* Writes [ckdir].journal: the commit journals of sink 'out' of every
 * partition, from the files in [ckdir] or from changelog [group]'s
 * messages. */
static void scaled_journal(K *k, const char *ckdir, const char *group) {
  char top[4096], *out;
  top_dir(top);
  if (strcmp(scale_store, "kafka") == 0)
    run_in(k->dir, &out, "timeout 30 kcat -b '%s' -C -t %s-changelog -e -q "
           "-f '%%k %%S\n%%s' | python3 '%s/tests/kafka/changelog_journal.py' "
           "out > %s.journal", k->brokers, group, top, ckdir);
  else
    run_in(k->dir, &out, "cat %s/*/out.kafka-commits > %s.journal "
           "2>/dev/null; true", ckdir, ckdir);
  free(out);
}

/* Messages committed so far by the sinks of every partition. */
static long scaled_committed(K *k, const char *ckdir, const char *group) {
  char *out;
  scaled_journal(k, ckdir, group);
  run_in(k->dir, &out, "sed -n 's/.* messages=\\([0-9]*\\).*/\\1/p' "
         "%s.journal | awk '{ s += $1 } END { print s + 0 }'", ckdir);
  long n = atol(out);
  free(out);
  return n;
}

/* Wave [w] of the input (tests/kafka/scale_data.py), partition by
 * partition. */
static void scaled_wave(K *k, int w) {
  char *out;
  int st = run_in(k->dir, &out, "for p in $(seq 0 11); do timeout 60 kcat -b "
                  "'%s' -P -t in -p $p -K '\\t' < in-%d-$p.txt || exit 1; done",
                  k->brokers, w);
  cr_assert_eq(st, 0, "kcat -P: %s", out);
  free(out);
}

/* The committed output of [topic] (journals in [ckdir]) against the
 * model's; [kills]: transactions kills may have left open. */
static void scaled_check(K *k, const char *topic, const char *ckdir,
                         const char *group, int kills, const char *errs) {
  char top[4096], *out;
  top_dir(top);
  scaled_journal(k, ckdir, group);
  int st = run_in(k->dir, &out, "timeout 30 kcat -b '%s' -C -t %s -e -q -f "
                  "'%%p %%o %%s\\n' > %s.txt && python3 "
                  "'%s/tests/kafka/txn_check.py' %s.journal "
                  "%s.txt expected.jsonl %d key,start 2>&1", k->brokers, topic,
                  topic, top, ckdir, topic, kills);
  char *err = NULL;
  run_in(k->dir, &err, "tail -n 20 %s", errs);
  cr_expect_eq(st, 0, "%s: %s\n%s", topic, out, err);
  cr_log_info("%s: %s", topic, out);
  free(err);
  free(out);
}

/* Three instances of one program share a 12-partition topic; one is
 * killed with SIGKILL mid-stream, a fourth starts, another is stopped
 * with SIGTERM, the input goes on arriving in waves. Every (key, window)
 * result is committed exactly once, equal to an independent model's and
 * to a single instance's run; every other message is a copy left in a
 * transaction the kill left open. State moves through [store]. */
static void scale_kill_start_stop(const char *store, bool routed) {
  scale_store = store;
  K k;
  mock_start(&k, "in", 12); /* (and in2: the output) */
  build(&k, routed ? scale_prog_routed : scale_prog);
  char top[4096], *out;
  top_dir(top);
  int st = run_in(k.dir, &out, "python3 '%s/tests/kafka/scale_data.py' 60000 "
                  "8 12 . && wc -l < expected.jsonl", top);
  cr_assert_eq(st, 0, "%s", out);
  long want = atol(out);
  free(out);
  pid_t a = spawn_scaled(&k, "a", "g", "in2", "ck");
  pid_t b = spawn_scaled(&k, "b", "g", "in2", "ck");
  pid_t c = spawn_scaled(&k, "c", "g", "in2", "ck");
  scaled_wave(&k, 0);
  scaled_wave(&k, 1);
  long until = now_ms() + 60000;
  while (scaled_committed(&k, "ck", "g") < want / 8 && now_ms() < until)
    pause_ms(50);
  scaled_wave(&k, 2); /* killed while it reads this wave */
  pause_ms(rand() % 50);
  /* (routed: stopped; the mock shows an aborted transaction's messages
   * in the repartition topic to the keyed side, as a real broker does
   * not to read_committed consumers, so a kill cannot be checked) */
  kill(a, routed ? SIGTERM : SIGKILL);
  waitpid(a, &st, 0);
  scaled_wave(&k, 3);
  pid_t d = spawn_scaled(&k, "d", "g", "in2", "ck");
  scaled_wave(&k, 4);
  scaled_wave(&k, 5);
  until = now_ms() + 60000;
  while (scaled_committed(&k, "ck", "g") < want / 2 && now_ms() < until)
    pause_ms(50);
  kill(b, SIGTERM); /* its partitions are handed over */
  waitpid(b, &st, 0);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "b: wait status %#x", st);
  scaled_wave(&k, 6);
  scaled_wave(&k, 7);
  until = now_ms() + 120000;
  while (scaled_committed(&k, "ck", "g") < want && now_ms() < until)
    pause_ms(100);
  pause_ms(300);
  kill(c, SIGTERM);
  kill(d, SIGTERM);
  waitpid(c, &st, 0);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "c: wait status %#x", st);
  waitpid(d, &st, 0);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "d: wait status %#x", st);
  /* (the kill leaves at most one transaction a partition it held open) */
  scaled_check(&k, "in2", "ck", "g", routed ? 0 : 12,
               "a.err b.err c.err d.err");
  /* One instance alone, over the same input, in a group of its own. */
  pid_t one = spawn_scaled(&k, "one", "g1", "solo", "ck-solo");
  until = now_ms() + 120000;
  while (scaled_committed(&k, "ck-solo", "g1") < want && now_ms() < until)
    pause_ms(100);
  pause_ms(300);
  kill(one, SIGTERM);
  waitpid(one, &st, 0);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "one: wait status %#x", st);
  scaled_check(&k, "solo", "ck-solo", "g1", 0, "one.err");
  st = run_in(k.dir, &out, "cut -d' ' -f3- in2.txt | sort -u > many.txt && "
              "cut -d' ' -f3- solo.txt | sort > solo-sorted.txt && cmp "
              "many.txt solo-sorted.txt 2>&1");
  cr_expect_eq(st, 0, "the instances' results differ from one instance's: "
               "%s", out);
  free(out);
  st = run_in(k.dir, &out, "cat a.err b.err c.err d.err one.err | grep -c "
              "'restored checkpoint' ; ! grep -h Sanitizer *.err");
  cr_expect_eq(st, 0, "%s", out);
  cr_expect(atoi(out) > 0, "no partition was restored from a checkpoint");
  free(out);
  teardown(&k);
}

Test(kafka, scale_out_kill_start_stop) {
  scale_kill_start_stop("dir", false);
}

/* The same with each partition's state in the changelog topic. */
Test(kafka, scale_out_kill_start_stop_changelog) {
  scale_kill_start_stop("kafka", false);
}

/* Keyed by another field than the topic's: through the repartition
 * topic, the routers' watermarks with it; instances stopped and started
 * (no kill: see above). */
Test(kafka, scale_out_repartition_start_stop) {
  scale_kill_start_stop("dir", true);
}

/* --scale-out refuses, with status 1 and the reason, what cannot keep a
 * key's state with its partition, before it connects to anything. */
Test(kafka, scale_out_refusals) {
  static const struct {
    const char *prog, *args, *want;
  } cases[] = {
      {"source bids: Bid = kafka(brokers: \"127.0.0.1:1\", topic: \"in\", "
       "key: price)\nbids |> key_by(b => b.auction % 10) |> aggregate(n: "
       "count()) |> out\n",
       "--scale-out --checkpoint-dir=ck",
       "the key_by at line 5 keys by an expression, not a field of the "
       "source's records"},
      {"source bids: Bid = kafka(brokers: \"127.0.0.1:1\", topic: \"in\")\n"
       "bids |> key_by(b => b.auction) |> aggregate(n: count()) |> out\n"
       "bids |> key_by(b => b.price) |> aggregate(n: count()) |> out\n",
       "--scale-out --checkpoint-dir=ck",
       "another key_by by 'auction': one repartition topic holds one key"},
      {"source bids: Bid = kafka(brokers: \"127.0.0.1:1\", topic: \"in\", "
       "key: auction)\nbids |> map(b => { ..b, auction: b.auction / 2 }) "
       "|> key_by(b => b.auction) |> aggregate(n: count()) |> out\n",
       "--scale-out --checkpoint-dir=ck",
       "the key_by at line 5 keys records that line 5 has changed (only "
       "records as they come in can go through a repartition topic)"},
      {"source bids: Bid = kafka(brokers: \"127.0.0.1:1\", topic: \"in\", "
       "key: auction)\nbids |> window(tumbling(10s)) |> aggregate(n: count()) "
       "|> out\n",
       "--scale-out --checkpoint-dir=ck",
       "the state at line 5 is not kept by key"},
      {"source bids: Bid = kafka(brokers: \"127.0.0.1:1\", topic: \"in\", "
       "key: auction)\nbids |> key_by(b => b.auction) |> aggregate(n: "
       "count()) |> out\n",
       "--scale-out", "it needs --checkpoint-dir"},
      {"source bids: Bid = stdin(format: json)\nbids |> out\n",
       "--scale-out --checkpoint-dir=ck", "it does not read a kafka source"},
  };
  char dir[] = "/tmp/pspfc-scale-XXXXXX";
  cr_assert(mkdtemp(dir));
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[1024], *out;
    snprintf(text, sizeof text,
             "type Bid = { auction: int, price: int, ts: timestamp }\n"
             "sink out = stdout(format: json)\n// (line 3)\n%s",
             cases[i].prog);
    build_prog_in(dir, text, "-O0");
    int st = run_in(dir, &out, "./prog %s </dev/null 2>&1", cases[i].args);
    cr_expect_eq(st, 1, "case %zu: status %d: %s", i, st, out);
    cr_expect(strstr(out, "--scale-out: this program cannot share its work") &&
                  strstr(out, cases[i].want),
              "case %zu: %s", i, out);
    free(out);
  }
  char *out;
  run_in(dir, &out, "cd / && rm -rf '%s'", dir);
  free(out);
}

/* A partition whose state is larger than one changelog message: the
 * checkpoint goes in several chunks and comes back whole. One instance
 * reads 20000 keys, each with 120 bytes kept (`last`), and stops (its
 * checkpoint, of about 3 MB, taken then); the keys come again and another
 * instance goes on from the checkpoint: each key's second update counts
 * both records. (The mock keeps 5 MiB a partition: the sizes are kept
 * under it.) */
Test(kafka, scale_out_changelog_holds_big_state) {
  K k;
  mock_start(&k, "in", 1); /* (in2: the output; g-changelog) */
  build(&k, "type R = { id: int, v: int, pad: string }\n"
            "param brokers: string = \"\"\n"
            "source rs: R = kafka(brokers: brokers, topic: \"in\", group: "
            "\"g\", key: id)\n"
            "sink out = kafka(brokers: brokers, topic: \"in2\", key: key)\n"
            "rs |> key_by(r => r.id)\n"
            "   |> aggregate(n: count(), total: sum(r => r.v), pad: last(r => "
            "r.pad))\n"
            "   |> map(a => { key: a.key, n: a.n, total: a.total })\n"
            "   |> out\n");
  int n = 20000;
  char *out;
  for (int round = 1; round <= 2; round++) {
    int st = run_in(k.dir, &out,
                    "seq 1 %d | awk '{ p = %d == 1 ? sprintf(\"%%0120d\", $1) "
                    ": \"x\"; printf \"%%d\\t{\\\"id\\\":%%d,\\\"v\\\":%%d,"
                    "\\\"pad\\\":\\\"%%s\\\"}\\n\", $1, $1, $1 * %d, p }' | "
                    "timeout 60 kcat -b '%s' -P -t in -K '\\t'",
                    n, round, round, k.brokers);
    cr_assert_eq(st, 0, "kcat -P: %s", out);
    free(out);
    char b[300];
    snprintf(b, sizeof b, "--brokers=%s", k.brokers);
    pid_t pid = spawn_in(k.dir, "stderr.txt",
                         (const char *const[]){"./prog", b, "--scale-out",
                                               "--state-store=kafka",
                                               "--checkpoint-interval=1h",
                                               "--session-timeout=6s",
                                               "--log-level=info", NULL});
    long until = now_ms() + 90000, got = 0;
    while (got < (long)n * round && now_ms() < until) {
      pause_ms(200);
      run_in(k.dir, &out, "timeout 30 kcat -b '%s' -C -t in2 -e -q | wc -l",
             k.brokers);
      got = atol(out);
      free(out);
    }
    cr_expect_eq(got, (long)n * round, "updates after round %d", round);
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
  }
  char top[4096];
  top_dir(top);
  int st = run_in(
      k.dir, &out,
      "seq 1 %d | awk '{ printf \"{\\\"key\\\":%%d,\\\"n\\\":1,\\\"total\\\":"
      "%%d}\\n{\\\"key\\\":%%d,\\\"n\\\":2,\\\"total\\\":%%d}\\n\", $1, $1, "
      "$1, 3 * $1 }' > want.jsonl && timeout 30 kcat -b '%s' -C -t "
      "g-changelog -e -q -f '%%k %%S\\n%%s' > changelog.bin && python3 "
      "'%s/tests/kafka/changelog_journal.py' out < changelog.bin > "
      "journal.txt && timeout 30 kcat -b '%s' -C -t in2 -e -q -f '%%p %%o "
      "%%s\\n' > all.txt && python3 '%s/tests/kafka/txn_check.py' journal.txt "
      "all.txt want.jsonl 0 2>&1 && timeout 30 kcat -b '%s' -C -t g-changelog "
      "-e -q -f '%%k\\n' | grep -c '^ckpt-[0-9a-f]\\{8\\}-[01]-2$'",
      n, k.brokers, top, k.brokers, top, k.brokers);
  char *err = slurp(in_dir(&k, "stderr.txt"));
  cr_expect_eq(st, 0, "%s\n%s", out, err ? err : "");
  cr_expect(err && strstr(err, "restored checkpoint"), "%s", err ? err : "");
  cr_log_info("%s", out);
  free(err);
  free(out);
  teardown(&k);
}

/* A 2-partition topic of 1000 ids, and a scaled-out program counting
 * each id's records (keyed by the topic's key) to in2. */
static void counts_setup(K *k) {
  mock_start(k, "in", 2);
  build(k, "type R = { id: int }\n"
           "param brokers: string = \"\"\n"
           "source rs: R = kafka(brokers: brokers, topic: \"in\", group: "
           "\"g\", key: id)\n"
           "sink out = kafka(brokers: brokers, topic: \"in2\", key: id)\n"
           "rs |> key_by(r => r.id) |> aggregate(n: count()) "
           "|> map(a => { id: a.key, n: a.n }) |> out\n");
  char *out;
  int st = run_in(k->dir, &out, "seq 1 1000 | awk '{ printf \"%%d\\t{\\\"id\\\":"
                  "%%d}\\n\", $1, $1 }' | timeout 60 kcat -b '%s' -P -t in -K "
                  "'\\t'", k->brokers);
  cr_assert_eq(st, 0, "%s", out);
  free(out);
}

/* --checkpoint-reset scaled out: every partition's checkpoints and
 * journals go, the input is read again from the start, and the ids go on
 * above the old ones (a real broker's sinks' group offsets still name
 * those). */
Test(kafka, scale_out_checkpoint_reset) {
  K k;
  counts_setup(&k);
  char *out;
  int st;
  for (int round = 1; round <= 2; round++) {
    char b[300];
    snprintf(b, sizeof b, "--brokers=%s", k.brokers);
    const char *argv[] = {"./prog", b, "--scale-out", "--checkpoint-dir=ck",
                          "--checkpoint-interval=100ms", "--session-timeout=6s",
                          "--log-level=debug",
                          round == 2 ? "--checkpoint-reset" : NULL, NULL};
    pid_t pid = spawn_in(k.dir, "stderr.txt", argv);
    long until = now_ms() + 60000, got = 0;
    while (got < 1000L * round && now_ms() < until) {
      pause_ms(200);
      run_in(k.dir, &out, "cat ck/in-*/out.kafka-commits 2>/dev/null | sed -n "
             "'s/.* messages=\\([0-9]*\\).*/\\1/p' | awk '{ s += $1 } END { "
             "print s + 0 }'");
      got = atol(out);
      free(out);
      if (round == 2) /* (its journals started anew) */
        got += 1000;
    }
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
  }
  /* Each id's first update, twice in the topic: once a run; the second
   * run's checkpoints are numbered above the first's. */
  st = run_in(k.dir, &out, "timeout 30 kcat -b '%s' -C -t in2 -e -q | grep "
              "-c '\"n\":1}' ; grep -h 'removed the checkpoints of 2 partitions' "
              "stderr.txt | wc -l; for p in 0 1; do a=$(cat ck/in-$p/reset-above); "
              "ls ck/in-$p | sed -n 's/^checkpoint-0*//p' | awk -v a=$a "
              "'$1 <= a { bad = 1 } END { print bad ? \"low\" : \"above\" }'; "
              "done", k.brokers);
  char *err = slurp(in_dir(&k, "stderr.txt"));
  cr_expect_str_eq(out, "2000\n1\nabove\nabove\n", "%s", err ? err : "");
  free(err);
  free(out);
  teardown(&k);
}

/* /metrics of a scaled-out instance: what its partitions' tasks read and
 * wrote, the partitions it holds and where each is; promtool checks the
 * format. */
Test(kafka, scale_out_metrics) {
  K k;
  counts_setup(&k);
  char *out;
  int st;
  int port = free_port();
  char b[300], m[64];
  snprintf(b, sizeof b, "--brokers=%s", k.brokers);
  snprintf(m, sizeof m, "--metrics-addr=127.0.0.1:%d", port);
  pid_t pid = spawn_in(k.dir, "stderr.txt",
                       (const char *const[]){"./prog", b, m, "--scale-out",
                                             "--checkpoint-dir=ck",
                                             "--checkpoint-interval=100ms",
                                             "--session-timeout=6s", NULL});
  long until = now_ms() + 60000;
  out = NULL;
  do {
    pause_ms(200);
    free(out);
    run_in(k.dir, &out, "curl -sf -m 10 http://127.0.0.1:%d/metrics > m.txt; "
           "grep -c '^pspf_sink_records_total{sink=\"out\"} 1000$' m.txt",
           port);
  } while (atoi(out) < 1 && now_ms() < until);
  free(out);
  /* (the partitions' offsets add up to the records: kcat's partitioner
   * spread them) */
  st = run_in(k.dir, &out, "promtool check metrics < m.txt 2>&1 && grep -E "
              "'^pspf_(source_records_total|partitions_assigned)' m.txt | "
              "sort && grep '^pspf_partition_next_offset{topic=\"in\",partition=\"[01]\"}' "
              "m.txt | awk '{ s += $2 } END { print \"offsets\", s }'");
  cr_expect_eq(st, 0, "%s", out);
  cr_expect_str_eq(out, "pspf_partitions_assigned 2\n"
                        "pspf_source_records_total{source=\"rs\"} 1000\n"
                        "offsets 1000\n",
                   "%s", out);
  free(out);
  kill(pid, SIGTERM);
  waitpid(pid, &st, 0);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
  teardown(&k);
}
