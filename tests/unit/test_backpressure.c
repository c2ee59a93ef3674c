/*
 * test_backpressure.c -- a sink that cannot keep up, or cannot write at
 * all, makes the program wait (its sources pause) with its memory flat,
 * retries a failing write up to --sink-retry-limit, then stops with
 * status 2; a restart goes on from the last checkpoint and nothing is
 * lost. Real processes, a real FIFO, a real full file system (a 1 MiB
 * tmpfs mounted in a mount namespace of its own, with unshare).
 *
 * No Criterion .timeout (see test_follow.c): every wait has a deadline.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

typedef struct B {
  char dir[64];
  char path[700];
} B;

static const char *in_dir(B *b, const char *name) {
  snprintf(b->path, sizeof b->path, "%s/%s", b->dir, name);
  return b->path;
}

static void setup(B *b, const char *prog, const char *cflags) {
  strcpy(b->dir, "/tmp/pspfc-bp-XXXXXX");
  cr_assert(mkdtemp(b->dir));
  build_prog_in(b->dir, prog, cflags);
}

static void teardown(B *b) {
  char *out;
  run_in(b->dir, &out, "cd / && rm -rf '%s'", b->dir);
  free(out);
}

static long file_bytes(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* A followed file goes to a FIFO that the test stops reading: while the
 * input grows by 43 MB, the program's memory stays flat (it reads no
 * further than the sink writes); read again, every record arrives. */
Test(backpressure, stalled_sink_keeps_memory_flat) {
  B b;
  /* (built without the sanitizers: their allocator's quarantine would
   * hide what the program itself holds) */
  setup(&b, "type R = { id: int, name: string }\n"
            "source rs: R = file(\"in.csv\", format: csv, follow: true)\n"
            "sink out = file(\"out.fifo\", format: csv)\n"
            "rs |> map(r => { id: r.id, name: upper(r.name) }) |> out\n",
        "-O2");
  cr_assert_eq(mkfifo(in_dir(&b, "out.fifo"), 0644), 0);
  char *out;
  /* 24 chunks of 40000 records, 2 MB each. */
  int st = run_in(b.dir, &out, "echo id,name > in.csv && awk 'BEGIN { for "
                  "(i = 1; i <= 40000; i++) printf \"%%d,name-of-record-"
                  "number-%%07d-padded-out\\n\", i, i }' > chunk.csv");
  cr_assert_eq(st, 0, "%s", out);
  free(out);
  pid_t pid = spawn_in(b.dir, "stderr.txt",
                       (const char *const[]){"./prog", NULL});
  /* (not blocking: a program that never opens it cannot hang the test) */
  int fifo = open(in_dir(&b, "out.fifo"), O_RDONLY | O_NONBLOCK);
  cr_assert(fifo >= 0, "%s", strerror(errno));
  /* Flowing: most of the first chunk goes through. */
  long got = 0;
  run_in(b.dir, &out, "cat chunk.csv >> in.csv");
  free(out);
  drain_fd(fifo, &got, 1000000, 20000, NULL);
  cr_assert_geq(got, 1000000, "the sink wrote %ld bytes only", got);
  /* Stalled: nobody reads, the input grows by 23 chunks. */
  long base = rss_kib(pid), peak = base;
  for (int i = 0; i < 23; i++) {
    run_in(b.dir, &out, "cat chunk.csv >> in.csv");
    free(out);
    pause_ms(40);
    long r = rss_kib(pid);
    if (r > peak)
      peak = r;
  }
  long grown = file_bytes(in_dir(&b, "in.csv"));
  long chunk = file_bytes(in_dir(&b, "chunk.csv"));
  cr_expect_geq(grown, 24 * chunk, "the input grew to %ld bytes only", grown);
  cr_expect(base > 0 && peak - base < 4096,
            "memory grew from %ld KiB to %ld KiB while the sink was stalled",
            base, peak);
  cr_log_info("stalled sink: RSS %ld KiB, at most %ld KiB while the input "
              "grew by %ld MB", base, peak, 23 * chunk / 1000000);
  /* Read again: every record comes out once, in order. */
  FILE *o = fopen(in_dir(&b, "got.csv"), "w");
  cr_assert(o);
  char *want_text;
  run_in(b.dir, &want_text, "awk -F, 'NR == 1 { print; next } { print $1 "
         "\",\" toupper($2) }' in.csv | wc -c");
  long want_bytes = atol(want_text);
  free(want_text);
  /* (the bytes read before the stall are not kept: compared by count,
   * then the rest by content below) */
  long total = got;
  drain_fd(fifo, &total, want_bytes, 60000, o);
  fclose(o);
  kill(pid, SIGTERM);
  waitpid(pid, &st, 0);
  close(fifo);
  cr_expect_eq(total, want_bytes, "%ld bytes out of %ld", total, want_bytes);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
  st = run_in(b.dir, &out, "awk -F, 'NR == 1 { next } { print $1 \",\" "
              "toupper($2) }' in.csv | tail -n %d > want.csv && tail -n %d "
              "got.csv | cmp - want.csv", 23 * 40000, 23 * 40000);
  cr_expect_eq(st, 0, "what came out after the stall is not the input: %s",
               out);
  free(out);
  teardown(&b);
}

/* The shell script [body] run in a mount namespace of its own, with a
 * 4 MiB tmpfs at ./full and a file filling most of it (./full/filler):
 * the output's first 1.5 MB fit. */
static int in_full_fs(B *b, char **out, const char *body) {
  FILE *f = fopen(in_dir(b, "scene.sh"), "w");
  cr_assert(f);
  fprintf(f, "set -e\nmkdir -p full\nmount -t tmpfs -o size=4m pspf-full "
          "full\nhead -c 2700000 /dev/zero > full/filler\n%s\n", body);
  fclose(f);
  return run_in(b->dir, out, "unshare -m sh scene.sh 2>&1");
}

/* A sink on a full file system: waited out while space comes back; past
 * the retry limit, status 2 and a restart from the last checkpoint; the
 * output is an uninterrupted run's. */
Test(backpressure, disk_full_is_retried_then_stops_with_status_2) {
  B b;
  setup(&b, "type R = { id: int, name: string }\n"
            "source rs: R = file(\"in.csv\", format: csv)\n"
            "sink out = file(\"full/out.csv\", format: csv)\n"
            "rs |> map(r => { id: r.id * 2, name: r.name }) |> out\n",
        SAN_CFLAGS);
  char *out;
  int st = run_in(b.dir, &out, "echo id,name > in.csv && seq 1 200000 | awk "
                  "'{ print $1 \",n\" $1 }' >> in.csv && awk -F, 'NR == 1 { "
                  "print; next } { print $1 * 2 \",\" $2 }' in.csv > want.csv");
  cr_assert_eq(st, 0, "%s", out);
  free(out);
  /* 1. Space comes back after a second: the program waited, then
   * finished. */
  st = in_full_fs(&b, &out,
                  "./prog 2> err1.txt & p=$!\n"
                  "sleep 1; kill -0 $p; rm full/filler\n"
                  "wait $p; echo status=$?\n"
                  "cmp full/out.csv want.csv && echo same\n");
  cr_expect_eq(st, 0, "%s", out);
  cr_expect(strstr(out, "status=0\nsame\n"), "%s", out);
  free(out);
  char *err = slurp(in_dir(&b, "err1.txt"));
  cr_expect(err && strstr(err, "prog: warning: sink 'out' (full/out.csv): No "
                               "space left on device; the program waits and "
                               "retries (for up to 60000 ms, "
                               "--sink-retry-limit)\n"), "%s", err);
  cr_expect(err && strstr(err, "prog: warning: sink 'out' (full/out.csv): "
                               "written again after "), "%s", err);
  cr_expect(err && !strstr(err, "Sanitizer"), "%s", err);
  free(err);
  /* 2. It does not: status 2 past the limit; with space back, a restart
   * goes on from the last checkpoint to the same output. */
  st = in_full_fs(&b, &out,
                  "set +e\n"
                  "./prog --checkpoint-dir=ck --checkpoint-interval=5ms "
                  "--sink-retry-limit=700ms "
                  "2> err2.txt; echo status=$?\n"
                  "rm full/filler\n"
                  "./prog --checkpoint-dir=ck --log-level=info 2> err3.txt; "
                  "echo status=$?\n"
                  "cmp full/out.csv want.csv && echo same\n");
  cr_expect(strstr(out, "status=2\nstatus=0\nsame\n"), "%s", out);
  free(out);
  err = slurp(in_dir(&b, "err2.txt"));
  cr_expect(err && strstr(err, "prog: error: cannot write sink 'out' "
                               "(full/out.csv): No space left on device, "
                               "past the retry limit; stopping (a restart "
                               "goes on from the last checkpoint)\n"),
            "%s", err);
  free(err);
  err = slurp(in_dir(&b, "err3.txt"));
  cr_expect(err && strstr(err, "resuming from checkpoint "), "%s", err);
  free(err);
  teardown(&b);
}
