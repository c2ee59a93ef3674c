/*
 * test_cli.c -- the pspfc command line as a user meets it: help, version,
 * bad options, missing files, colours, JSON diagnostics, exit statuses,
 * and a staged `make install`.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static int pspfc(const char *args, char **out) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' %s", pspfc_path(), args);
  return run_cmd(cmd, out);
}

static const char bad_program[] =
    "printf 'source s: {a: int} = stdin()\\nsink o = console()\\n"
    "s |> filter(x => x.a) |> o\\ns |> map(x => x.b) |> o\\n'";

Test(cli, version) {
  char *out;
  cr_assert_eq(pspfc("--version", &out), 0);
  cr_assert(strncmp(out, "pspfc ", 6) == 0, "%s", out);
  free(out);
  /* The plain (unsanitized) build answers the same. */
  const char *plain = getenv("PSPFC_PLAIN");
  if (plain) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' --version", plain);
    cr_assert_eq(run_cmd(cmd, &out), 0);
    cr_assert(strncmp(out, "pspfc ", 6) == 0, "%s", out);
    free(out);
  }
}

Test(cli, help_goes_to_stdout) {
  char *out;
  cr_assert_eq(pspfc("--help 2>/dev/null", &out), 0);
  cr_assert(strstr(out, "usage: pspfc"), "%s", out);
  cr_assert(strstr(out, "check FILE"), "%s", out);
  free(out);
}

Test(cli, no_arguments_is_usage_error) {
  char *out;
  cr_assert_eq(pspfc("", &out), 1);
  cr_assert(strstr(out, "usage: pspfc"), "%s", out);
  free(out);
}

Test(cli, unknown_option_is_one_line) {
  char *out;
  cr_assert_eq(pspfc("check --frobnicate x.pspf", &out), 1);
  cr_assert_str_eq(out, "pspfc: error: unrecognized option '--frobnicate' "
                        "(see pspfc --help)\n");
  free(out);
  cr_assert_eq(pspfc("--frobnicate", &out), 1);
  cr_assert_str_eq(out, "pspfc: error: unrecognized option '--frobnicate' "
                        "(see pspfc --help)\n");
  free(out);
  cr_assert_eq(pspfc("compile x.pspf", &out), 1);
  cr_assert_str_eq(out, "pspfc: error: unknown command 'compile' (see pspfc "
                        "--help)\n");
  free(out);
}

Test(cli, missing_file_is_one_line) {
  char *out;
  cr_assert_eq(pspfc("check /nonexistent/prog.pspf", &out), 1);
  cr_assert_str_eq(out, "pspfc: error: cannot read '/nonexistent/prog.pspf': "
                        "No such file or directory\n");
  free(out);
  cr_assert_eq(pspfc("check", &out), 1);
  cr_assert_str_eq(out, "pspfc: error: no input file (usage: pspfc check "
                        "FILE)\n");
  free(out);
}

Test(cli, errors_exit_1_and_all_are_reported) {
  char cmd[1024], *out;
  snprintf(cmd, sizeof cmd, "%s | '%s' check -", bad_program, pspfc_path());
  cr_assert_eq(run_cmd(cmd, &out), 1);
  cr_assert(strstr(out, "<stdin>:3:18: error:"), "%s", out);
  cr_assert(strstr(out, "<stdin>:4:17: error:"), "%s", out);
  cr_assert_null(strstr(out, "\033["), "colour on a pipe:\n%s", out);
  free(out);
}

Test(cli, colour_only_when_asked_or_on_a_terminal) {
  char cmd[1024], *out;
  snprintf(cmd, sizeof cmd, "%s | '%s' check -fdiagnostics-color=always -",
           bad_program, pspfc_path());
  cr_assert_eq(run_cmd(cmd, &out), 1);
  cr_assert(strstr(out, "\033[1;31merror:"), "%s", out);
  free(out);
  /* A terminal, but NO_COLOR set: no colour. */
  snprintf(cmd, sizeof cmd,
           "%s > /tmp/pspfc-cli-$$.pspf && NO_COLOR=1 script -qec \"'%s' "
           "check /tmp/pspfc-cli-$$.pspf\" /dev/null; rm -f "
           "/tmp/pspfc-cli-$$.pspf",
           bad_program, pspfc_path());
  run_cmd(cmd, &out);
  cr_assert(strstr(out, "error:"), "%s", out);
  cr_assert_null(strstr(out, "\033[1;31m"), "%s", out);
  free(out);
  snprintf(cmd, sizeof cmd,
           "%s > /tmp/pspfc-cli-$$.pspf && TERM=xterm script -qec \"'%s' "
           "check /tmp/pspfc-cli-$$.pspf\" /dev/null; rm -f "
           "/tmp/pspfc-cli-$$.pspf",
           bad_program, pspfc_path());
  run_cmd(cmd, &out);
  cr_assert(strstr(out, "\033[1;31merror:"), "on a terminal:\n%s", out);
  free(out);
}

Test(cli, max_errors) {
  char cmd[1024], *out;
  snprintf(cmd, sizeof cmd, "%s | '%s' check -fmax-errors=1 -", bad_program,
           pspfc_path());
  cr_assert_eq(run_cmd(cmd, &out), 1);
  cr_assert(strstr(out, "<stdin>:3:18: error:"), "%s", out);
  cr_assert_null(strstr(out, "<stdin>:4:17: error:"), "%s", out);
  cr_assert(strstr(out, "stopping after 1 errors"), "%s", out);
  free(out);
  cr_assert_eq(pspfc("check -fmax-errors=x -", &out), 1);
  cr_assert(strstr(out, "invalid value in '-fmax-errors=x'"), "%s", out);
  free(out);
}

Test(cli, json_diagnostics_parse) {
  char cmd[1024], *out;
  snprintf(cmd, sizeof cmd,
           "%s | '%s' check -fdiagnostics-format=json - 2>&1 | python3 -c "
           "'import json,sys; d=json.load(sys.stdin); print(len(d), "
           "d[0][\"kind\"], d[0][\"locations\"][0][\"caret\"][\"line\"])'",
           bad_program, pspfc_path());
  cr_assert_eq(run_cmd(cmd, &out), 0, "%s", out);
  cr_assert_str_eq(out, "2 error 3\n");
  free(out);
}

Test(cli, print_types) {
  char cmd[1024], *out;
  snprintf(cmd, sizeof cmd,
           "printf 'source s: {a: int} = stdin()\\nsink o = console()\\n"
           "s |> map(x => x.a * 2) |> o\\n' | '%s' check --print-types -",
           pspfc_path());
  cr_assert_eq(run_cmd(cmd, &out), 0, "%s", out);
  cr_assert_str_eq(out, "<stdin>:3: pipeline\n"
                        "  s                      stream of {a: int}\n"
                        "  |> map                 stream of int\n"
                        "  |> o                   sink console of int\n");
  free(out);
}

Test(cli, staged_install, .timeout = 120) {
  char *out;
  int st = run_cmd("d=$(mktemp -d) && make -s install PREFIX=/usr "
                   "DESTDIR=$d >/dev/null && cd $d && "
                   "test -x usr/bin/pspfc && test -f usr/lib/libpspf.a && "
                   "test -f usr/include/pspf/pspf.h && "
                   "test -f usr/share/man/man1/pspfc.1 && "
                   "test -f usr/share/man/man1/pspf-program.1 && "
                   "test -f usr/share/bash-completion/completions/pspfc && "
                   "test -f usr/share/vim/vimfiles/syntax/pspf.vim && "
                   "test -f usr/share/vim/vimfiles/ftdetect/pspf.vim && "
                   "PKG_CONFIG_PATH=$d/usr/lib/"
                   "pkgconfig pkg-config --cflags --libs pspf && "
                   "usr/bin/pspfc --version && rm -rf $d",
                   &out);
  cr_assert_eq(st, 0, "%s", out);
  cr_assert(strstr(out, "-lpspf"), "%s", out);
  cr_assert(strstr(out, "pspfc "), "%s", out);
  free(out);
}

/* A built program's command line: params as flags and PSPF_ variables,
 * usage errors with status 1 that name the option. */
Test(cli, built_program_flags, .timeout = 120) {
  char cmd[2048], *out;
  const char *root = getenv("PSPF_ROOT") ? getenv("PSPF_ROOT") : ".";
  snprintf(cmd, sizeof cmd,
           "d=$(mktemp -d) && cd $d && printf 'param scale: int = 2\\n"
           "param tag: string = \"x\"\\nsource s: {a: int} = stdin(format: "
           "csv)\\nsink o = stdout(format: csv)\\ns |> map(r => { a: r.a * "
           "scale, t: tag }) |> o\\n' > p.pspf && "
           "PSPF_RUNTIME_DIR='%s/build' '%s' build p.pspf -o p && "
           "printf 'a\\n1\\n' | ./p && printf 'a\\n1\\n' | ./p --scale=5 "
           "--tag y && printf 'a\\n1\\n' | PSPF_SCALE=7 ./p; "
           "./p --nope; echo \"status $?\"; ./p --scale; echo \"status $?\"; "
           "./p --scale=x; echo \"status $?\"; ./p --help | grep -c scale; "
           "cd / && rm -rf $d",
           root, pspfc_path());
  cr_assert_eq(run_cmd(cmd, &out), 0, "%s", out);
  cr_assert_str_eq(out,
                   "a,t\n2,x\n"
                   "a,t\n5,y\n"
                   "a,t\n7,x\n"
                   "p: error: unknown option '--nope' (see --help)\n"
                   "status 1\n"
                   "p: error: option '--scale' needs a value\n"
                   "status 1\n"
                   "p: error: --scale: 'x' is not an int\n"
                   "status 1\n"
                   "1\n");
  free(out);
}

/* Late records are counted and the count is logged at --log-level=info
 * (tests/run/window_tumbling has two), not at the default level. */
Test(cli, built_program_counts_late_records, .timeout = 120) {
  char cmd[2048], *out;
  const char *root = getenv("PSPF_ROOT") ? getenv("PSPF_ROOT") : ".";
  snprintf(cmd, sizeof cmd,
           "d=$(mktemp -d) && cd $d && PSPF_RUNTIME_DIR='%s/build' '%s' "
           "build '%s/tests/run/window_tumbling.pspf' -o p && "
           "./p --log-level=info < '%s/tests/run/window_tumbling.in' "
           "2>&1 >/dev/null; ./p < '%s/tests/run/window_tumbling.in' 2>&1 "
           ">/dev/null; cd / && rm -rf $d",
           root, pspfc_path(), root, root, root);
  cr_assert_eq(run_cmd(cmd, &out), 0, "%s", out);
  /* Three lines, each after its time (RFC 3339, UTC, ms): the start-up
   * line, the totals, the count; the default level prints none. */
  char late[512] = "";
  int lines = 0;
  for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n"), lines++) {
    cr_expect(strlen(l) > 25 && l[4] == '-' && l[10] == 'T' && l[13] == ':' &&
                  l[19] == '.' && l[23] == 'Z' && l[24] == ' ',
              "a log line without its time: %s", l);
    if (strstr(l, " late records "))
      snprintf(late, sizeof late, "%s", l + 25);
  }
  cr_expect_eq(lines, 3);
  cr_expect_str_eq(late, "window_tumbling: info: 2 late records (after every "
                         "window they belonged to had fired): sent to the "
                         "late: sink where there is one, else dropped");
  free(out);
}

/* #line: every emitted C line mapped to the .pspf file is given a line
 * that exists there (a stage's C spans many lines; they all map to the
 * stage's line), and back-mapped lines give their true C line. */
Test(cli, line_directives_stay_in_the_source) {
  char cmd[2048], *out;
  const char *root = getenv("PSPF_ROOT") ? getenv("PSPF_ROOT") : ".";
  snprintf(cmd, sizeof cmd,
           "cd '%s' && f=tests/run/window_session.pspf && n=$(wc -l < $f) && "
           "'%s' emit-c $f -o /tmp/pspfc-line-$$.c && awk -v n=$n -v "
           "c=/tmp/pspfc-line-$$.c '/^#line /{ln=$2; fl=$3; next} "
           "{ if (fl ~ /pspf\"$/ && (ln < 1 || ln > n)) bad++; "
           "if (fl ~ /\\.c\"$/ && ln != NR) badc++; ln++ } "
           "END { print bad + 0, badc + 0 }' /tmp/pspfc-line-$$.c; "
           "rm -f /tmp/pspfc-line-$$.c",
           root, pspfc_path());
  cr_assert_eq(run_cmd(cmd, &out), 0, "%s", out);
  cr_assert_str_eq(out, "0 0\n");
  free(out);
}

/* A built program carries its source and fingerprint: --print-source is
 * the .pspf file byte for byte (every example), --version names what
 * built it and the fingerprint its checkpoints carry. */
Test(cli, built_program_provenance) {
  const char *root = getenv("PSPF_ROOT") ? getenv("PSPF_ROOT") : ".";
  char dir[] = "/tmp/pspfc-prov-XXXXXX";
  cr_assert(mkdtemp(dir));
  static const char *const examples[] = {"bids", "bids_windows", "logs",
                                         "wordcount"};
  char *out;
  for (size_t i = 0; i < sizeof examples / sizeof *examples; i++) {
    int st = run_in(dir, &out,
                    "cp '%s/examples/%s.pspf' . && PSPF_RUNTIME_DIR='%s/build' "
                    "'%s' build %s.pspf -o %s 2>&1 && ./%s --print-source > "
                    "%s.back && cmp %s.pspf %s.back",
                    root, examples[i], root, pspfc_path(), examples[i],
                    examples[i], examples[i], examples[i], examples[i],
                    examples[i]);
    cr_expect_eq(st, 0, "%s: --print-source differs: %s", examples[i], out);
    free(out);
  }
  /* --version, and the fingerprint of a checkpoint taken by a run. */
  int st = run_in(dir, &out,
                  "./wordcount --version && ./wordcount --checkpoint-dir=ck "
                  "--input=/dev/null > /dev/null && '%s' inspect-checkpoint ck "
                  "| grep -o 'fingerprint [0-9a-f]*' | head -n 1",
                  pspfc_path());
  cr_assert_eq(st, 0, "%s", out);
  char fp[64] = "";
  const char *f = strstr(out, "\nfingerprint ");
  cr_assert(f, "%s", out);
  snprintf(fp, sizeof fp, "%.28s", f + 1);
  cr_expect(strncmp(out, "wordcount (built by pspfc ", 26) == 0, "%s", out);
  cr_expect(strstr(out, " from wordcount.pspf)\n"), "%s", out);
  cr_expect(strstr(strstr(out, fp) + 1, fp), "the checkpoint's fingerprint "
            "is not --version's:\n%s", out);
  free(out);
  run_in(dir, &out, "cd / && rm -rf '%s'", dir);
  free(out);
}

/* --log-format=json: one JSON object a line, with its time, level,
 * program and message; a format that does not exist is a usage error. */
Test(cli, built_program_json_logs) {
  const char *root = getenv("PSPF_ROOT") ? getenv("PSPF_ROOT") : ".";
  char dir[] = "/tmp/pspfc-jlog-XXXXXX";
  cr_assert(mkdtemp(dir));
  char *out;
  int st = run_in(dir, &out,
                  "PSPF_RUNTIME_DIR='%s/build' '%s' build "
                  "'%s/tests/run/window_tumbling.pspf' -o p 2>&1 && ./p "
                  "--log-level=debug --log-format=json --checkpoint-dir=ck < "
                  "'%s/tests/run/window_tumbling.in' 2> log.jsonl > /dev/null "
                  "&& python3 -c 'import json, sys\n"
                  "for line in open(\"log.jsonl\"):\n"
                  "    e = json.loads(line)\n"
                  "    assert sorted(e) == [\"level\", \"message\", \"program\", "
                  "\"time\"], e\n"
                  "    assert e[\"program\"] == \"window_tumbling\" and "
                  "e[\"time\"].endswith"
                  "(\"Z\"), e\n"
                  "    print(e[\"level\"], e[\"message\"].split(\" \")[0])\n' "
                  "| sort | uniq -c | sort -k2",
                  root, pspfc_path(), root, root);
  cr_assert_eq(st, 0, "%s", out);
  cr_expect(strstr(out, " debug checkpoint\n"), "%s", out);
  cr_expect(strstr(out, "1 info starting\n"), "%s", out);
  cr_expect(strstr(out, "1 info finished\n"), "%s", out);
  cr_expect(strstr(out, "1 info 2\n"), "%s", out); /* 2 late records */
  free(out);
  st = run_in(dir, &out, "./p --log-format=yaml < /dev/null 2>&1");
  cr_expect_eq(st, 1);
  cr_expect_str_eq(out, "window_tumbling: error: --log-format is text or "
                        "json, not 'yaml'\n");
  free(out);
  run_in(dir, &out, "cd / && rm -rf '%s'", dir);
  free(out);
}
