/*
 * explain.c -- pspfc explain: for each piece of state the program keeps
 * (as the C emitter lays it out, the same description its checkpoints'
 * fingerprint hashes), what it is, its key type, and an estimate of its
 * bytes per key and per window.
 *
 * The estimate counts 8 bytes a scalar (int, float, bool, timestamp,
 * duration), 16 a string or list (a pointer and a length; their text is
 * extra), the fields of a record, 8 more for an optional; an accumulator:
 * count and sum 8, avg 16, min, max, first and last their value and a
 * flag, count_distinct a set (its value and a hash a distinct value, in a
 * table at most 70% full). Keyed tables are open-addressing tables grown
 * at 70% full, so between 35% and 70% full: an entry costs 1.4 to 2.9
 * times its slot, and up to 4.3 times while the table doubles (the old
 * slots are freed once moved). Measured (bench/README.md): 1M string keys
 * of a running count (a 32 B slot, 8 B of text) peaked at 111 B a key;
 * the estimate says 45-91 B, 137 B at the peak, plus the text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pspfc.h"

/* The bytes of type text [t] (as type_str_full writes it), up to [*end]. */
static long type_bytes(const char *t, const char **end) {
  while (*t == ' ')
    t++;
  long n;
  if (*t == '{') {
    n = 0;
    t++;
    while (*t && *t != '}') {
      const char *colon = strchr(t, ':');
      if (!colon)
        break;
      n += type_bytes(colon + 1, &t);
      while (*t == ',' || *t == ' ')
        t++;
    }
    if (*t == '}')
      t++;
  } else if (*t == '[') {
    int depth = 0;
    do {
      depth += *t == '[' ? 1 : *t == ']' ? -1 : 0;
      t++;
    } while (*t && depth);
    n = 16;
  } else {
    const char *s = t;
    while (*t && *t != ',' && *t != '}' && *t != '?' && *t != ':' && *t != ' ')
      t++;
    n = (t - s == 6 && strncmp(s, "string", 6) == 0) ? 16 : 8;
  }
  if (*t == '?') {
    n += 8;
    t++;
  }
  if (end)
    *end = t;
  return n;
}

static bool has_text(const char *t) { return strstr(t, "string") != NULL; }

/* "name kind type, name kind type": the accumulators' bytes, described
 * into [desc]. */
static long accs(Ctx *c, const char *list, const char **desc) {
  long total = 0;
  const char *d = "";
  const char *p = list;
  while (p && *p) {
    char name[128], kind[32];
    int used = 0;
    if (sscanf(p, " %127s %31s %n", name, kind, &used) < 2)
      break;
    const char *t = p + used, *after;
    long v = type_bytes(t, &after);
    long b = strcmp(kind, "count") == 0 || strcmp(kind, "sum") == 0 ? 8
             : strcmp(kind, "avg") == 0                              ? 16
             : strcmp(kind, "count_distinct") == 0                   ? 8
                                                                     : v + 8;
    const char *extra =
        strcmp(kind, "count_distinct") == 0
            ? arena_printf(&c->arena, " + a set: %ld-%ld B a distinct value",
                           (v + 8) * 10 / 7, (v + 8) * 20 / 7)
            : "";
    d = arena_printf(&c->arena, "%s%s%s %s (%ld B%s)", d, *d ? ", " : "", name,
                     kind, b, extra);
    total += b;
    /* " of TYPE" after a fold's merge */
    while (*after == ' ' && strncmp(after, " of ", 4) == 0)
      type_bytes(after + 4, &after);
    p = *after == ',' ? after + 1 : NULL;
  }
  *desc = d;
  return total;
}

static void estimate(FILE *out, long slot, const char *what, bool text) {
  fprintf(out, "  estimate:    %ld-%ld B %s (a slot of %ld B; the table is "
          "35-70%% full)%s\n", slot * 10 / 7, slot * 20 / 7, what, slot,
          text ? ", plus the text of its strings" : "");
  fprintf(out, "  peak:        while the table doubles, its old slots are "
          "held too: up to %ld B %s\n", slot * 30 / 7, what);
}

int explain_write(Ctx *c, FILE *out) {
  PtrVec states = {0};
  EmitOptions eo = {.no_line = true, .out_path = "explain.c",
                    .states = &states};
  char *text = NULL;
  size_t len = 0;
  int errors = emit_c(c, &eo, &text, &len);
  free(text);
  if (errors)
    return 1;
  if (!states.len)
    fprintf(out, "%s: the program keeps no state: every stage is "
            "stateless\n", c->src->path);
  for (int i = 0; i + 1 < states.len; i += 2) {
    const char *layout = states.items[i], *where = states.items[i + 1];
    fprintf(out, "%s: %s\n", where, layout);
    const char *key = strstr(layout, " key ");
    const char *colon = key ? strstr(key, ": ") : NULL;
    if (!key) { /* event time, processing time, merge: a few words */
      fprintf(out, "  state:       a watermark (a few words, whatever the "
              "input)\n");
      continue;
    }
    char ktext[512];
    size_t kn = colon ? (size_t)(colon - key - 5) : strlen(key + 5);
    snprintf(ktext, sizeof ktext, "%.*s", (int)kn, key + 5);
    long kb = type_bytes(ktext, NULL);
    fprintf(out, "  key:         %s (%ld B)\n", ktext, kb);
    const char *desc = "";
    long ab = colon ? accs(c, colon + 2, &desc) : 0;
    bool strs = has_text(ktext) || (colon && has_text(colon));
    if (strncmp(layout, "running ", 8) == 0) {
      fprintf(out, "  per key:     %s\n", desc);
      estimate(out, 8 + kb + ab, "a key", strs);
    } else if (strncmp(layout, "dedupe ", 7) == 0) {
      fprintf(out, "  per key:     when it last passed (8 B), until the "
              "watermark passes it\n");
      estimate(out, 8 + kb + 8, "a key", strs);
    } else {
      /* windows: an entry a key and open window */
      fprintf(out, "  per window:  %s\n", desc);
      const char *open =
          strncmp(layout, "window tumbling", 15) == 0
              ? "one open window a key (more while late records may still "
                "come)"
          : strncmp(layout, "window sliding", 14) == 0
              ? "size / every open windows a key"
          : strncmp(layout, "window session", 14) == 0
              ? "one a key and session still open"
              : "one a key: its count so far";
      fprintf(out, "  open:        %s\n", open);
      estimate(out, 8 + kb + 16 + ab, "a key and open window", strs);
    }
  }
  return 0;
}
