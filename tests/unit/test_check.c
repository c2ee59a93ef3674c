/*
 * test_check.c -- the type checker, in process: the type of each stage,
 * and the rules of spec sections 2 to 5 (each rule: one program that
 * passes and one that fails with the expected message).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static const char prelude[] =
    "type Bid = { auction: int, bidder: int, price: int, channel: string, "
    "url: string, ts: timestamp }\n"
    "source bids: Bid = file(\"bids.csv\", format: csv)\n"
    "sink out = console()\n";

/* Checks prelude + [body]. */
static Compiled with_prelude(const char *body, const char *flags) {
  char *text = malloc(strlen(prelude) + strlen(body) + 1);
  strcpy(text, prelude);
  strcat(text, body);
  Compiled r = compile_text(text, flags);
  free(text);
  return r;
}

/* A program that must fail, and a piece of what it must say. */
/* Strings are held inline: Criterion runs each case in a fresh process,
 * where pointers into the parent's static data do not hold. */
typedef struct Bad {
  char body[300];
  char want[120];
} Bad;

ParameterizedTestParameters(check, rejects) {
  static Bad cases[] = {
      {"bids |> map(b => b.price + 1.5) |> out",
       "operator '+' cannot take int and float"},
      {"bids |> map(b => b.price + 1.5) |> out", "float(...)"},
      {"bids |> map(b => b.ts + b.ts) |> out",
       "operator '+' cannot take timestamp and timestamp"},
      {"bids |> map(b => b.channel + 1) |> out", "to_string(...)"},
      {"bids |> map(b => b.prise) |> out", "did you mean 'price'?"},
      {"bids |> map(b => b.price) |> otu", "unknown sink 'otu'"},
      {"bids |> map(b => b.price) |> otu", "did you mean 'out'?"},
      {"bids |> fliter(b => true) |> out", "did you mean 'filter'?"},
      {"bids |> filter(b => b.price) |> out",
       "'filter' needs a function returning bool, got int"},
      {"bids |> event_time(b => b.auction) |> out",
       "'event_time' needs a function returning timestamp, got int"},
      {"bids |> key_by(b => float(b.price)) |> out", "float cannot be a key"},
      {"bids |> aggregate(n: count()) |> out",
       "'aggregate' needs a keyed or windowed stream; stage 1 ('bids') "
       "gives stream of Bid"},
      {"bids |> key_by(b => b.auction) |> map(b => b) |> aggregate(n: "
       "count()) |> out",
       "the key is dropped here"},
      {"bids |> window(tumbling(10s)) |> out",
       "sink 'out' cannot take a windowed stream"},
      {"bids |> window(tumbling(10s)) |> map(b => b) |> out",
       "'map' cannot take a windowed stream"},
      {"bids |> window(tumbling(10)) |> aggregate(n: count()) |> out",
       "the window size must be a duration, got int"},
      {"bids |> window(tumbling(0ms)) |> aggregate(n: count()) |> out",
       "must be longer than 0ms"},
      {"bids |> key_by(b => b.auction) |> reduce((a, b) => a.price) |> out",
       "'reduce' needs a function returning Bid"},
      {"bids |> key_by(b => b.auction) |> fold(0, (acc, b) => acc + 1.0) "
       "|> out",
       "operator '+' cannot take int and float"},
      {"bids |> key_by(b => b.auction) |> aggregate(key: count()) |> out",
       "'key' is a field of every aggregate result"},
      {"bids |> key_by(b => b.auction) |> aggregate(t: sum(b => b.url)) |> "
       "out",
       "sum cannot aggregate string"},
      {"let m = bids |> map(b => b.price)\nmerge(bids, m) |> out",
       "'merge' needs streams of one type"},
      {"let t = bids |> event_time(b => b.ts)\nmerge(bids, t) |> out",
       "'merge' cannot mix event time and processing time"},
      {"bids |> map(b => b.price)", "this pipeline does not end in a sink"},
      {"bids |> out |> out", "nothing can follow a sink"},
      {"bids |> out\nbids |> map(b => b.price) |> out",
       "sink 'out' receives int here, but Bid elsewhere"},
      {"sink q = file(\"q.csv\")\nbids |> key_by(b => { a: b.auction, c: "
       "b.channel }) |> aggregate(n: count()) |> q",
       "cannot hold the nested record field 'key'"},
      {"source l: Bid = file(\"x.txt\", format: lines)",
       "source 'l' has format lines, so it must be string"},
      {"sink l = file(\"x.log\")\nbids |> l",
       "sink 'l' has format lines, so it takes string, not Bid"},
      {"fn f(x: int) -> int = g(x)\nfn g(x: int) -> int = f(x)",
       "is recursive"},
      {"fn f(x: int) -> int = x\nlet y = f(1, 2)",
       "'f' takes 1 argument, got 2"},
      {"fn f(x: int) -> int = x\nlet y = f(\"a\")",
       "argument 1 of 'f' must be int, got string"},
      {"fn f(x: int) -> string = x", "must return string, but its body is int"},
      {"param p: Bid", "a param must be int, float, bool, string, timestamp "
                       "or duration"},
      {"param p: int = \"x\"", "the default value must be int, got string"},
      {"let x = if true then 1 else \"a\"",
       "branches of 'if' have different types: int and string"},
      {"let x = 1 ?? 2", "left side of '?\?' is int, never none"},
      {"type O = { a: int? }\nsource o: O = stdin()\no |> map(r => r.a + 1) "
       "|> out",
       "an optional value may be none"},
      {"let a = b\nlet b = a", "defined in terms of itself"},
      {"type T = { a: T }", "type 'T' contains itself"},
      {"type Bid = { a: int }", "'Bid' is already declared"},
      {"sink s = kafka(brokers: \"b\", topic: \"t\", key: nope)\nbids |> s",
       "has no field 'nope'"},
      {"sink s = console(format: json)", "'console' has no parameter 'format'"},
      {"sink s = file(\"x.csv\", format: xml)", "unknown format"},
      {"sink s = file(\"x.dat\")", "the format of this file is not known"},
      {"source s = file(\"x.csv\")", "source 's' needs a record type"},
      {"source s: Bid = console()", "'console' cannot be a source"},
      {"source s: Bid = file(\"x.csv\", header: false)",
       "write format: csv(header: ...)"},
      {"bids |> window(tumbling(1s), late: bidz) |> aggregate(n: count()) |> "
       "out",
       "late: takes the name of a sink"},
      {"let x = 9223372036854775808", "integer literal is too large for int"},
      {"let x = map(1)", "'map' is a stream operator; use it after '|>'"},
      {"let len = 1", "'len' is a built-in function"},
      {"let x = len(1)", "'len' cannot take (int)"},
      {"bids |> map(b => split(b.url, \"/\")) |> out",
       "a stream cannot carry lists"},
      {"bids |> flat_map(b => b.url) |> out",
       "'flat_map' needs a function returning a list, got string"},
      {"bids |> map(b => { a: 1, a: 2 }) |> out", "duplicate field 'a'"},
      {"bids |> dedupe(b => b.url) |> out", "'dedupe' needs 'within:'"},
      {"bids |> map(b => b.price < 1 < 2) |> out", "expected ')'"},
  };
  return cr_make_param_array(Bad, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(Bad *c, check, rejects) {
  Compiled r = with_prelude(c->body, "werror");
  cr_expect_eq(r.status, 1, "accepted:\n%s", c->body);
  cr_expect(strstr(r.diag, c->want), "for:\n%s\nwant: %s\ngot:\n%s", c->body,
            c->want, r.diag);
  compiled_free(&r);
}

/* Stage types, as check --print-types prints them. */
typedef struct Typed {
  char body[300];
  char want[160]; /* a line of the listing */
} Typed;

ParameterizedTestParameters(check, types) {
  static Typed cases[] = {
      {"bids |> map(b => { auction: b.auction, p: float(b.price) / 100.0 }) "
       "|> out",
       "|> map                 stream of {auction: int, p: float}"},
      {"bids |> key_by(b => b.auction) |> window(tumbling(10s)) |> "
       "aggregate(n: count(), s: sum(b => b.price), a: avg(b => b.price), "
       "f: first(b => b.url), d: count_distinct(b => b.bidder)) |> out",
       "stream of {key: int, start: timestamp, end: timestamp, n: int, s: "
       "int, a: float, f: string, d: int}"},
      {"bids |> window(sliding(1m, every: 10s)) |> aggregate(m: max(b => "
       "b.ts)) |> out",
       "stream of {start: timestamp, end: timestamp, m: timestamp}"},
      {"bids |> key_by(b => b.channel) |> aggregate(n: count()) |> out",
       "stream of {key: string, n: int}"},
      {"bids |> key_by(b => { a: b.auction, c: b.channel }) |> "
       "window(session(gap: 5m)) |> reduce((x, y) => if x.price > y.price "
       "then x else y) |> out",
       "stream of {key: {a: int, c: string}, start: timestamp, end: "
       "timestamp, value: Bid}"},
      {"bids |> key_by(b => b.auction) |> fold({ n: 0, s: 0 }, (acc, b) => "
       "{ n: acc.n + 1, s: acc.s + b.price }) |> out",
       "|> fold                stream of {n: int, s: int}"},
      {"bids |> key_by(b => b.auction) |> window(count(5, every: 2)) |> "
       "fold(0.0, (a, b) => a + float(b.price)) |> out",
       "stream of {key: int, start: timestamp, end: timestamp, value: float}"},
      {"bids |> flat_map(b => split(b.url, \"/\")) |> out",
       "|> flat_map            stream of string"},
      {"bids |> map(b => { ..b, price: float(b.price), extra: true }) |> out",
       "stream of {auction: int, bidder: int, price: float, channel: "
       "string, url: string, ts: timestamp, extra: bool}"},
      {"bids |> event_time(b => b.ts, lateness: 2s) |> key_by(b => "
       "b.auction) |> filter(b => b.price > 0) |> out",
       "|> filter              keyed stream of Bid by int, event time"},
      {"type O = { a: int? }\nsource o: O = stdin()\nbids |> out\nsink o2 = "
       "console()\no |> map(r => r.a ?? 0) |> o2",
       "|> map                 stream of int"},
  };
  return cr_make_param_array(Typed, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(Typed *c, check, types) {
  Compiled r = with_prelude(c->body, "types,werror");
  cr_expect_eq(r.status, 0, "rejected:\n%s\n%s", c->body, r.diag);
  cr_expect(strstr(r.out, c->want), "for:\n%s\nwant: %s\ngot:\n%s", c->body,
            c->want, r.out);
  compiled_free(&r);
}

Test(check, every_error_is_reported) {
  Compiled r = with_prelude("bids |> filter(b => b.price) |> out\n"
                            "bids |> map(b => b.nope) |> out\n"
                            "bids |> aggregate(n: count()) |> out\n",
                            NULL);
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.diag, "t.pspf:4:"), "%s", r.diag);
  cr_assert(strstr(r.diag, "t.pspf:5:"), "%s", r.diag);
  cr_assert(strstr(r.diag, "t.pspf:6:"), "%s", r.diag);
  compiled_free(&r);
}

Test(check, declarations_in_any_order) {
  Compiled r = compile_text("timed |> key_by(b => b.a) |> window(tumbling(1s),"
                            " late: l) |> aggregate(n: count()) |> o\n"
                            "let timed = s |> event_time(b => b.t)\n"
                            "sink o = console()\nsink l = console()\n"
                            "source s: T = stdin()\n"
                            "type T = { a: int, t: timestamp }\n",
                            "werror");
  cr_assert_eq(r.status, 0, "%s", r.diag);
  compiled_free(&r);
}

Test(check, warnings_for_unused_and_werror) {
  Compiled r = with_prelude("source other: Bid = stdin()\n", NULL);
  cr_assert_eq(r.status, 0, "%s", r.diag);
  cr_assert(strstr(r.diag, "warning: source 'other' is never read"), "%s",
            r.diag);
  cr_assert(strstr(r.diag, "warning: sink 'out' is never written"), "%s",
            r.diag);
  compiled_free(&r);
  r = with_prelude("source other: Bid = stdin()\n", "werror");
  cr_assert_eq(r.status, 1);
  compiled_free(&r);
}

Test(check, json_diagnostics) {
  Compiled r = with_prelude("bids |> filter(b => b.price) |> out\n", "json");
  cr_assert_eq(r.status, 1);
  cr_assert(strstr(r.diag, "[{\"kind\": \"error\", \"message\": \"'filter' "
                           "needs a function returning bool, got int\""),
            "%s", r.diag);
  cr_assert(strstr(r.diag, "\"caret\": {\"file\": \"t.pspf\", \"line\": 4, "
                           "\"column\": 21}"), "%s", r.diag);
  cr_assert(strstr(r.diag, "\"children\": [{\"kind\": \"note\""), "%s",
            r.diag);
  cr_assert(r.diag[strlen(r.diag) - 2] == ']', "%s", r.diag);
  compiled_free(&r);
}
