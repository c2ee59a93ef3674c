/*
 * builtins.h -- the stdlib functions the checker knows, with their
 * overloads. One table (builtins.c) serves the checker, the docs check
 * and, later, the code generator.
 *
 * Signatures use one letter a type: i int, f float, b bool, s string,
 * t timestamp, d duration, L [string]; a result may end in '?'
 * (optional).
 */
#ifndef PSPFC_BUILTINS_H
#define PSPFC_BUILTINS_H

#include "pspfc.h"

typedef struct Builtin {
  const char *name;   /* as written in .pspf */
  const char *params; /* parameter letters, "" for none */
  const char *result; /* result letter(s) */
  const char *doc;    /* one line for docs and --help */
} Builtin;

extern const Builtin builtins[];
extern const int builtin_count;

/* Type of a signature letter ('L' is [string]). */
Type *builtin_letter_type(Arena *a, char c);
/* Result type of overload [b]. */
Type *builtin_result(Arena *a, const Builtin *b);
/* Spells overload [b] as "name(int, float) -> float". */
const char *builtin_signature(Arena *a, const Builtin *b);

#endif
