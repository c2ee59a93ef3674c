/*
 * graph.c -- pspfc graph: the checked program's operator graph, in
 * Graphviz dot or Mermaid. A node per source, per operator stage and per
 * sink; an edge per stream between them (dashed: a window's late:
 * records). Each operator's node gives its line, its call as written, the
 * type it puts out, and either the state it keeps (window, aggregate,
 * reduce, fold, dedupe) or the C function it is fused into: every stage
 * after a source runs in that source's flow_NAME function, straight-line
 * for the stateless ones.
 */
#include <stdio.h>
#include <string.h>

#include "pspfc.h"

typedef struct G {
  Ctx *c;
  FILE *out;
  bool mermaid;
  const char **last;  /* per chain: the node its stream comes out of */
  const char ***from; /* per chain, per stage: the node feeding it */
} G;

static bool stateful(const char *op) {
  static const char *const ops[] = {"window", "aggregate", "reduce", "fold",
                                    "dedupe"};
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
    if (strcmp(op, ops[i]) == 0)
      return true;
  return false;
}

/* [s] cut to [max] bytes (an ellipsis after), one line. */
static const char *clip(G *g, const char *s, size_t n, size_t max) {
  char *r = arena_alloc(&g->c->arena, max + 8);
  size_t k = 0;
  for (size_t i = 0; i < n && k < max; i++)
    r[k++] = s[i] == '\n' || s[i] == '\t' ? ' ' : s[i];
  if (n > max)
    memcpy(r + k, "...", 3), k += 3;
  r[k] = 0;
  /* runs of spaces (a call over several lines) as one */
  char *w = r;
  for (const char *p = r; *p; p++)
    if (!(*p == ' ' && w > r && w[-1] == ' '))
      *w++ = *p;
  *w = 0;
  return r;
}

/* [s] inside a dot "..." or a Mermaid "..." label. */
static void put_text(G *g, const char *s) {
  for (; *s; s++) {
    if (g->mermaid) {
      if (*s == '"')
        fputs("#quot;", g->out);
      else if (*s == '<')
        fputs("#lt;", g->out);
      else if (*s == '>')
        fputs("#gt;", g->out);
      else
        fputc(*s, g->out);
    } else {
      if (*s == '"' || *s == '\\')
        fputc('\\', g->out);
      fputc(*s, g->out);
    }
  }
}

/* A node: [lines] NULL-terminated, each a line of its label. */
static void node(G *g, const char *id, const char *shape, const char **lines) {
  if (g->mermaid) {
    const char *open = strcmp(shape, "source") == 0   ? "(["
                       : strcmp(shape, "sink") == 0   ? "[("
                       : strcmp(shape, "state") == 0  ? "[["
                                                      : "(";
    const char *close = strcmp(shape, "source") == 0  ? "])"
                        : strcmp(shape, "sink") == 0  ? ")]"
                        : strcmp(shape, "state") == 0 ? "]]"
                                                      : ")";
    fprintf(g->out, "  %s%s\"", id, open);
    for (int i = 0; lines[i]; i++) {
      if (i)
        fputs("<br/>", g->out);
      put_text(g, lines[i]);
    }
    fprintf(g->out, "\"%s\n", close);
    return;
  }
  const char *attrs = strcmp(shape, "source") == 0
                          ? "shape=cds, style=filled, fillcolor=\"#dbeafe\""
                      : strcmp(shape, "sink") == 0
                          ? "shape=cylinder, style=filled, "
                            "fillcolor=\"#dcfce7\""
                      : strcmp(shape, "state") == 0
                          ? "shape=box, style=\"filled,bold\", "
                            "fillcolor=\"#fef3c7\""
                          : "shape=box, style=rounded";
  fprintf(g->out, "  %s [%s, label=\"", id, attrs);
  for (int i = 0; lines[i]; i++) {
    if (i)
      fputs("\\n", g->out);
    put_text(g, lines[i]);
  }
  fputs("\"];\n", g->out);
}

static void edge(G *g, const char *a, const char *b, const char *label) {
  if (!a || !b)
    return;
  if (g->mermaid) {
    if (label)
      fprintf(g->out, "  %s -. %s .-> %s\n", a, label, b);
    else
      fprintf(g->out, "  %s --> %s\n", a, b);
  } else if (label) {
    fprintf(g->out, "  %s -> %s [style=dashed, label=\"%s\"];\n", a, b, label);
  } else {
    fprintf(g->out, "  %s -> %s;\n", a, b);
  }
}

static const char *sym_id(G *g, Symbol *s) {
  return arena_printf(&g->c->arena, "%s_%s",
                      s->kind == SYM_SOURCE ? "source" : "sink", s->name);
}

/* The node a stream expression's records come from: a source, or the
 * last node of a let's chain. */
static const char *stream_from(G *g, Node *n) {
  Checked *ck = g->c->checked;
  if (!n || n->kind != ND_NAME || !n->sym)
    return NULL;
  if (n->sym->kind == SYM_SOURCE)
    return sym_id(g, n->sym);
  for (int i = 0; i < ck->chains.len; i++) {
    Chain *ch = ck->chains.items[i];
    if (ch->stmt == n->sym->decl)
      return g->last[i];
  }
  return NULL;
}

/* The sources whose flow function runs node [id] (those upstream). */
static void upstream_sources(G *g, const char *id, const char **found,
                             int *nfound, int depth) {
  Checked *ck = g->c->checked;
  if (!id || depth > 64)
    return;
  if (strncmp(id, "source_", 7) == 0) {
    for (int i = 0; i < *nfound; i++)
      if (strcmp(found[i], id + 7) == 0)
        return;
    if (*nfound < 16)
      found[(*nfound)++] = id + 7;
    return;
  }
  for (int i = 0; i < ck->chains.len; i++) {
    Chain *ch = ck->chains.items[i];
    for (int j = 0; j < ch->stages.len; j++) {
      const char *me = arena_printf(&g->c->arena, "op_%d_%d", i, j);
      if (strcmp(me, id) != 0)
        continue;
      upstream_sources(g, g->from[i][j], found, nfound, depth + 1);
      /* merge(a, b) */
      Stage *sg = ch->stages.items[j];
      for (int k = 0; sg->node->kind == ND_CALL && k < sg->node->list.len;
           k++)
        upstream_sources(g, stream_from(g, sg->node->list.items[k]), found,
                         nfound, depth + 1);
    }
  }
}

static void edge(G *g, const char *a, const char *b, const char *label);
static void node(G *g, const char *id, const char *shape, const char **lines);

/* A stream written inside an argument (merge(b |> filter(...))): a node
 * per operator, named after [id]; returns the node its records come out
 * of. */
static const char *inline_stream(G *g, Node *n, const char *id) {
  Ctx *c = g->c;
  if (!n)
    return NULL;
  if (n->kind == ND_NAME)
    return stream_from(g, n);
  if (n->kind == ND_CALL && strcmp(n->name, "merge") == 0) {
    const char *lines[] = {arena_printf(&c->arena, "merge (line %d)",
                                        source_line(c->src, n->loc.off)),
                           NULL};
    node(g, id, "op", lines);
    for (int k = 0; k < n->list.len; k++)
      edge(g, inline_stream(g, n->list.items[k],
                            arena_printf(&c->arena, "%s_%d", id, k)),
           id, NULL);
    return id;
  }
  if (n->kind != ND_PIPE || !n->b)
    return NULL;
  const char *from = inline_stream(g, n->a, arena_printf(&c->arena, "%sa", id));
  Node *op = n->b;
  const char *name = op->kind == ND_CALL ? op->name : "?";
  Type *t = n->type ? n->type : op->type;
  const char *ty = t ? type_str(&c->arena, t) : "?";
  const char *lines[] = {
      arena_printf(&c->arena, "%s (line %d)", name,
                   source_line(c->src, op->loc.off)),
      clip(g, c->src->text + op->loc.off, op->loc.len, 48),
      arena_printf(&c->arena, "out: %s", clip(g, ty, strlen(ty), 56)),
      stateful(name) ? "keeps state" : "stateless", NULL};
  node(g, id, stateful(name) ? "state" : "op", lines);
  edge(g, from, id, NULL);
  return id;
}

int graph_write(Ctx *c, FILE *out, bool mermaid) {
  Checked *ck = c->checked;
  if (!ck)
    return 1;
  G g = {c, out, mermaid, NULL, NULL};
  int nch = ck->chains.len;
  g.last = arena_alloc(&c->arena, sizeof *g.last * (size_t)(nch + 1));
  g.from = arena_alloc(&c->arena, sizeof *g.from * (size_t)(nch + 1));
  for (int i = 0; i < nch; i++) {
    Chain *ch = ck->chains.items[i];
    g.last[i] = NULL;
    g.from[i] = arena_alloc(&c->arena,
                            sizeof **g.from * (size_t)(ch->stages.len + 1));
    for (int j = 0; j <= ch->stages.len; j++)
      g.from[i][j] = NULL;
  }
  /* Where each chain's stream comes out: lets feed other chains, so go
   * round until nothing changes (a let checked after its user). */
  for (int round = 0; round <= nch; round++) {
    bool changed = false;
    for (int i = 0; i < nch; i++) {
      Chain *ch = ck->chains.items[i];
      const char *prev = NULL;
      for (int j = 0; j < ch->stages.len; j++) {
        Stage *sg = ch->stages.items[j];
        if (j == 0 && sg->node->kind == ND_NAME) {
          prev = stream_from(&g, sg->node);
          continue;
        }
        g.from[i][j] = prev;
        if (!sg->type) /* a sink */
          break;
        prev = arena_printf(&c->arena, "op_%d_%d", i, j);
      }
      if (prev && (!g.last[i] || strcmp(g.last[i], prev) != 0)) {
        g.last[i] = prev;
        changed = true;
      }
    }
    if (!changed)
      break;
  }

  if (mermaid)
    fprintf(out, "%%%% pspfc graph %s\nflowchart LR\n", c->src->path);
  else
    fprintf(out, "// pspfc graph %s\ndigraph \"%s\" {\n  rankdir=LR;\n  "
            "node [fontname=\"Helvetica\", fontsize=10];\n  edge "
            "[fontname=\"Helvetica\", fontsize=9];\n", c->src->path,
            c->src->path);
  /* Sources and sinks. */
  for (int i = 0; i < ck->symbols.len; i++) {
    Symbol *s = ck->symbols.items[i];
    if (s->kind != SYM_SOURCE && s->kind != SYM_SINK)
      continue;
    Type *t = s->kind == SYM_SOURCE ? s->type : s->sink_type;
    const char *lines[4] = {
        arena_printf(&c->arena, "%s %s", s->kind == SYM_SOURCE ? "source"
                                                               : "sink",
                     s->name),
        arena_printf(&c->arena, "%s%s%s%s", s->connector ? s->connector : "?",
                     s->format && s->connector && strcmp(s->format, s->connector)
                         ? "("
                         : "",
                     s->format && s->connector && strcmp(s->format, s->connector)
                         ? s->format
                         : "",
                     s->format && s->connector && strcmp(s->format, s->connector)
                         ? ")"
                         : ""),
        t ? clip(&g, type_str(&c->arena, t), strlen(type_str(&c->arena, t)),
                 60)
          : NULL,
        NULL};
    node(&g, sym_id(&g, s), s->kind == SYM_SOURCE ? "source" : "sink", lines);
  }
  /* Operators, and the streams between. */
  for (int i = 0; i < nch; i++) {
    Chain *ch = ck->chains.items[i];
    for (int j = 0; j < ch->stages.len; j++) {
      Stage *sg = ch->stages.items[j];
      if (j == 0 && sg->node->kind == ND_NAME)
        continue; /* a source or a let: its node is there */
      if (!sg->type) { /* into a sink */
        if (sg->node->sym)
          edge(&g, g.from[i][j], sym_id(&g, sg->node->sym), NULL);
        continue;
      }
      const char *id = arena_printf(&c->arena, "op_%d_%d", i, j);
      Node *n = sg->node;
      Stage *before = j ? ch->stages.items[j - 1] : NULL;
      const char *line2 = clip(&g, c->src->text + n->loc.off, n->loc.len, 48);
      const char *line3 = arena_printf(
          &c->arena, "out: %s%s",
          clip(&g, type_str(&c->arena, sg->type),
               strlen(type_str(&c->arena, sg->type)), 56),
          sg->type->event_time ? ", event time" : "");
      const char *line4;
      if (stateful(sg->label)) {
        const char *in = before && before->type
                             ? type_str(&c->arena, before->type)
                             : "";
        line4 = arena_printf(&c->arena, "keeps state: %s",
                             clip(&g, in, strlen(in), 48));
      } else {
        const char *srcs[16];
        int ns = 0;
        upstream_sources(&g, g.from[i][j], srcs, &ns, 0);
        const char *fns = "";
        for (int k = 0; k < ns; k++)
          fns = arena_printf(&c->arena, "%s%sflow_%s", fns, k ? ", " : "",
                             srcs[k]);
        line4 = ns ? arena_printf(&c->arena, "fused into %s", fns)
                   : "stateless";
      }
      const char *lines[] = {
          arena_printf(&c->arena, "%s (line %d)", sg->label,
                       source_line(c->src, n->loc.off)),
          line2, line3, line4, NULL};
      node(&g, id, stateful(sg->label) ? "state" : "op", lines);
      edge(&g, g.from[i][j], id, NULL);
      /* merge(a, b): every stream it takes in */
      if (n->kind == ND_CALL && strcmp(sg->label, "merge") == 0)
        for (int k = 0; k < n->list.len; k++)
          edge(&g, inline_stream(&g, n->list.items[k],
                                 arena_printf(&c->arena, "%s_in%d", id, k)),
               id, NULL);
      /* window(..., late: sink) */
      for (int k = 0; n->kind == ND_CALL && k < n->list.len; k++) {
        Node *a = n->list.items[k];
        if (a->kind == ND_NAMED_ARG && strcmp(a->name, "late") == 0 && a->a &&
            a->a->sym && a->a->sym->kind == SYM_SINK)
          edge(&g, id, sym_id(&g, a->a->sym), "late");
      }
    }
  }
  if (!mermaid)
    fputs("}\n", out);
  return 0;
}
