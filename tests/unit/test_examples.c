/*
 * test_examples.c -- every program in examples/ built with pspfc and run
 * end to end, its outputs checked against expected files that an
 * independent model of the language computed (tests/examples/reference.py,
 * straight from the spec; not snapshots of our own output).
 *
 * Each case is a directory tests/examples/expected/CASE/ (CASE is an
 * example's name, for its bundled data, or NAME.VARIANT for extra inputs
 * from tests/examples/data/). Its `command` file holds the program, then
 * one flag a line (@ROOT@ is the repository). The program is built by the
 * sanitized pspfc into a sanitized executable named after the example,
 * run in a fresh directory, and must exit 0 without a sanitizer report;
 * then tests/examples/compare.py checks every file it wrote, its standard
 * output and its dead-letter file (see tests/examples/README.md for how
 * the order of lines that fire together is normalised).
 *
 * examples::with_workers runs every case again with --workers 2, the input
 * read 97 bytes at a time (many small chunks): the same expected files.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

typedef struct ExampleCase {
  char name[120]; /* CASE, for tests/examples/expected/CASE/ */
} ExampleCase;

static const char *root_dir(void) {
  const char *r = getenv("PSPF_ROOT");
  return r && *r ? r : ".";
}

static struct criterion_test_params example_params(void) {
  char pat[1024];
  snprintf(pat, sizeof pat, "%s/tests/examples/expected/*/command",
           root_dir());
  glob_t g;
  size_t n = 0;
  ExampleCase *v = NULL;
  if (glob(pat, 0, NULL, &g) == 0) {
    n = g.gl_pathc;
    v = cr_malloc(sizeof *v * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
      const char *end = strrchr(g.gl_pathv[i], '/');
      const char *start = end;
      while (start > g.gl_pathv[i] && start[-1] != '/')
        start--;
      memset(&v[i], 0, sizeof v[i]);
      snprintf(v[i].name, sizeof v[i].name, "%.*s", (int)(end - start),
               start);
    }
    globfree(&g);
  }
  return cr_make_param_array(ExampleCase, v, n);
}

ParameterizedTestParameters(examples, programs) { return example_params(); }

/* Appends [s] to [buf] (of size [cap]) with @ROOT@ replaced by [root],
 * single-quoted for sh. Returns false if it does not fit or cannot be
 * quoted. */
static bool add_quoted(char *buf, size_t cap, const char *s,
                       const char *root) {
  size_t k = strlen(buf);
  if (strchr(s, '\'') || strchr(root, '\''))
    return false;
  if (k + 2 >= cap)
    return false;
  buf[k++] = ' ';
  buf[k++] = '\'';
  for (const char *p = s; *p; p++) {
    if (strncmp(p, "@ROOT@", 6) == 0) {
      size_t rn = strlen(root);
      if (k + rn + 2 >= cap)
        return false;
      memcpy(buf + k, root, rn);
      k += rn;
      p += 5;
    } else {
      if (k + 2 >= cap)
        return false;
      buf[k++] = *p;
    }
  }
  buf[k++] = '\'';
  buf[k] = 0;
  return true;
}

/* Builds and runs case [c] with [env] before the program and [flags] after
 * its own, and compares what it wrote with the expected files. */
static void run_example(const ExampleCase *c, const char *env,
                        const char *flags) {
  const char *root = root_dir();
  char path[1024], cmd[8192], *out;

  /* The case: the program, then its flags. */
  snprintf(path, sizeof path, "%s/tests/examples/expected/%s/command", root,
           c->name);
  char *command = slurp(path);
  cr_assert(command, "%s: cannot read %s", c->name, path);
  char *save = NULL;
  char *program = strtok_r(command, "\n", &save);
  cr_assert(program, "%s: empty %s", c->name, path);
  char exe[120];
  const char *base = strrchr(program, '/') ? strrchr(program, '/') + 1
                                           : program;
  snprintf(exe, sizeof exe, "%.*s", (int)(strcspn(base, ".")), base);

  char dir[] = "/tmp/pspfc-examples-XXXXXX";
  cr_assert(mkdtemp(dir));

  /* Build with the sanitized compiler; the program is compiled with the
   * sanitizers as well (as in test_run.c). */
  snprintf(cmd, sizeof cmd,
           "CFLAGS='-O1 -g -fsanitize=address,undefined "
           "-fno-sanitize-recover=undefined -fno-omit-frame-pointer' "
           "PSPF_RUNTIME_DIR='%s/build' '%s' build -fdiagnostics-color=never "
           "'%s/%s' -o '%s/%s'",
           root, pspfc_path(), root, program, dir, exe);
  int st = run_cmd(cmd, &out);
  cr_assert_eq(st, 0, "%s: build of %s failed:\n%s", c->name, program, out);
  free(out);

  /* Run it in a fresh directory: file sinks and the dead-letter file land
   * there; stdout and stderr are kept next to it. */
  snprintf(cmd, sizeof cmd, "mkdir '%s/run' && cd '%s/run' && %s '../%s' %s",
           dir, dir, env, exe, flags);
  for (char *flag = strtok_r(NULL, "\n", &save); flag;
       flag = strtok_r(NULL, "\n", &save))
    cr_assert(add_quoted(cmd, sizeof cmd - 64, flag, root),
              "%s: cannot pass flag %s", c->name, flag);
  strcat(cmd, " > ../stdout.txt 2> ../stderr.txt; echo $?");
  run_cmd(cmd, &out);
  int status = atoi(out);
  free(out);
  snprintf(path, sizeof path, "%s/stderr.txt", dir);
  char *err = slurp(path);
  bool sanitizer =
      err && (strstr(err, "Sanitizer") || strstr(err, "runtime error"));
  cr_expect(!sanitizer, "%s: sanitizer report:\n%s", c->name, err);
  cr_expect_eq(status, 0, "%s: exit status %d\n%s", c->name, status,
               err && !sanitizer ? err : "");

  /* Every output against the reference's expected files. */
  snprintf(cmd, sizeof cmd,
           "python3 '%s/tests/examples/compare.py' '%s' '%s/run' "
           "'%s/stdout.txt'",
           root, c->name, dir, dir);
  st = run_cmd(cmd, &out);
  cr_expect_eq(st, 0, "%s: outputs differ from tests/examples/expected/%s "
               "(python3 tests/examples/compare.py, status %d):\n%s",
               c->name, c->name, st, out);
  free(out);
  free(err);
  free(command);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  run_cmd(cmd, &out);
  free(out);
}

ParameterizedTest(ExampleCase *c, examples, programs, .timeout = 240) {
  run_example(c, "", "");
}

ParameterizedTestParameters(examples, with_workers) {
  return example_params();
}

ParameterizedTest(ExampleCase *c, examples, with_workers, .timeout = 240) {
  run_example(c, "PSPF_READ_LIMIT=97", "--workers=2");
}

/* Every example has expected outputs for its bundled data. */
Test(examples, every_example_has_a_case) {
  char pat[1024];
  snprintf(pat, sizeof pat, "%s/examples/*.pspf", root_dir());
  glob_t g;
  cr_assert_eq(glob(pat, 0, NULL, &g), 0, "no examples under %s", pat);
  for (size_t i = 0; i < g.gl_pathc; i++) {
    const char *base = strrchr(g.gl_pathv[i], '/') + 1;
    char path[1024];
    struct stat sb;
    snprintf(path, sizeof path, "%s/tests/examples/expected/%.*s/command",
             root_dir(), (int)(strlen(base) - 5), base);
    cr_expect_eq(stat(path, &sb), 0,
                 "examples/%s has no expected outputs: model it in "
                 "tests/examples/reference.py and run it with --write",
                 base);
  }
  globfree(&g);
}

/* The expected files are exactly what the reference computes (nobody
 * edited them by hand, and the reference and data agree with them). */
Test(examples, expected_files_are_current, .timeout = 120) {
  char cmd[1024], *out;
  snprintf(cmd, sizeof cmd,
           "python3 '%s/tests/examples/reference.py' --check", root_dir());
  int st = run_cmd(cmd, &out);
  cr_expect_eq(st, 0, "tests/examples/expected/ is stale:\n%s", out);
  free(out);
}
