/*
 * main.c -- the pspfc command line: verbs and flags in the manner of cc.
 *
 *   pspfc check FILE [--print-types] [--dump-ast] [diagnostic flags]
 *   pspfc emit-c FILE [-o OUT.c] [--no-line]
 *   pspfc build FILE [-o EXE] [--save-temps] [-v]
 *   pspfc inspect-checkpoint DIR
 *   pspfc --help | --version
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pspf/checkpoint.h"
#include "pspfc.h"

static const char usage[] =
    "usage: pspfc <command> [options] FILE\n"
    "\n"
    "Compiles .pspf stream-processing programs to native executables.\n"
    "\n"
    "commands:\n"
    "  check FILE           parse and type-check FILE; report every error\n"
    "  emit-c FILE          write the program as readable C\n"
    "  build FILE           compile FILE into a native executable\n"
    "  graph FILE           the operator graph: Graphviz dot, or with\n"
    "                       --format=mermaid a Mermaid flowchart; each\n"
    "                       operator with its types, its state, or the\n"
    "                       function it is fused into\n"
    "  fmt FILE             FILE in the one canonical style, to stdout;\n"
    "                       --write: back into FILE; --check: list FILE\n"
    "                       and exit 1 if it is not in that style\n"
    "  explain FILE         each piece of state the program keeps: what\n"
    "                       it is, its key type, its bytes a key and a\n"
    "                       window (an estimate)\n"
    "  inspect-checkpoint DIR\n"
    "                       show the checkpoints a built program took in\n"
    "                       DIR: header, sections and their sizes, source\n"
    "                       and sink positions, keys held; exit 1 if the\n"
    "                       newest is damaged\n"
    "\n"
    "emit-c and build options:\n"
    "  -o PATH              output file (emit-c: default stdout; build:\n"
    "                       default a.out)\n"
    "  --no-line            leave out #line directives\n"
    "  --save-temps         build: keep the C file as PATH.c\n"
    "  -v                   build: show the C compiler command\n"
    "  The C compiler is $CC (default cc) with $CFLAGS (default -O2) and\n"
    "  $LDFLAGS.\n"
    "\n"
    "check options:\n"
    "  --print-types        print each pipeline's stages and their types\n"
    "  --dump-ast           print the syntax tree\n"
    "\n"
    "diagnostic options:\n"
    "  -Werror              treat warnings as errors\n"
    "  -w                   do not report warnings\n"
    "  -fmax-errors=N       stop after N errors (default 20, 0 = no limit)\n"
    "  -fdiagnostics-color=auto|always|never\n"
    "                       colour messages (auto: only on a terminal,\n"
    "                       and never when NO_COLOR is set)\n"
    "  -fdiagnostics-format=text|json\n"
    "                       message format (json: gcc's shape)\n"
    "\n"
    "  -h, --help           show this help and exit\n"
    "  --version            show the version and exit\n"
    "\n"
    "FILE may be '-' for standard input. Exit status: 0 success, 1 errors\n"
    "in the program or the command line, 4 internal error.\n"
    "Documentation: docs/language.md, pspfc(1).\n";

static int fail(const char *fmt, const char *arg) {
  fputs("pspfc: error: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs("\n", stderr);
  return 1;
}

static Source *read_source(Arena *a, const char *path) {
  if (strcmp(path, "-") != 0)
    return source_read_file(a, path);
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf)
    return NULL;
  size_t n;
  while ((n = fread(buf + len, 1, cap - len, stdin)) > 0) {
    len += n;
    if (len >= ((size_t)1 << 31)) { /* source offsets are 32-bit */
      free(buf);
      errno = EFBIG;
      return NULL;
    }
    if (len == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) {
        free(buf);
        return NULL;
      }
      buf = nb;
    }
  }
  Source *s = source_from_string(a, "<stdin>", buf, len);
  free(buf);
  return s;
}

int main(int argc, char **argv) {
  /* Diagnostics are written a line at a time, not a byte at a time. */
  static char errbuf[1 << 16];
  setvbuf(stderr, errbuf, _IOFBF, sizeof errbuf);
  if (argc < 2) {
    fputs(usage, stderr);
    return 1;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("pspfc %s\n", PSPFC_VERSION);
    return 0;
  }
  if (strcmp(cmd, "inspect-checkpoint") == 0) {
    if (argc != 3 || argv[2][0] == '-')
      return fail("%s", "usage: pspfc inspect-checkpoint DIR");
    return pspf_ckpt_inspect(argv[2], stdout);
  }
  bool is_emit = strcmp(cmd, "emit-c") == 0, is_build = strcmp(cmd, "build") == 0;
  bool is_graph = strcmp(cmd, "graph") == 0;
  bool is_explain = strcmp(cmd, "explain") == 0;
  bool is_fmt = strcmp(cmd, "fmt") == 0, fmt_write = false, fmt_check = false;
  if (strcmp(cmd, "check") != 0 && !is_emit && !is_build && !is_graph &&
      !is_explain && !is_fmt) {
    if (cmd[0] == '-')
      return fail("unrecognized option '%s' (see pspfc --help)", cmd);
    return fail("unknown command '%s' (see pspfc --help)", cmd);
  }

  Options o;
  options_init(&o);
  if (is_graph)
    o.graph = 1;
  o.explain = is_explain;
  BuildOptions bo = {0};
  const char *file = NULL;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    } else if ((is_emit || is_build) && strcmp(a, "-o") == 0) {
      if (i + 1 >= argc)
        return fail("%s", "missing file name after '-o'");
      bo.output = argv[++i];
    } else if ((is_emit || is_build) && strncmp(a, "-o", 2) == 0) {
      bo.output = a + 2;
    } else if ((is_emit || is_build) && strcmp(a, "--no-line") == 0) {
      bo.no_line = true;
    } else if (is_build && strcmp(a, "--save-temps") == 0) {
      bo.save_temps = true;
    } else if (is_build && strcmp(a, "-v") == 0) {
      bo.verbose = true;
    } else if (is_fmt && strcmp(a, "--write") == 0) {
      fmt_write = true;
    } else if (is_fmt && strcmp(a, "--check") == 0) {
      fmt_check = true;
    } else if (is_graph && strncmp(a, "--format=", 9) == 0) {
      if (strcmp(a + 9, "dot") == 0)
        o.graph = 1;
      else if (strcmp(a + 9, "mermaid") == 0)
        o.graph = 2;
      else
        return fail("invalid value in '%s': use dot or mermaid", a);
    } else if (is_graph && strcmp(a, "--format") == 0) {
      if (i + 1 >= argc)
        return fail("%s", "missing format after '--format'");
      const char *v = argv[++i];
      if (strcmp(v, "dot") == 0)
        o.graph = 1;
      else if (strcmp(v, "mermaid") == 0)
        o.graph = 2;
      else
        return fail("invalid format '%s': use dot or mermaid", v);
    } else if (strcmp(a, "--print-types") == 0) {
      o.print_types = true;
    } else if (strcmp(a, "--dump-ast") == 0) {
      o.dump_ast = true;
    } else if (strcmp(a, "-Werror") == 0) {
      o.werror = true;
    } else if (strcmp(a, "-w") == 0) {
      o.no_warnings = true;
    } else if (strcmp(a, "-Wall") == 0 || strcmp(a, "-Wextra") == 0) {
      /* every warning is on already */
    } else if (strncmp(a, "-fmax-errors=", 13) == 0) {
      char *end;
      errno = 0;
      long n = strtol(a + 13, &end, 10);
      if (errno || *end || end == a + 13 || n < 0 || n > 1000000)
        return fail("invalid value in '%s': expected a count", a);
      o.max_errors = (int)n;
    } else if (strncmp(a, "-fdiagnostics-color=", 20) == 0) {
      const char *v = a + 20;
      if (strcmp(v, "auto") == 0)
        o.color = DIAG_COLOR_AUTO;
      else if (strcmp(v, "always") == 0)
        o.color = DIAG_COLOR_ALWAYS;
      else if (strcmp(v, "never") == 0)
        o.color = DIAG_COLOR_NEVER;
      else
        return fail("invalid value in '%s': use auto, always or never", a);
    } else if (strcmp(a, "-fdiagnostics-color") == 0) {
      o.color = DIAG_COLOR_ALWAYS;
    } else if (strcmp(a, "-fno-diagnostics-color") == 0) {
      o.color = DIAG_COLOR_NEVER;
    } else if (strncmp(a, "-fdiagnostics-format=", 21) == 0) {
      const char *v = a + 21;
      if (strcmp(v, "json") == 0)
        o.json = true;
      else if (strcmp(v, "text") == 0)
        o.json = false;
      else
        return fail("invalid value in '%s': use text or json", a);
    } else if (a[0] == '-' && a[1] != 0) {
      return fail("unrecognized option '%s' (see pspfc --help)", a);
    } else if (file) {
      return fail("more than one input file ('%s')", a);
    } else {
      file = a;
    }
  }
  if (!file)
    return fail("no input file (usage: pspfc %s FILE)", cmd);

  Arena arena;
  arena_init(&arena);
  Source *src = read_source(&arena, file);
  if (!src) {
    int err = errno;
    fprintf(stderr, "pspfc: error: cannot read '%s': %s\n", file,
            strerror(err));
    arena_free(&arena);
    return 1;
  }
  int status = is_fmt ? driver_fmt(src, &arena, &o, fmt_write, fmt_check,
                                   stderr, stdout)
               : is_emit    ? driver_emit(src, &arena, &o, &bo, stderr)
               : is_build ? driver_build(src, &arena, &o, &bo, stderr)
                          : driver_check(src, &arena, &o, stderr, stdout);
  arena_free(&arena);
  return status;
}
