/*
 * fuzz_check.c -- libFuzzer target for the whole front end.
 *
 * Each input is a .pspf program (any bytes: NULs, invalid UTF-8, ...). It
 * goes through source_from_string and driver_check -- lexer, parser with
 * error recovery, checker, diagnostics -- twice:
 *
 *   1. no error limit (max_errors 0), text diagnostics, with the AST dump
 *      and the typed-chain listing requested (they only print when clean);
 *   2. the CLI's default limit (max_errors 20), JSON diagnostics, -Werror.
 *
 * Diagnostics and listings go to /dev/null; colour is never on. Every
 * allocation is released after each run (the compiler's memory lives in
 * one arena), so LeakSanitizer can flag anything that escapes it.
 *
 *   make            # build/gen/{parse,lex}.c
 *   make fuzz FUZZ_SECONDS=600
 *   build/fuzz/fuzz_check -dict=tests/fuzz/pspf.dict CORPUS tests/fuzz/corpus
 *   build/fuzz/fuzz_check tests/fuzz/crashes/FILE      # replay one input
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "pspfc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull(void) {
  static FILE *f;
  if (!f) {
    f = fopen("/dev/null", "w");
    if (!f) {
      perror("fuzz_check: /dev/null");
      abort();
    }
  }
  return f;
}

static void run(const uint8_t *data, size_t size, int max_errors, bool json,
                bool werror, bool listings) {
  Arena arena;
  arena_init(&arena);
  Source *src =
      source_from_string(&arena, "fuzz.pspf", (const char *)data, size);
  Options o;
  options_init(&o);
  o.color = DIAG_COLOR_NEVER;
  o.max_errors = max_errors;
  o.json = json;
  o.werror = werror;
  o.print_types = listings;
  o.dump_ast = listings;
  int status = driver_check(src, &arena, &o, devnull(), devnull());
  if (status != 0 && status != 1) {
    fprintf(stderr, "fuzz_check: driver_check returned %d\n", status);
    abort();
  }
  arena_free(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Source offsets are 32-bit; the CLI refuses files of 2 GiB and more. */
  if (size >= ((size_t)1 << 31))
    return 0;
  run(data, size, 0, false, false, true);
  run(data, size, 20, true, true, false);
  return 0;
}
