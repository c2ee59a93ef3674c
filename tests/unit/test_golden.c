/*
 * test_golden.c -- file-driven tests, run through the real pspfc binary:
 *
 *   tests/golden/diag/X.pspf  must fail: exit 1, stderr equal to X.err
 *   tests/golden/ok/X.pspf    must pass with -Werror and print nothing
 *   examples/X.pspf           likewise
 *   ../shared/spec/language.md  every ```pspf block must pass
 *   tests/golden/c/X.pspf     emit-c --no-line must print X.c
 *
 * Each run is from the file's own folder, so paths in messages are just
 * the file name. `make golden-update` rewrites the .err files.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

typedef struct GoldenCase {
  char dir[200];  /* folder, relative to the repository root */
  char name[120]; /* file name inside it */
} GoldenCase;

static struct criterion_test_params cases_in(const char *pattern) {
  glob_t g;
  size_t n = 0;
  GoldenCase *v = NULL;
  if (glob(pattern, 0, NULL, &g) == 0) {
    n = g.gl_pathc;
    v = cr_malloc(sizeof *v * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
      const char *p = g.gl_pathv[i];
      const char *slash = strrchr(p, '/');
      memset(&v[i], 0, sizeof v[i]);
      snprintf(v[i].dir, sizeof v[i].dir, "%.*s", (int)(slash - p), p);
      snprintf(v[i].name, sizeof v[i].name, "%s", slash + 1);
    }
    globfree(&g);
  }
  return cr_make_param_array(GoldenCase, v, n);
}

static char *run_check(const GoldenCase *c, const char *flags, int *status) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "cd '%s' && '%s' check -fdiagnostics-color=never %s '%s'", c->dir,
           pspfc_path(), flags, c->name);
  char *out;
  *status = run_cmd(cmd, &out);
  return out;
}

ParameterizedTestParameters(golden, diagnostics) {
  return cases_in("tests/golden/diag/*.pspf");
}

ParameterizedTest(GoldenCase *c, golden, diagnostics) {
  int status;
  char *out = run_check(c, "", &status);
  char errpath[400];
  snprintf(errpath, sizeof errpath, "%s/%.*s.err", c->dir,
           (int)(strlen(c->name) - 5), c->name);
  char *want = slurp(errpath);
  cr_assert(want, "%s: missing expected file %s", c->name, errpath);
  cr_expect_eq(status, 1, "%s: exit status %d, want 1", c->name, status);
  cr_expect_str_eq(out, want, "%s: diagnostics differ\n--- got:\n%s--- want:\n%s",
                   c->name, out, want);
  free(out);
  free(want);
}

ParameterizedTestParameters(golden, ok_programs) {
  return cases_in("tests/golden/ok/*.pspf");
}

ParameterizedTest(GoldenCase *c, golden, ok_programs) {
  int status;
  char *out = run_check(c, "-Werror", &status);
  cr_expect_eq(status, 0, "%s: exit status %d\n%s", c->name, status, out);
  cr_expect_str_empty(out, "%s: printed\n%s", c->name, out);
  free(out);
}

ParameterizedTestParameters(golden, examples) {
  return cases_in("examples/*.pspf");
}

ParameterizedTest(GoldenCase *c, golden, examples) {
  int status;
  char *out = run_check(c, "-Werror", &status);
  cr_expect_eq(status, 0, "%s: exit status %d\n%s", c->name, status, out);
  cr_expect_str_empty(out, "%s: printed\n%s", c->name, out);
  free(out);
}

/* Checks every ```pspf block of [path]; returns how many there were. */
static int check_blocks(const char *path, const char *flags) {
  char *doc = slurp(path);
  if (!doc)
    return -1;
  int blocks = 0;
  for (char *p = strstr(doc, "```pspf\n"); p; p = strstr(p, "```pspf\n")) {
    p += 8;
    char *end = strstr(p, "```");
    cr_assert(end, "%s: unterminated pspf block", path);
    char tmp[] = "/tmp/pspfc-block-XXXXXX.pspf";
    int fd = mkstemps(tmp, 5);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fwrite(p, 1, (size_t)(end - p), f);
    fclose(f);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' check -fdiagnostics-color=never %s '%s'",
             pspfc_path(), flags, tmp);
    char *out;
    int status = run_cmd(cmd, &out);
    unlink(tmp);
    blocks++;
    cr_expect_eq(status, 0, "%s: block %d fails:\n%.*s\n%s", path, blocks,
                 (int)(end - p), p, out);
    cr_expect_str_empty(out, "%s: block %d warns:\n%s", path, blocks, out);
    free(out);
    p = end + 3;
  }
  free(doc);
  return blocks;
}

/* The contract's own programs, read from the spec itself when it is
 * beside the checkout (it is in CI); tests/golden/ok keeps copies. */
Test(golden, spec_programs) {
  int n = check_blocks("../shared/spec/language.md", "");
  if (n < 0)
    cr_skip_test("../shared/spec/language.md not found");
  cr_expect_gt(n, 0, "no ```pspf block found in the spec");
}

/* Every example in the reference is a whole program that checks cleanly. */
Test(golden, docs_programs) {
  int n = check_blocks("docs/language.md", "-Werror");
  cr_assert_gt(n, 20, "docs/language.md: %d pspf blocks", n);
}

/* Inputs the fuzzer once crashed or stalled the front end on (saved in
 * tests/fuzz/crashes): each must now finish quickly with status 0 or 1. */
ParameterizedTestParameters(golden, fuzz_regressions) {
  return cases_in("tests/fuzz/crashes/*.pspf");
}

ParameterizedTest(GoldenCase *c, golden, fuzz_regressions, .timeout = 60) {
  char cmd[1024], *out;
  snprintf(cmd, sizeof cmd,
           "cd '%s' && timeout 20 '%s' check -fdiagnostics-color=never '%s' "
           "> /dev/null 2>/tmp/pspfc-fuzz-$$.err; s=$?; grep -c Sanitizer "
           "/tmp/pspfc-fuzz-$$.err; rm -f /tmp/pspfc-fuzz-$$.err; exit $s",
           c->dir, pspfc_path(), c->name);
  int st = run_cmd(cmd, &out);
  cr_expect(st == 0 || st == 1, "%s: exit status %d", c->name, st);
  cr_expect_str_eq(out, "0\n", "%s: sanitizer reports", c->name);
  free(out);
}

/* tests/golden/c/X.pspf: `pspfc emit-c --no-line` must print exactly X.c
 * (reviewed emitted C), which clang-format leaves unchanged in the style
 * of compiler/emitted-c.clang-format and cc accepts with -Werror. */
ParameterizedTestParameters(golden, emitted_c) {
  return cases_in("tests/golden/c/*.pspf");
}

ParameterizedTest(GoldenCase *c, golden, emitted_c, .timeout = 60) {
  char cmd[2048], *out, want_path[512];
  const char *root = getenv("PSPF_ROOT") ? getenv("PSPF_ROOT") : ".";
  int len = (int)strlen(c->name) - 5;
  snprintf(cmd, sizeof cmd, "cd '%s' && '%s' emit-c --no-line '%s'", c->dir,
           pspfc_path(), c->name);
  int st = run_cmd(cmd, &out);
  cr_assert_eq(st, 0, "%s: emit-c failed:\n%s", c->name, out);
  snprintf(want_path, sizeof want_path, "%s/%.*s.c", c->dir, len, c->name);
  char *want = slurp(want_path);
  cr_assert(want, "missing %s (make golden-update writes it)", want_path);
  cr_expect_str_eq(out, want, "%s: emitted C differs from %s", c->name,
                   want_path);
  free(out);
  free(want);
  snprintf(cmd, sizeof cmd,
           "clang-format --style=file:'%s/compiler/emitted-c.clang-format' "
           "'%s' | diff -u '%s' - 2>&1", root, want_path, want_path);
  st = run_cmd(cmd, &out);
  cr_expect_eq(st, 0, "%s is not clang-format-clean:\n%s", want_path, out);
  free(out);
  snprintf(cmd, sizeof cmd,
           "${CC:-cc} -std=c11 -Wall -Wextra -Werror -Wno-unused-label "
           "-I'%s/build/include' -fsyntax-only '%s' 2>&1", root, want_path);
  st = run_cmd(cmd, &out);
  cr_expect_eq(st, 0, "%s does not compile cleanly:\n%s", want_path, out);
  free(out);
}
