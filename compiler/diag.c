/*
 * diag.c -- the only code that prints messages to the user.
 *
 * Text format (GNU Coding Standards plus gcc's excerpt):
 *
 *   prog.pspf:21:18: error: filter function must return bool, got int
 *      21 |   |> filter(b => b.auction % 123)
 *         |                  ^~~~~~~~~~~~~~~
 *         = help: compare it, for example `... == 0`
 *
 * or, with -fdiagnostics-format=json, gcc 12's JSON shape.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pspfc.h"

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_ERROR "\033[1;31m"
#define C_WARNING "\033[1;35m"
#define C_NOTE "\033[1;36m"
#define C_HELP "\033[1;32m"
#define C_CARET "\033[1;32m"

void diag_init(Diag *d, const Source *src, FILE *out, DiagColor color) {
  memset(d, 0, sizeof *d);
  d->src = src;
  d->out = out;
  d->max_errors = 20;
  if (color == DIAG_COLOR_ALWAYS) {
    d->color = true;
  } else if (color == DIAG_COLOR_AUTO) {
    const char *term = getenv("TERM");
    d->color = isatty(fileno(out)) && !getenv("NO_COLOR") &&
               !(term && strcmp(term, "dumb") == 0);
  }
}

bool diag_too_many(const Diag *d) {
  return d->max_errors > 0 && d->errors >= d->max_errors;
}

static const char *level_name(DiagLevel l) {
  switch (l) {
  case DIAG_ERROR:
    return "error";
  case DIAG_WARNING:
    return "warning";
  case DIAG_NOTE:
    return "note";
  case DIAG_HELP:
    return "help";
  }
  return "?";
}

static const char *level_color(DiagLevel l) {
  switch (l) {
  case DIAG_ERROR:
    return C_ERROR;
  case DIAG_WARNING:
    return C_WARNING;
  case DIAG_NOTE:
    return C_NOTE;
  case DIAG_HELP:
    return C_HELP;
  }
  return "";
}

/* Source line excerpt with a caret under [loc] (first line of it). */
static void print_excerpt(Diag *d, Loc loc) {
  const Source *s = d->src;
  if (!s)
    return;
  int line = source_line(s, loc.off);
  size_t len;
  const char *text = source_line_text(s, line, &len);
  uint32_t line_start = (uint32_t)(text - s->text);
  uint32_t span_start = loc.off - line_start;
  uint32_t span_end = span_start + loc.len;
  if (span_end > len)
    span_end = (uint32_t)len;

  char num[24];
  int w = snprintf(num, sizeof num, "%d", line);
  if (w < 4)
    w = 4;
  fprintf(d->out, " %*d | ", w, line);
  /* Very long lines are shown as a window around the span. */
  uint32_t ws = 0, we = (uint32_t)len;
  bool cut_left = false, cut_right = false;
  if (len > 200) {
    ws = span_start > 60 ? span_start - 60 : 0;
    while (ws > 0 && ((unsigned char)text[ws] & 0xC0) == 0x80)
      ws--;
    we = ws + 160 < len ? ws + 160 : (uint32_t)len;
    while (we < len && ((unsigned char)text[we] & 0xC0) == 0x80)
      we++;
    cut_left = ws > 0;
    cut_right = we < len;
    if (span_end > we)
      span_end = we;
  }
  int col = 0, caret_start = -1, caret_end = -1;
  if (cut_left) {
    fputs("...", d->out);
    col = 3;
  }
  /* Expand tabs; count one column per code point. */
  for (uint32_t i = ws; i <= we; i++) {
    if (i == span_start)
      caret_start = col;
    if (i == span_end)
      caret_end = col;
    if (i == we)
      break;
    unsigned char ch = (unsigned char)text[i];
    if (ch == '\t') {
      int next = (col / 8 + 1) * 8;
      while (col < next) {
        fputc(' ', d->out);
        col++;
      }
    } else if (ch < 0x20 || ch == 0x7f) {
      fputc(' ', d->out); /* never echo control bytes to a terminal */
      col++;
    } else {
      fputc(ch, d->out);
      if ((ch & 0xC0) != 0x80)
        col++;
    }
  }
  if (cut_right)
    fputs("...", d->out);
  if (caret_start < 0)
    caret_start = col;
  if (caret_end <= caret_start)
    caret_end = caret_start + 1;
  fprintf(d->out, "\n %*s | ", w, "");
  for (int i = 0; i < caret_start; i++)
    fputc(' ', d->out);
  if (d->color)
    fputs(C_CARET, d->out);
  fputc('^', d->out);
  for (int i = caret_start + 1; i < caret_end; i++)
    fputc('~', d->out);
  if (d->color)
    fputs(C_RESET, d->out);
  fputc('\n', d->out);
}

static void json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(out, "\\%c", ch);
    else if (ch == '\n')
      fputs("\\n", out);
    else if (ch < 0x20)
      fprintf(out, "\\u%04x", ch);
    else
      fputc(ch, out);
  }
  fputc('"', out);
}

static void json_pos(Diag *d, uint32_t off) {
  fprintf(d->out, "{\"file\": ");
  json_string(d->out, d->src ? d->src->path : "");
  fprintf(d->out, ", \"line\": %d, \"column\": %d}",
          d->src ? source_line(d->src, off) : 0,
          d->src ? source_col(d->src, off) : 0);
}

static void json_emit(Diag *d, DiagLevel level, const Loc *loc,
                      const char *msg) {
  bool child = level == DIAG_NOTE || level == DIAG_HELP;
  if (child) {
    if (!d->json_open)
      return;
    if (d->json_children++)
      fputs(", ", d->out);
  } else {
    if (d->json_open)
      fputs("]}", d->out);
    fputs(d->json_count++ ? ",\n" : "[", d->out);
    d->json_open = true;
    d->json_children = 0;
  }
  fprintf(d->out, "{\"kind\": \"%s\", \"message\": ",
          level == DIAG_HELP ? "note" : level_name(level));
  json_string(d->out, msg);
  fputs(", \"locations\": [", d->out);
  if (loc) {
    fputs("{\"caret\": ", d->out);
    json_pos(d, loc->off);
    if (loc->len > 1) {
      fputs(", \"finish\": ", d->out);
      json_pos(d, loc->off + loc->len - 1);
    }
    fputc('}', d->out);
  }
  fputs("]", d->out);
  fputs(child ? "}" : ", \"children\": [", d->out);
}

static void emit(Diag *d, DiagLevel level, const Loc *loc, const char *fmt,
                 va_list ap) {
  if (level == DIAG_ERROR || level == DIAG_WARNING) {
    d->suppressing = false;
    /* As in gcc, -w silences warnings even under -Werror. */
    if (level == DIAG_WARNING && d->no_warnings) {
      d->suppressing = true;
      return;
    }
    if (level == DIAG_WARNING && d->werror)
      level = DIAG_ERROR;
    if (level == DIAG_ERROR && diag_too_many(d)) {
      d->suppressing = true;
      d->limit_hit = true;
      return;
    }
    if (level == DIAG_ERROR)
      d->errors++;
    else
      d->warnings++;
  } else if (d->suppressing) {
    return;
  }

  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  if (d->json) {
    json_emit(d, level, loc, buf);
    return;
  }
  if (!loc) {
    fprintf(d->out, "      = %s%s:%s %s\n", d->color ? level_color(level) : "",
            level_name(level), d->color ? C_RESET : "", buf);
    return;
  }
  if (d->color)
    fputs(C_BOLD, d->out);
  if (d->src)
    fprintf(d->out, "%s:%d:%d: ", d->src->path, source_line(d->src, loc->off),
            source_col(d->src, loc->off));
  if (d->color)
    fprintf(d->out, C_RESET "%s%s:" C_RESET C_BOLD " %s" C_RESET "\n",
            level_color(level), level_name(level), buf);
  else
    fprintf(d->out, "%s: %s\n", level_name(level), buf);
  print_excerpt(d, *loc);
}

void diag_error(Diag *d, Loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(d, DIAG_ERROR, &loc, fmt, ap);
  va_end(ap);
}

void diag_warning(Diag *d, Loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(d, DIAG_WARNING, &loc, fmt, ap);
  va_end(ap);
}

void diag_note(Diag *d, Loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(d, DIAG_NOTE, &loc, fmt, ap);
  va_end(ap);
}

void diag_note_plain(Diag *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(d, DIAG_NOTE, NULL, fmt, ap);
  va_end(ap);
}

void diag_help(Diag *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(d, DIAG_HELP, NULL, fmt, ap);
  va_end(ap);
}

void diag_finish(Diag *d) {
  /* As gcc: reaching the limit ends the compile, and says so. */
  if (diag_too_many(d) && !d->json)
    fprintf(d->out, "pspfc: stopping after %d errors (-fmax-errors=%d)\n",
            d->errors, d->max_errors);
  if (d->json) {
    if (d->json_open)
      fputs("]}", d->out);
    fputs(d->json_count ? "]\n" : "[]\n", d->out);
    d->json_open = false;
  }
  fflush(d->out);
}

int diag_edit_distance(const char *a, const char *b) {
  /* Optimal string alignment: insertions, deletions, substitutions and
   * swaps of two neighbours ("otu" -> "out") each cost 1. */
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64)
    return 99;
  int d[65][65];
  for (size_t i = 0; i <= la; i++)
    d[i][0] = (int)i;
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      int v = d[i - 1][j - 1] + cost;
      if (d[i - 1][j] + 1 < v)
        v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v)
        v = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  return d[la][lb];
}
