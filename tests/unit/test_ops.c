/*
 * test_ops.c -- what operators of built programs use: /metrics scraped
 * with curl and checked with promtool (the Prometheus project's own
 * checker), /healthz.
 *
 * No Criterion .timeout (see test_follow.c): every wait has a deadline.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

/* Scrapes the program in [dir] on [port] into dir/m.txt until it shows
 * [n] records read from source 'rs' (at most 30 s); true if it did. */
static bool scraped_records(const char *dir, int port, int n) {
  long until = now_ms() + 30000;
  for (;;) {
    char *out;
    int st = run_in(dir, &out, "curl -sf -m 10 http://127.0.0.1:%d/metrics > "
                    "m.txt && grep -c '^pspf_source_records_total{source=\"rs\"}"
                    " %d$' m.txt", port, n);
    free(out);
    if (st == 0)
      return true;
    if (now_ms() > until)
      return false;
    pause_ms(50);
  }
}

Test(ops, metrics_scraped_and_checked_by_promtool) {
  char dir[] = "/tmp/pspfc-ops-XXXXXX";
  cr_assert(mkdtemp(dir));
  char *out;
  build_prog_in(dir, "type R = { id: int, ts: timestamp }\n"
        "source rs: R = file(\"in.csv\", format: csv, follow: true)\n"
        "sink out = file(\"out.csv\", format: csv)\n"
        "sink wins = file(\"wins.csv\", format: csv)\n"
        "let kept = rs |> filter(r => r.id % 10 != 0)\n"
        "kept |> out\n"
        "kept |> event_time(r => r.ts)\n"
        "     |> window(tumbling(10s))\n"
        "     |> aggregate(n: count())\n"
        "     |> wins\n", SAN_CFLAGS);
  int st = run_in(dir, &out, "(echo id,ts; seq 1 1000 | awk '{ printf \"%%d,%%.0f\\n\", $1, "
                  "1700000000000 + $1 * 1000 }'; echo x,bad) > in.csv");
  cr_assert_eq(st, 0, "%s", out);
  free(out);
  int port = free_port();
  char a[64];
  snprintf(a, sizeof a, "--metrics-addr=127.0.0.1:%d", port);
  pid_t pid = spawn_in(dir, "err.txt",
                       (const char *const[]){"./prog", a, "--checkpoint-dir=ck",
                                             "--checkpoint-interval=50ms",
                                             NULL});
  /* Until it has read the 1001 records. */
  cr_expect(scraped_records(dir, port, 1001),
            "the metrics never showed 1001 records read");
  pause_ms(200); /* (a checkpoint since) */
  st = run_in(dir, &out, "curl -sf -m 10 http://127.0.0.1:%d/metrics > m.txt && "
              "promtool check metrics < m.txt 2>&1 && grep -E '^(pspf_sink_"
              "records_total|pspf_bad_records_total|pspf_checkpoints_total|"
              "process_resident_memory_bytes|pspf_operator|pspf_watermark_"
              "timestamp|pspf_state_keys|pspf_open_windows)' m.txt", port);
  cr_expect_eq(st, 0, "promtool: %s", out);
  cr_expect(strstr(out, "pspf_sink_records_total{sink=\"out\"} 900\n"), "%s",
            out);
  cr_expect(strstr(out, "pspf_bad_records_total 1\n"), "%s", out);
  cr_expect(!strstr(out, "pspf_checkpoints_total 0\n"), "%s", out);
  cr_expect(strstr(out, "process_resident_memory_bytes "), "%s", out);
  /* (the filter feeds two pipelines: each record it passes goes out
   * twice) */
  cr_expect(strstr(out, "pspf_operator_records_in_total{operator=\"filter\","
                        "where=\"prog.pspf:5\"} 1000\n"), "%s", out);
  cr_expect(strstr(out, "pspf_operator_records_out_total{operator=\"filter\","
                        "where=\"prog.pspf:5\"} 1800\n"), "%s", out);
  cr_expect(strstr(out, "pspf_operator_records_in_total{operator=\"event_"
                        "time\",where=\"prog.pspf:7\"} 900\n"), "%s", out);
  cr_expect(strstr(out, "pspf_operator_records_in_total{operator=\"window\","
                        "where=\"prog.pspf:8\"} 900\n"), "%s", out);
  cr_expect(strstr(out, "pspf_watermark_timestamp_seconds{where=\"prog.pspf:"
                        "7\"} 1700000999\n"), "%s", out);
  /* the window [1700000990, 1700001000) s is open, with its one key */
  cr_expect(strstr(out, "pspf_state_keys{where=\"prog.pspf:8\"} 1\n"), "%s",
            out);
  cr_expect(strstr(out, "pspf_open_windows{where=\"prog.pspf:8\"} 1\n"),
            "%s", out);
  free(out);
  /* /healthz; anything else. */
  st = run_in(dir, &out, "curl -s -m 10 -w ' %%{http_code}\\n' "
              "http://127.0.0.1:%d/healthz; curl -s -m 10 -o /dev/null -w "
              "'%%{http_code}\\n' http://127.0.0.1:%d/nothing; curl -s -m 10 -o "
              "/dev/null -w '%%{http_code}\\n' -X POST "
              "http://127.0.0.1:%d/metrics", port, port, port);
  cr_expect_str_eq(out, "ok\n 200\n404\n405\n");
  free(out);
  kill(pid, SIGTERM);
  waitpid(pid, &st, 0);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
  /* A bad address is a usage error. */
  st = run_in(dir, &out, "./prog --metrics-addr=nowhere < /dev/null 2>&1");
  cr_expect_eq(st, 1, "%s", out);
  cr_expect(strstr(out, "prog: error: --metrics-addr is HOST:PORT, such as "
                        "127.0.0.1:9464, not 'nowhere'"), "%s", out);
  cr_expect_null(strstr(out, "Sanitizer"), "%s", out);
  free(out);
  char errp[128];
  snprintf(errp, sizeof errp, "%s/err.txt", dir);
  char *err = slurp(errp);
  cr_expect(err && !strstr(err, "Sanitizer"), "%s", err);
  free(err);
  run_in(dir, &out, "cd / && rm -rf '%s'", dir);
  free(out);
}

/* With --workers 2, /metrics counts every record once (the part of a
 * keyed pipeline before its key_by runs on both workers) and shows the
 * watermark the workers have. */
Test(ops, metrics_with_workers) {
  char dir[] = "/tmp/pspfc-ops-XXXXXX";
  cr_assert(mkdtemp(dir));
  char *out;
  build_prog_in(dir, "type R = { id: int, ts: timestamp }\n"
        "source rs: R = stdin(format: csv)\n"
        "sink wins = file(\"wins.csv\", format: csv)\n"
        "rs |> event_time(r => r.ts)\n"
        "   |> key_by(r => r.id % 7)\n"
        "   |> window(tumbling(10s))\n"
        "   |> aggregate(n: count())\n"
        "   |> wins\n", SAN_CFLAGS);
  int port = free_port();
  /* The input stays open (a FIFO whose writer waits): the program runs on. */
  int st = run_in(dir, &out, "(echo id,ts; seq 1 1000 | awk '{ printf "
                  "\"%%d,%%.0f\\n\", $1, 1700000000000 + $1 * 1000 }') > in.csv "
                  "&& mkfifo fifo && { (cat in.csv; sleep 60) > fifo 2> /dev/null & "
                  "echo $! > writer; } && { ./prog --workers=2 "
                  "--metrics-addr=127.0.0.1:%d < fifo > /dev/null 2> err.txt & "
                  "echo $! > pid; }", port);
  cr_assert_eq(st, 0, "%s", out);
  free(out);
  cr_expect(scraped_records(dir, port, 1000),
            "the metrics never showed 1000 records read");
  st = run_in(dir, &out, "promtool check metrics < m.txt 2>&1 && grep -E "
              "'^pspf_(operator|watermark|sink_records)' m.txt");
  cr_expect_eq(st, 0, "promtool: %s", out);
  cr_expect(strstr(out, "pspf_operator_records_in_total{operator=\"event_"
                        "time\",where=\"prog.pspf:4\"} 1000\n"), "%s", out);
  cr_expect(strstr(out, "pspf_operator_records_in_total{operator=\"key_by\","
                        "where=\"prog.pspf:5\"} 1000\n"), "%s", out);
  cr_expect(strstr(out, "pspf_operator_records_out_total{operator=\"key_by\","
                        "where=\"prog.pspf:5\"} 1000\n"), "%s", out);
  cr_expect(strstr(out, "pspf_operator_records_in_total{operator=\"window\","
                        "where=\"prog.pspf:6\"} 1000\n"), "%s", out);
  cr_expect(strstr(out, "pspf_watermark_timestamp_seconds{where=\"prog.pspf:"
                        "4\"} 1700001000\n"), "%s", out);
  /* 100 windows of 10 s have fired (up to the watermark), 7 keys each */
  cr_expect(strstr(out, "pspf_sink_records_total{sink=\"wins\"} 700\n"), "%s",
            out);
  free(out);
  run_in(dir, &out, "kill $(cat pid); pkill -P $(cat writer); kill $(cat "
         "writer); sleep 0.5; cat err.txt");
  cr_expect_null(strstr(out, "Sanitizer"), "%s", out);
  free(out);
  run_in(dir, &out, "cd / && rm -rf '%s'", dir);
  free(out);
}

/* pspfc graph: every example and every end-to-end test program renders
 * with Graphviz's dot, a node for each source, operator and sink; the
 * Mermaid form of tests/run/merge.pspf has exactly its streams. */
Test(ops, graph_renders_with_dot) {
  const char *root = getenv("PSPF_ROOT") ? getenv("PSPF_ROOT") : ".";
  char *out;
  int st = run_in(root, &out,
                  "n=0; for f in examples/*.pspf tests/run/*.pspf; do "
                  "'%s' graph \"$f\" > /tmp/pspfc-graph.$$.dot || { echo "
                  "\"graph failed: $f\"; exit 1; }; dot -Tsvg "
                  "/tmp/pspfc-graph.$$.dot > /tmp/pspfc-graph.$$.svg 2>&1 || { "
                  "echo \"dot failed: $f\"; cat /tmp/pspfc-graph.$$.svg; exit "
                  "1; }; n=$((n + 1)); done; grep -c '<g id=\"node' "
                  "/tmp/pspfc-graph.$$.svg; rm -f /tmp/pspfc-graph.$$.*; echo "
                  "$n programs",
                  pspfc_path());
  cr_expect_eq(st, 0, "%s", out);
  cr_expect(strstr(out, " programs\n"), "%s", out);
  free(out);
  st = run_in(root, &out, "'%s' graph --format=mermaid tests/run/merge.pspf "
              "| grep -e '-->' -e '-\\.'", pspfc_path());
  cr_expect_eq(st, 0, "%s", out);
  cr_expect_str_eq(out, "  source_a --> op_0_0\n"
                        "  source_b --> op_0_0\n"
                        "  op_0_0 --> op_0_1\n"
                        "  op_0_1 --> op_0_2\n"
                        "  op_0_2 --> op_0_3\n"
                        "  op_0_3 --> sink_out\n"
                        "  source_a --> op_1_1\n"
                        "  op_1_1 --> op_1_2\n"
                        "  op_1_2 --> op_1_3\n"
                        "  source_b --> op_1_3_in0a\n"
                        "  op_1_3_in0a --> op_1_3_in0\n"
                        "  op_1_3_in0 --> op_1_3\n"
                        "  op_1_3 --> op_1_4\n"
                        "  op_1_4 --> op_1_5\n"
                        "  op_1_5 --> sink_each\n");
  free(out);
  /* A window's late: sink is a dashed edge; state and fusion are said. */
  st = run_in(root, &out, "'%s' graph examples/bids.pspf", pspfc_path());
  cr_expect_eq(st, 0, "%s", out);
  cr_expect(strstr(out, " -> sink_late [style=dashed, label=\"late\"];\n"),
            "%s", out);
  cr_expect(strstr(out, "\\nfused into flow_bids\"];\n"), "%s", out);
  cr_expect(strstr(out, "\\nkeeps state: keyed stream of Bid by int\"];\n"),
            "%s", out);
  free(out);
  st = run_in(root, &out, "'%s' graph --format=svg examples/bids.pspf 2>&1",
              pspfc_path());
  cr_expect_eq(st, 1);
  cr_expect_str_eq(out, "pspfc: error: invalid value in '--format=svg': use "
                        "dot or mermaid\n");
  free(out);
}

/* The editor support of editors/: vim's syntax file (loaded by a real
 * vim, which names the syntax items at known places), the VS Code
 * TextMate grammar (valid JSON; every pattern compiles; the keyword
 * patterns match), bash completion (run by a real bash). */
Test(ops, editor_support) {
  const char *root = getenv("PSPF_ROOT") ? getenv("PSPF_ROOT") : ".";
  char *out;
  int st = run_in(root, &out,
                  "f=/tmp/pspfc-vim-$$.pspf; printf '// a comment\\nsource s: "
                  "R = file(\"in.csv\", format: csv)\\ns |> window(tumbling(10s))"
                  " |> o\\n' > $f; vim -u NONE -i NONE -N -es "
                  "-c 'set rtp^=editors/vim' -c 'filetype on' -c 'syntax on' "
                  "-c \"e $f\" -c 'redir! > /dev/stdout' "
                  "-c 'echo &filetype' -c 'for [l, c] in [[1, 4], [2, 1], [2, "
                  "21], [3, 3], [3, 6], [3, 23]] | echo synIDattr(synID(l, c, "
                  "1), \"name\") | endfor' "
                  "-c 'redir END' -c 'qa!' </dev/null; rm -f $f");
  cr_expect_eq(st, 0, "%s", out);
  cr_expect_str_eq(out, "\npspf\npspfComment\npspfDecl\npspfString\npspfPipe"
                        "\npspfStage\npspfDuration", "%s", out);
  free(out);
  st = run_in(root, &out,
              "python3 -c 'import json, re\n"
              "g = json.load(open(\"editors/vscode/syntaxes/pspf.tmLanguage.json\"))\n"
              "json.load(open(\"editors/vscode/package.json\"))\n"
              "json.load(open(\"editors/vscode/language-configuration.json\"))\n"
              "pats = []\n"
              "def walk(x):\n"
              "    if isinstance(x, dict):\n"
              "        for k in (\"match\", \"begin\", \"end\"):\n"
              "            if k in x: pats.append((x.get(\"name\", \"\"), re.compile(x[k])))\n"
              "        for v in x.values(): walk(v)\n"
              "    elif isinstance(x, list):\n"
              "        for v in x: walk(v)\n"
              "walk(g)\n"
              "def name(s):\n"
              "    return [n for n, p in pats if p.fullmatch(s)]\n"
              "for word in (\"window\", \"kafka\", \"count_distinct\", \"10s\", "
              "\"@2026-11-23T00:00:00Z\", \"|>\"):\n"
              "    print(word, name(word))\n"
              "'");
  cr_expect_eq(st, 0, "%s", out);
  cr_expect(strstr(out, "window ['support.function.stage.pspf']\n"), "%s", out);
  cr_expect(strstr(out, "kafka ['support.function.connector.pspf']\n"), "%s",
            out);
  cr_expect(strstr(out, "10s ['constant.numeric.duration.pspf']\n"), "%s",
            out);
  cr_expect(strstr(out, "|> ['keyword.operator.pipe.pspf']\n"), "%s", out);
  free(out);
  st = run_in(root, &out,
              "bash -c 'source editors/bash-completion/pspfc; "
              "COMP_WORDS=(pspfc gr); COMP_CWORD=1; _pspfc; echo \"${COMPREPLY[*]}\"; "
              "COMP_WORDS=(pspfc graph --fo); COMP_CWORD=2; _pspfc; echo \"${COMPREPLY[*]}\"; "
              "COMP_WORDS=(pspfc build examples/wordc); COMP_CWORD=2; _pspfc; echo \"${COMPREPLY[*]}\"'");
  cr_expect_eq(st, 0, "%s", out);
  cr_expect_str_eq(out, "graph\n--format=dot --format=mermaid\n"
                        "examples/wordcount.pspf\n");
  free(out);
}

/* A bounded file input on a terminal (a pty from script(1)): a progress
 * line with records, bytes, percent and rate, redrawn in place and
 * cleared at the end; none when stderr is not a terminal, or with
 * --quiet. */
Test(ops, progress_line_on_a_terminal) {
  char dir[] = "/tmp/pspfc-prog-XXXXXX";
  cr_assert(mkdtemp(dir));
  build_prog_in(dir, "type R = { id: int, name: string }\n"
                     "source rs: R = file(\"in.csv\", format: csv)\n"
                     "sink out = file(\"out.csv\", format: csv)\n"
                     "rs |> map(r => { id: r.id * 2, name: upper(r.name) }) "
                     "|> out\n",
                SAN_CFLAGS);
  char *out;
  int st = run_in(dir, &out, "(echo id,name; seq 1 3000000 | sed "
                  "'s/$/,some-name/') > in.csv");
  cr_assert_eq(st, 0, "%s", out);
  free(out);
  st = run_in(dir, &out, "script -qec ./prog /dev/null < /dev/null | tr "
              "'\\r' '\\n' | grep -a 'prog: ' | tail -n 2");
  cr_expect_eq(st, 0, "%s", out);
  cr_expect(strstr(out, " records, ") && strstr(out, "B of ") &&
                strstr(out, "%), ") && strstr(out, " records/s"),
            "no progress line: %s", out);
  free(out);
  /* It is cleared: the last thing written is the clearing. */
  st = run_in(dir, &out, "script -qec ./prog /dev/null < /dev/null | tail -c "
              "4 | od -An -c | tr -s ' '");
  cr_expect_str_eq(out, " \\r 033 [ K\n", "%s", out);
  free(out);
  st = run_in(dir, &out, "./prog 2>&1; script -qec './prog --quiet' "
              "/dev/null < /dev/null");
  cr_expect_eq(st, 0, "%s", out);
  cr_expect_str_eq(out, "");
  free(out);
  run_in(dir, &out, "cd / && rm -rf '%s'", dir);
  free(out);
}

/* pspfc explain: each piece of state with its key and an estimate; a
 * stateless program says so. */
Test(ops, explain_state) {
  const char *root = getenv("PSPF_ROOT") ? getenv("PSPF_ROOT") : ".";
  char *out;
  int st = run_in(root, &out, "'%s' explain examples/wordcount.pspf",
                  pspfc_path());
  cr_expect_eq(st, 0, "%s", out);
  cr_expect_str_eq(out, "examples/wordcount.pspf:41: running aggregate key "
                        "string: n count int\n"
                        "  key:         string (16 B)\n"
                        "  per key:     n count (8 B)\n"
                        "  estimate:    45-91 B a key (a slot of 32 B; the "
                        "table is 35-70% full), plus the text of its "
                        "strings\n"
                        "  peak:        while the table doubles, its old "
                        "slots are held too: up to 137 B a key\n");
  free(out);
  st = run_in(root, &out, "'%s' explain examples/bids.pspf", pspfc_path());
  cr_expect_eq(st, 0, "%s", out);
  cr_expect(strstr(out, "examples/bids.pspf:64: window tumbling(10000ms, "
                        "every 10000ms) on event time key int: "), "%s", out);
  cr_expect(strstr(out, "  state:       a watermark"), "%s", out);
  cr_expect(strstr(out, "bidders count_distinct (8 B + a set: "), "%s", out);
  free(out);
  st = run_in(root, &out, "'%s' explain tests/run/map_filter_csv.pspf",
              pspfc_path());
  cr_expect_eq(st, 0, "%s", out);
  cr_expect_str_eq(out, "tests/run/map_filter_csv.pspf: the program keeps no "
                        "state: every stage is stateless\n");
  free(out);
}

/* pspfc fmt over every example, end-to-end program and golden input
 * that reads cleanly: formatting twice changes nothing, the comments are
 * all there, no line ends in a space, and the program checks to the same
 * typed chains (or the same errors) as before. --check and --write; a
 * program that does not parse is left alone. */
Test(ops, fmt_is_idempotent_and_keeps_meaning) {
  const char *root = getenv("PSPF_ROOT") ? getenv("PSPF_ROOT") : ".";
  const char *plain = getenv("PSPFC_PLAIN") ? getenv("PSPFC_PLAIN")
                                            : "build/bin/pspfc";
  char *out;
  int st = run_in(root, &out,
                  "t=/tmp/pspfc-fmt-$$; mkdir -p $t; n=0; for f in "
                  "examples/*.pspf tests/run/*.pspf tests/golden/*/*.pspf; do "
                  "'%s' fmt \"$f\" > $t/a.pspf 2>/dev/null || continue; "
                  "n=$((n + 1)); '%s' fmt $t/a.pspf > $t/b.pspf && cmp -s "
                  "$t/a.pspf $t/b.pspf || echo \"not idempotent: $f\"; "
                  "grep -o '//.*' \"$f\" | sed 's/[[:space:]]*$//' > $t/c1; "
                  "grep -o '//.*' $t/a.pspf > $t/c2; cmp -s $t/c1 $t/c2 || "
                  "echo \"comments changed: $f\"; ! grep -n ' $' $t/a.pspf || "
                  "echo \"a line ends in a space: $f\"; "
                  "'%s' check --print-types \"$f\" 2>&1 | sed "
                  "'s/[^ ]*\\.pspf:[0-9:]*//g' | grep -v '^ *[0-9]* |\\|^ *|' "
                  "> $t/m1; '%s' check --print-types $t/a.pspf 2>&1 | sed "
                  "'s/[^ ]*\\.pspf:[0-9:]*//g' | grep -v '^ *[0-9]* |\\|^ *|' "
                  "> $t/m2; cmp -s $t/m1 $t/m2 || echo \"meaning changed: "
                  "$f\"; done; rm -rf $t; echo \"$n formatted\"",
                  pspfc_path(), pspfc_path(), plain, plain);
  cr_expect_eq(st, 0, "%s", out);
  cr_expect(strstr(out, " formatted\n") && atoi(out) > 100 &&
                !strstr(out, ": "),
            "%s", out);
  free(out);
  /* One style: spaces and indentation are decided, line breaks kept. */
  st = run_in(root, &out,
              "t=/tmp/pspfc-fmt1-$$.pspf; printf 'type R = {id:int,name : "
              "string}   // the record\\nsource rs:R=stdin(format:csv)\\nsink "
              "o  =  stdout(format : csv)\\n\\n\\n\\nrs\\n|>filter( r=>r.id>-1 "
              "and not(r.name==\"x\") )\\n        |> map(r=>{ ..r, id:r.id*2 "
              "})\\n|>o\\n' > $t; '%s' fmt $t; '%s' fmt --check $t > $t.o; c=$?; "
              "[ \"$(cat $t.o)\" = $t ] && echo CHECKFILE; echo check=$c; "
              "'%s' fmt --write $t && '%s' fmt --check $t; echo check=$?; "
              "rm -f $t $t.o",
              pspfc_path(), pspfc_path(), pspfc_path(), pspfc_path());
  cr_expect_str_eq(out,
                   "type R = { id: int, name: string }  // the record\n"
                   "source rs: R = stdin(format: csv)\n"
                   "sink o = stdout(format: csv)\n"
                   "\n"
                   "rs\n"
                   "  |> filter(r => r.id > -1 and not (r.name == \"x\"))\n"
                   "  |> map(r => { ..r, id: r.id * 2 })\n"
                   "  |> o\n"
                   "CHECKFILE\ncheck=1\ncheck=0\n",
                   "%s", out);
  free(out);
  st = run_in(root, &out, "'%s' fmt tests/golden/diag/syntax_missing_paren"
              ".pspf > /dev/null 2>&1; echo $?", pspfc_path());
  cr_expect_str_eq(out, "1\n");
  free(out);
}
