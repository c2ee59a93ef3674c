/*
 * test_io.c -- libpspf record framing, CSV fields (RFC 4180), JSON object
 * scanning and escaping.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pspf/format.h"
#include "pspf/io.h"

#define S(lit) lit, sizeof(lit) - 1

/* Splits [text] into records joined by '|'. */
static char *frames(const char *text, pspf_framing_t f) {
  static char out[1024];
  size_t k = 0, off = 0, n = strlen(text);
  out[0] = 0;
  for (;;) {
    size_t used;
    long len = pspf_next_record(text + off, n - off, f, true, &used);
    if (len < 0)
      break;
    k += (size_t)snprintf(out + k, sizeof out - k, "%s%.*s", k ? "|" : "",
                          (int)len, text + off);
    off += used;
  }
  return out;
}

Test(io, framing_lines) {
  cr_assert_str_eq(frames("a\nb\r\n\nlast", PSPF_FRAME_LINES), "a|b||last");
  cr_assert_str_eq(frames("a\n", PSPF_FRAME_LINES), "a");
  cr_assert_str_eq(frames("", PSPF_FRAME_LINES), "");
}

Test(io, framing_csv_keeps_quoted_newlines) {
  cr_assert_str_eq(frames("1,\"x\ny\",2\n3,4\n", PSPF_FRAME_CSV),
                   "1,\"x\ny\",2|3,4");
}

Test(io, framing_waits_for_a_whole_record) {
  size_t used;
  cr_assert_eq(pspf_next_record(S("abc"), PSPF_FRAME_LINES, false, &used), -1);
  cr_assert_eq(pspf_next_record(S("1,\"a\n"), PSPF_FRAME_CSV, false, &used),
               -1);
}

static char *fields(const char *rec, char delim) {
  static char out[1024];
  pspf_buf_t scratch = {0};
  pspf_buf_reserve(&scratch, strlen(rec) + 1);
  pspf_csv_t c;
  pspf_csv_init(&c, rec, strlen(rec), delim);
  pspf_str_t f;
  size_t k = 0;
  int r;
  out[0] = 0;
  while ((r = pspf_csv_next(&c, &scratch, &f)) == 1)
    k += (size_t)snprintf(out + k, sizeof out - k, "[%.*s]", (int)f.n, f.p);
  if (r < 0)
    snprintf(out + k, sizeof out - k, "ERR");
  pspf_buf_free(&scratch);
  return out;
}

Test(io, csv_fields) {
  cr_assert_str_eq(fields("a,b,,c", ','), "[a][b][][c]");
  cr_assert_str_eq(fields("\"a,b\",\"say \"\"hi\"\"\",x", ','),
                   "[a,b][say \"hi\"][x]");
  cr_assert_str_eq(fields("\"multi\nline\";2", ';'), "[multi\nline][2]");
  cr_assert_str_eq(fields("", ','), "[]");
  cr_assert_str_eq(fields("a,", ','), "[a][]");
  cr_assert_str_eq(fields("\"open", ','), "ERR");
  cr_assert_str_eq(fields("\"a\"b", ','), "ERR");
  cr_assert_str_eq(fields("a\"b", ','), "ERR");
}

Test(io, csv_write_quotes_when_needed) {
  pspf_buf_t b = {0};
  pspf_csv_write_field(&b, S("plain"), ',');
  pspf_buf_add(&b, ",", 1);
  pspf_csv_write_field(&b, S("a,\"b\""), ',');
  pspf_buf_add(&b, "", 1);
  cr_assert_str_eq(b.p, "plain,\"a,\"\"b\"\"\"");
  pspf_buf_free(&b);
}

Test(io, json_members) {
  const char *t = " {\"a\": 1, \"b\":\"x\\\"y\", \"c\": {\"d\": [1, {}]}, "
                  "\"e\": null, \"f\": true} ";
  pspf_json_t j;
  cr_assert_eq(pspf_json_begin(&j, t, strlen(t)), 0);
  pspf_str_t k, v;
  pspf_json_kind_t kind;
  char got[512];
  size_t n = 0;
  int r;
  while ((r = pspf_json_next(&j, &k, &v, &kind)) == 1)
    n += (size_t)snprintf(got + n, sizeof got - n, "%.*s=%.*s/%d ",
                          (int)k.n, k.p, (int)v.n, v.p, (int)kind);
  cr_assert_eq(r, 0);
  cr_assert_str_eq(got, "a=1/2 b=\"x\\\"y\"/3 c={\"d\": [1, {}]}/4 e=null/0 "
                        "f=true/1 ");
}

Test(io, json_rejects_malformed) {
  const char *bad[] = {"", "[1]", "{\"a\" 1}", "{\"a\":}", "{\"a\":1,}",
                       "{\"a\":1} x", "{\"a\":\"unterminated}", "{\"a\":tru}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pspf_json_t j;
    pspf_str_t k, v;
    pspf_json_kind_t kind;
    int r = pspf_json_begin(&j, bad[i], strlen(bad[i]));
    while (r == 0 && (r = pspf_json_next(&j, &k, &v, &kind)) == 1)
      r = 0;
    cr_assert_lt(r, 0, "accepted %s", bad[i]);
  }
}

Test(io, json_strings_both_ways) {
  pspf_buf_t scratch = {0}, out = {0};
  pspf_str_t s;
  pspf_str_t raw = {S("\"plain\"")};
  cr_assert_eq(pspf_json_string(raw, &scratch, &s), 0);
  cr_assert_eq(s.p, raw.p + 1); /* a slice, no copy */
  pspf_str_t esc = {S("\"a\\n\\u00e9\\ud83d\\ude00\\/\"")};
  cr_assert_eq(pspf_json_string(esc, &scratch, &s), 0);
  cr_assert_eq(s.n, 9);
  cr_assert(memcmp(s.p, "a\n\xC3\xA9\xF0\x9F\x98\x80/", 9) == 0);
  pspf_str_t lone = {S("\"\\udc00\"")};
  cr_assert_lt(pspf_json_string(lone, &scratch, &s), 0);
  pspf_json_write_string(&out, S("q\"\\\n\x01é"));
  pspf_buf_add(&out, "", 1);
  cr_assert_str_eq(out.p, "\"q\\\"\\\\\\n\\u0001é\"");
  pspf_buf_free(&scratch);
  pspf_buf_free(&out);
}

/* The one-pass CSV framing and splitting gives exactly what framing
 * (pspf_next_record) and then splitting (pspf_csv_split) give, on random
 * text of delimiters, quotes, CR, LF and letters, at every length. */
Test(io, csv_frame_agrees_with_frame_then_split) {
  static const char alphabet[] = "ab,,\r\n\n\"xyz0123456789";
  unsigned seed = 99;
  char text[300 + 16]; /* pspf_csv_frame() reads 16 bytes past the text */
  memset(text, 'q', sizeof text);
  for (int t = 0; t < 100000; t++) {
    seed = seed * 1103515245u + 12345u;
    size_t n = (seed >> 16) % 300;
    for (size_t i = 0; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      unsigned r = (seed >> 16) % 100;
      text[i] = r < 80 ? "abcdefgh"[r % 8]
                       : alphabet[(seed >> 20) % (sizeof alphabet - 1)];
    }
    bool eof = t % 3 == 0;
    int max = 1 + t % 9;
    pspf_str_t f1[12], f2[12];
    size_t c1 = 0, c2 = 0;
    int nf1 = -2;
    long l1 = pspf_csv_frame(text, n, ',', eof, &c1, f1, max, &nf1);
    long l2 = pspf_next_record(text, n, PSPF_FRAME_CSV, eof, &c2);
    cr_assert_eq(l1, l2, "length, case %d", t);
    if (l1 < 0)
      continue;
    cr_assert_eq(c1, c2, "consumed, case %d", t);
    int nf2 = pspf_csv_split(text, (size_t)l2, ',', f2, max);
    if (nf1 < 0) {
      cr_assert(memchr(text, '"', (size_t)l2), "case %d", t);
      continue;
    }
    cr_assert_eq(nf1, nf2, "fields, case %d", t);
    for (int i = 0; i < nf1 && i < max; i++)
      cr_assert(f1[i].p == f2[i].p && f1[i].n == f2[i].n, "field %d, case %d",
                i, t);
  }
}

/* pspf_json_int() counts digits a word at a time, reading past the value
 * (into what follows, then the padding): on random numbers followed by
 * random bytes it gives what the raw value text gives. */
Test(io, json_int_agrees_with_the_value_text) {
  unsigned seed = 4242;
  for (int t = 0; t < 200000; t++) {
    char text[64 + 16];
    seed = seed * 1103515245u + 12345u;
    int nd = (int)(seed >> 16) % 20;
    size_t n = 0;
    text[n++] = '{';
    text[n++] = '"';
    text[n++] = 'a';
    text[n++] = '"';
    text[n++] = ':';
    if (t % 5 == 0)
      text[n++] = '-';
    for (int i = 0; i < nd; i++) {
      seed = seed * 1103515245u + 12345u;
      text[n++] = (char)('0' + (seed >> 16) % 10);
    }
    seed = seed * 1103515245u + 12345u;
    text[n++] = ".e,}9 "[(seed >> 16) % 6];
    text[n++] = '}';
    for (size_t i = n; i < sizeof text; i++)
      text[i] = (char)('0' + i % 10); /* digits in the padding */
    pspf_json_t j, k;
    pspf_str_t key, val;
    pspf_json_kind_t kind;
    cr_assert_eq(pspf_json_begin(&j, text, n), 0);
    cr_assert_eq(pspf_json_key(&j, &key), 1);
    k = j;
    int64_t v = 0, w = 0;
    int got = pspf_json_int(&j, &v);
    if (pspf_json_value(&k, &val, &kind) < 0) {
      cr_assert_eq(got, 0, "case %d: %.*s", t, (int)n, text);
      continue;
    }
    int plain = kind == PSPF_JSON_NUMBER && val.n <= 19 &&
                !memchr(val.p, '.', val.n) && !memchr(val.p, 'e', val.n) &&
                pspf_parse_i64(val.p, val.n, &w) == 0;
    if (got) {
      cr_assert(plain && v == w, "case %d: %.*s", t, (int)n, text);
      cr_assert_eq(j.p, k.p, "case %d", t);
    } else {
      cr_assert(!plain || val.n - (val.p[0] == '-') >= 16, "case %d: %.*s", t,
                (int)n, text);
    }
  }
}

/* JSON output is valid UTF-8: valid sequences are kept as they are, and
 * each byte that starts no valid sequence becomes \ufffd (overlong forms,
 * surrogates, stray continuation bytes, a cut-off sequence). */
Test(io, json_write_replaces_invalid_utf8) {
  pspf_buf_t out = {0};
  pspf_json_write_string(&out, S("\xC3\xA9\xF0\x9F\x98\x80|\xFF|\xC0\xAF|"
                                 "\xED\xA0\x80|\x80|\xE2\x82"));
  pspf_buf_add(&out, "", 1);
  cr_assert_str_eq(out.p, "\"\xC3\xA9\xF0\x9F\x98\x80|\\ufffd|\\ufffd\\ufffd|"
                          "\\ufffd\\ufffd\\ufffd|\\ufffd|\\ufffd\\ufffd\"");
  pspf_buf_free(&out);
}
