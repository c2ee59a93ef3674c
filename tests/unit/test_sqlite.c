/*
 * test_sqlite.c -- the sqlite sink, end to end: programs built with pspfc
 * write real SQLite files, which the tests read back with the sqlite3
 * command-line shell (an independent reader). The crash test kills the
 * program with SIGKILL at random moments, restarts it from its
 * checkpoints until it finishes, and compares every table, row ids
 * included, with an uninterrupted run's.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#define DEADLINE_MS 120000

typedef struct Dir {
  char dir[64];
  char path[700];
} Dir;

static const char *in_dir(Dir *d, const char *name) {
  snprintf(d->path, sizeof d->path, "%s/%s", d->dir, name);
  return d->path;
}

static void put_file(Dir *d, const char *name, const char *text) {
  FILE *f = fopen(in_dir(d, name), "w");
  cr_assert(f, "%s: %s", d->path, strerror(errno));
  fputs(text, f);
  fclose(f);
}

/* Builds dir/prog from [text]; [cflags]: the C compiler's flags. */
static void build(Dir *d, const char *text, const char *cflags) {
  strcpy(d->dir, "/tmp/pspfc-sqlite-XXXXXX");
  cr_assert(mkdtemp(d->dir));
  put_file(d, "prog.pspf", text);
  char *out;
  int st = build_in(d->dir, "prog.pspf", "prog", cflags, &out);
  cr_assert_eq(st, 0, "build failed:\n%s", out);
  free(out);
}

static void cleanup(Dir *d) {
  char *out;
  run_in(d->dir, &out, "cd / && rm -rf '%s'", d->dir);
  free(out);
}

/* What the sqlite3 shell prints for [sql] on dir/out.db. */
static char *query(Dir *d, const char *sql) {
  char *out;
  int st = run_in(d->dir, &out, "sqlite3 out.db \"%s\" 2>&1", sql);
  cr_assert_eq(st, 0, "sqlite3 failed on %s:\n%s", sql, out);
  return out;
}

static void expect_query(Dir *d, const char *sql, const char *want) {
  char *got = query(d, sql);
  cr_expect_str_eq(got, want, "%s\n--- got:\n%s--- want:\n%s", sql, got,
                   want);
  free(got);
}

static const char *const scores =
    "type Score = { player: string, game: int, points: int, bonus: float?, "
    "at: timestamp, won: bool }\n"
    "source in: Score = file(\"in.csv\", format: csv)\n"
    "sink all = sqlite(\"out.db\", table: \"scores\")\n"
    "sink best = sqlite(\"out.db\", table: \"best\", key: [player])\n"
    "in |> all\n"
    "in |> key_by(s => s.player)\n"
    "   |> aggregate(games: count(), top: max(s => s.points), "
    "last_at: max(s => s.at))\n"
    "   |> map(b => { player: b.key, games: b.games, top: b.top, "
    "last_at: b.last_at })\n"
    "   |> best\n";

static const char *const scores_in =
    "player,game,points,bonus,at,won\n"
    "ann,1,10,0.5,2026-11-23T10:00:00Z,true\n"
    "bob,1,7,,2026-11-23T10:00:01Z,false\n"
    "\"o'neil, jr\",2,12,1.25,2026-11-23T10:00:02.5Z,true\n"
    "ann,2,3,,2026-11-23T10:00:03Z,false\n";

Test(sqlite, rows_types_and_upserts) {
  Dir d;
  build(&d, scores, SAN_CFLAGS);
  put_file(&d, "in.csv", scores_in);
  char *out;
  int st = run_in(d.dir, &out, "./prog 2>&1");
  cr_assert_eq(st, 0, "%s", out);
  cr_expect_str_eq(out, "");
  free(out);
  /* The table is made from the record type: column names and types. */
  expect_query(&d, "select sql from sqlite_master where name = 'scores'",
               "CREATE TABLE \"scores\" (\"player\" TEXT, \"game\" INTEGER, "
               "\"points\" INTEGER, \"bonus\" REAL, \"at\" TEXT, \"won\" "
               "INTEGER)\n");
  expect_query(&d, "select sql from sqlite_master where name = 'best'",
               "CREATE TABLE \"best\" (\"player\" TEXT, \"games\" INTEGER, "
               "\"top\" INTEGER, \"last_at\" TEXT, PRIMARY KEY "
               "(\"player\"))\n");
  /* Every record a row; none is NULL; a timestamp is RFC 3339 text. */
  expect_query(&d, "select rowid, player, game, points, "
                   "coalesce(bonus, 'NULL'), at, won from scores",
               "1|ann|1|10|0.5|2026-11-23T10:00:00.000Z|1\n"
               "2|bob|1|7|NULL|2026-11-23T10:00:01.000Z|0\n"
               "3|o'neil, jr|2|12|1.25|2026-11-23T10:00:02.500Z|1\n"
               "4|ann|2|3|NULL|2026-11-23T10:00:03.000Z|0\n");
  /* key: [player]: one row a player, updated in place. */
  expect_query(&d, "select * from best order by player",
               "ann|2|10|2026-11-23T10:00:03.000Z\n"
               "bob|1|7|2026-11-23T10:00:01.000Z\n"
               "o'neil, jr|1|12|2026-11-23T10:00:02.500Z\n");
  /* A second run adds to the table (it is not emptied) and upserts. */
  st = run_in(d.dir, &out, "./prog 2>&1");
  cr_assert_eq(st, 0, "%s", out);
  free(out);
  expect_query(&d, "select count(*) from scores", "8\n");
  expect_query(&d, "select count(*) from best", "3\n");
  cleanup(&d);
}

Test(sqlite, table_that_does_not_fit) {
  Dir d;
  build(&d, scores, SAN_CFLAGS);
  put_file(&d, "in.csv", scores_in);
  char *out;
  cr_assert_eq(run_in(d.dir, &out, "sqlite3 out.db 'create table scores (x int)'"),
               0);
  free(out);
  int st = run_in(d.dir, &out, "./prog 2>&1");
  cr_expect_eq(st, 2, "exit status %d:\n%s", st, out);
  cr_expect(strstr(out, "error: sink 'all' (table 'scores' in out.db): the "
                        "table does not fit the records written"),
            "%s", out);
  cr_expect_null(strstr(out, "Sanitizer"), "%s", out);
  free(out);
  cleanup(&d);
}

/* ---- exactly once across SIGKILL ------------------------------------- */

/* Starts dir/prog with [args] (NULL-terminated), stderr appended to
 * dir/log.txt. */
static pid_t spawn(Dir *d, const char *const *args) {
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    int n = open("/dev/null", O_RDWR);
    if (chdir(d->dir) < 0)
      _exit(127);
    int e = open("log.txt", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (e < 0 || n < 0 || dup2(n, 0) < 0 || dup2(n, 1) < 0 || dup2(e, 2) < 0)
      _exit(127);
    execv("./prog", (char *const *)args);
    _exit(127);
  }
  return pid;
}

static const char *const windows =
    "type Ev = { id: int, key: int, v: int, ts: timestamp }\n"
    "source evs: Ev = file(\"in.csv\", format: csv)\n"
    "sink db = sqlite(\"out.db\", table: \"windows\")\n"
    "sink late = sqlite(\"out.db\", table: \"late\")\n"
    "sink totals = sqlite(\"out.db\", table: \"totals\", key: [key])\n"
    "evs |> event_time(e => e.ts, lateness: 2s)\n"
    "    |> key_by(e => e.key)\n"
    "    |> window(tumbling(10s), late: late)\n"
    "    |> aggregate(n: count(), total: sum(e => e.v), "
    "ids: count_distinct(e => e.id % 97))\n"
    "    |> db\n"
    "evs |> key_by(e => e.key % 100)\n"
    "    |> aggregate(n: count(), total: sum(e => e.v), last: max(e => e.ts))\n"
    "    |> totals\n";

/* Writes every table, row ids included, to dir/[name]; returns its size. */
static long dump(Dir *d, const char *name) {
  char *out;
  int st = run_in(d->dir, &out, "sqlite3 out.db \"select 'w', rowid, * from windows; "
              "select 'l', rowid, * from late; select 't', rowid, * from "
              "totals order by key\" > %s && wc -c < %s", name, name);
  cr_assert_eq(st, 0, "%s", out);
  long n = atol(out);
  free(out);
  return n;
}

Test(sqlite, exactly_once_across_sigkill) {
  Dir d;
  /* -O2 without the sanitizers: a million records, many times over. */
  build(&d, windows, "-O2 -g");
  char *out;
  /* A million records, some out of order, some late (seeded). */
  int st = run_in(d.dir, &out,
              "awk 'BEGIN { srand(11); print \"id,key,v,ts\"; t = "
              "1700000000000; for (i = 0; i < 1000000; i++) { t += int(rand() "
              "* 40); ts = t - int(rand() * 1500); if (rand() < 0.002) ts = t "
              "- 15000 - int(rand() * 40000); printf \"%%d,%%d,%%d,%%.0f\\n\", "
              "i, int(rand() * 5000), int(rand() * 100000) - 1000, ts } }' "
              "> in.csv");
  cr_assert_eq(st, 0, "%s", out);
  free(out);
  /* The uninterrupted run. */
  st = run_in(d.dir, &out, "./prog 2>&1 && mv out.db ref.db && rm -f out.db-*");
  cr_assert_eq(st, 0, "%s", out);
  free(out);
  st = run_in(d.dir, &out, "mv ref.db out.db");
  free(out);
  long want = dump(&d, "want.txt");
  st = run_in(d.dir, &out, "rm -f out.db out.db-*");
  free(out);
  cr_assert_gt(want, 10000000, "the reference run wrote too little");

  /* Killed at random moments, restarted until it finishes by itself. */
  static const char *const args[] = {"./prog", "--checkpoint-dir=ck",
                                     "--checkpoint-interval=20ms", NULL};
  srand(20261123);
  int kills = 0, runs = 0, status = -1;
  long until = now_ms() + DEADLINE_MS;
  while (now_ms() < until) {
    pid_t pid = spawn(&d, args);
    runs++;
    /* Short lives first, so that at least ten kills come before the end;
     * then longer ones, so that it gets there. */
    pause_ms(kills < 12 ? 30 + rand() % 200 : 100 + rand() % 600);
    if (waitpid(pid, &status, WNOHANG) == pid)
      break; /* it finished */
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    kills++;
    status = -1;
  }
  char *log = slurp(in_dir(&d, "log.txt"));
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "did not finish (wait status %#x) after %d runs:\n%s", status,
            runs, log ? log : "");
  cr_expect_geq(kills, 10, "only %d kills before it finished", kills);
  long got = dump(&d, "got.txt");
  st = run_in(d.dir, &out, "cmp want.txt got.txt");
  cr_expect_eq(st, 0, "the tables differ from an uninterrupted run's after "
               "%d kills (%ld bytes, want %ld): %s\nlog:\n%.4000s", kills,
               got, want, out, log ? log : "");
  free(out);
  /* The last commit names the last checkpoint. */
  char *mark = query(&d, "select checkpoint > 0 from _pspf_checkpoints where "
                         "sink = 'db'");
  cr_expect_str_eq(mark, "1\n");
  free(mark);
  free(log);
  cleanup(&d);
}

Test(sqlite, database_changed_outside) {
  Dir d;
  build(&d, scores, SAN_CFLAGS);
  put_file(&d, "in.csv", scores_in);
  char *out;
  int st = run_in(d.dir, &out, "./prog --checkpoint-dir=ck 2>&1");
  cr_assert_eq(st, 0, "%s", out);
  free(out);
  /* Rows the checkpoint committed are gone: the program cannot make the
   * output exact, and says so. */
  st = run_in(d.dir, &out, "sqlite3 out.db 'delete from scores where rowid > 2' && "
                    "./prog --checkpoint-dir=ck 2>&1");
  cr_expect_eq(st, 2, "exit status %d:\n%s", st, out);
  cr_expect(strstr(out, "error: sink 'all': table 'scores' in out.db ends at "
                        "row 2, before row 4 that its checkpoint committed"),
            "%s", out);
  cr_expect(strstr(out, "--checkpoint-reset"), "%s", out);
  free(out);
  /* Starting over works. */
  st = run_in(d.dir, &out, "./prog --checkpoint-dir=ck --checkpoint-reset 2>&1");
  cr_expect_eq(st, 0, "%s", out);
  free(out);
  expect_query(&d, "select count(*) from scores", "6\n");
  cleanup(&d);
}

/* Another process holds the database's write lock: the program waits
 * (its sources pause) and writes once the lock goes; held past the retry
 * limit, it stops with status 2, and a restart goes on from its
 * checkpoint to the same table. */
Test(sqlite, locked_database_is_waited_for) {
  Dir d;
  build(&d, scores, SAN_CFLAGS);
  put_file(&d, "in.csv", scores_in);
  char *out;
  /* The lock is taken first (sqlite3, in its own process), then let go
   * after 1.5 s. */
  int st = run_in(d.dir, &out,
                  "(echo 'BEGIN EXCLUSIVE;'; sleep 1.5; echo 'COMMIT;') | "
                  "sqlite3 out.db & sleep 0.3; ./prog 2> err1.txt; "
                  "echo status=$?; wait");
  cr_expect_eq(st, 0);
  cr_expect_str_eq(out, "status=0\n", "%s", out);
  free(out);
  char *err = slurp(in_dir(&d, "err1.txt"));
  cr_expect(err && strstr(err, "prog: warning: sqlite out.db: the database "
                               "is locked by another process; the program "
                               "waits and retries (for up to 60000 ms, "
                               "--sink-retry-limit)\n"), "%s", err);
  cr_expect(err && !strstr(err, "Sanitizer"), "%s", err);
  free(err);
  expect_query(&d, "select count(*) from scores", "4\n");
  /* Held for 3 s against a limit of 0.5 s: status 2; then a restart. */
  st = run_in(d.dir, &out,
              "rm -rf out.db* ck; (echo 'BEGIN EXCLUSIVE;'; sleep 3; echo "
              "'COMMIT;') | sqlite3 out.db & sleep 0.3; ./prog "
              "--checkpoint-dir=ck --sink-retry-limit=500ms 2> err2.txt; echo "
              "status=$?; wait; ./prog --checkpoint-dir=ck 2> err3.txt; echo "
              "status=$?");
  cr_expect_eq(st, 0);
  cr_expect_str_eq(out, "status=2\nstatus=0\n", "%s", out);
  free(out);
  expect_query(&d, "select count(*) from scores", "4\n");
  err = slurp(in_dir(&d, "err2.txt"));
  cr_expect(err && strstr(err, "database is locked"), "%s", err);
  free(err);
  cleanup(&d);
}
