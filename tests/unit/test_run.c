/*
 * test_run.c -- end to end: every tests/run/X.pspf is built with pspfc
 * into a real executable (compiled with AddressSanitizer and
 * UndefinedBehaviorSanitizer), run with X.in on standard input, and its
 * standard output compared with X.out; where X.dead exists, the
 * dead-letter file is compared with it too, and each X.file.NAME with the
 * file NAME the program wrote. Each X.input.NAME is copied into the
 * program's directory as NAME before it runs. The exit status must be 0, or the number
 * in X.status.
 *
 * run::with_workers runs every program again with --workers 3, its input
 * read a few bytes at a time (PSPF_READ_LIMIT: many small chunks, records
 * cut across reads): the output and dead letters must be the same bytes.
 * A program the workers cannot split must say so (status 1).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <glob.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

typedef struct RunCase {
  char name[120]; /* X, for tests/run/X.pspf */
} RunCase;

static struct criterion_test_params run_programs_params(void) {
  glob_t g;
  size_t n = 0;
  RunCase *v = NULL;
  if (glob("tests/run/*.pspf", 0, NULL, &g) == 0) {
    n = g.gl_pathc;
    v = cr_malloc(sizeof *v * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
      const char *base = strrchr(g.gl_pathv[i], '/') + 1;
      memset(&v[i], 0, sizeof v[i]);
      snprintf(v[i].name, sizeof v[i].name, "%.*s", (int)(strlen(base) - 5),
               base);
    }
    globfree(&g);
  }
  return cr_make_param_array(RunCase, v, n);
}

ParameterizedTestParameters(run, programs) { return run_programs_params(); }

/* Builds and runs tests/run/NAME with [how] before the program on its
 * command line (environment variables) and [flags] after it, and checks
 * what it wrote. With [workers], a refusal to split is accepted. */
static void run_case(const RunCase *c, const char *how, const char *flags,
                     bool workers) {
  char dir[] = "/tmp/pspfc-run-XXXXXX";
  char path[512];
  cr_assert(mkdtemp(dir));
  char cmd[4096], *out;
  const char *root = getenv("PSPF_ROOT") ? getenv("PSPF_ROOT") : ".";
  /* Build with the sanitized compiler; the program itself is compiled
   * with the sanitizers as well. */
  snprintf(cmd, sizeof cmd,
           "CFLAGS='-O1 -g -fsanitize=address,undefined "
           "-fno-sanitize-recover=undefined -fno-omit-frame-pointer' "
           "PSPF_RUNTIME_DIR='%s/build' '%s' build -fdiagnostics-color=never "
           "'%s/tests/run/%s.pspf' -o '%s/prog'",
           root, pspfc_path(), root, c->name, dir);
  int st = run_cmd(cmd, &out);
  cr_assert_eq(st, 0, "%s: build failed:\n%s", c->name, out);
  free(out);
  /* X.input.NAME: copied into the run directory as NAME first. */
  glob_t in;
  snprintf(path, sizeof path, "%s/tests/run/%s.input.*", root, c->name);
  if (glob(path, 0, NULL, &in) == 0) {
    for (size_t i = 0; i < in.gl_pathc; i++) {
      snprintf(cmd, sizeof cmd, "cp '%s' '%s/%s'", in.gl_pathv[i], dir,
               strstr(in.gl_pathv[i], ".input.") + 7);
      cr_assert_eq(system(cmd), 0, "%s", cmd);
    }
    globfree(&in);
  }
  /* The input: X.in, or what the shell script X.gen writes. */
  char input[512];
  snprintf(input, sizeof input, "%s/tests/run/%s.in", root, c->name);
  snprintf(path, sizeof path, "%s/tests/run/%s.gen", root, c->name);
  if (access(input, R_OK) != 0 && access(path, R_OK) == 0) {
    snprintf(input, sizeof input, "%s/in.txt", dir);
    snprintf(cmd, sizeof cmd, "sh '%s' > '%s'", path, input);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
  }
  snprintf(cmd, sizeof cmd,
           "cd '%s' && %s ./prog --dead-letter dead.jsonl %s < '%s' "
           "> out.txt 2> err.txt; echo $?",
           dir, how, flags, input);
  run_cmd(cmd, &out);
  int status = atoi(out);
  free(out);
  if (workers) {
    snprintf(path, sizeof path, "%s/err.txt", dir);
    char *e = slurp(path);
    bool refused = e && strstr(e, "runs on one worker only: ");
    if (refused)
      cr_expect_eq(status, 1, "%s: refused with status %d:\n%s", c->name,
                   status, e);
    free(e);
    if (refused) {
      snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
      run_cmd(cmd, &out);
      free(out);
      return;
    }
  }
  snprintf(path, sizeof path, "%s/tests/run/%s.status", root, c->name);
  char *want_status = slurp(path);
  snprintf(path, sizeof path, "%s/err.txt", dir);
  char *err = slurp(path);
  cr_expect_eq(status, want_status ? atoi(want_status) : 0,
               "%s: exit status %d\n%s", c->name, status, err ? err : "");
  cr_expect_null(err ? strstr(err, "Sanitizer") : NULL, "%s:\n%s", c->name,
                 err);
  snprintf(path, sizeof path, "%s/out.txt", dir);
  char *got = slurp(path);
  snprintf(path, sizeof path, "%s/tests/run/%s.out", root, c->name);
  char *want = slurp(path);
  cr_assert(want, "%s: missing %s", c->name, path);
  cr_expect_str_eq(got, want, "%s: output differs\n--- got:\n%s--- want:\n%s",
                   c->name, got, want);
  snprintf(path, sizeof path, "%s/tests/run/%s.dead", root, c->name);
  char *want_dead = slurp(path);
  snprintf(path, sizeof path, "%s/dead.jsonl", dir);
  char *dead = slurp(path);
  if (want_dead)
    cr_expect_str_eq(dead ? dead : "", want_dead,
                     "%s: dead letters differ\n--- got:\n%s--- want:\n%s",
                     c->name, dead ? dead : "", want_dead);
  else
    cr_expect_null(dead, "%s: unexpected dead letters:\n%s", c->name, dead);
  /* X.file.NAME: the file NAME the program must have written. */
  glob_t g;
  snprintf(path, sizeof path, "%s/tests/run/%s.file.*", root, c->name);
  if (glob(path, 0, NULL, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; i++) {
      const char *fname = strstr(g.gl_pathv[i], ".file.") + 6;
      char *want_file = slurp(g.gl_pathv[i]);
      char gotpath[512];
      snprintf(gotpath, sizeof gotpath, "%s/%s", dir, fname);
      char *got_file = slurp(gotpath);
      cr_expect_str_eq(got_file ? got_file : "(missing)", want_file,
                       "%s: file %s differs\n--- got:\n%s--- want:\n%s",
                       c->name, fname, got_file ? got_file : "(missing)\n",
                       want_file);
      free(want_file);
      free(got_file);
    }
    globfree(&g);
  }
  free(got);
  free(want);
  free(want_dead);
  free(dead);
  free(err);
  free(want_status);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  run_cmd(cmd, &out);
  free(out);
}

ParameterizedTest(RunCase *c, run, programs, .timeout = 120) {
  run_case(c, "", "", false);
}

ParameterizedTestParameters(run, with_workers) {
  return run_programs_params();
}

ParameterizedTest(RunCase *c, run, with_workers, .timeout = 120) {
  run_case(c, "PSPF_READ_LIMIT=61", "--workers 3", true);
}
