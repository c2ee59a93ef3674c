/*
 * builtins.c -- the stdlib function table (see builtins.h). Each overload
 * is one row; rows of one name stand together.
 */
#include <string.h>

#include "builtins.h"

const Builtin builtins[] = {
    /* strings */
    {"len", "s", "i", "number of characters (code points) in a string"},
    {"lower", "s", "s", "lower-case (ASCII letters)"},
    {"upper", "s", "s", "upper-case (ASCII letters)"},
    {"trim", "s", "s", "drop leading and trailing white space"},
    {"split", "ss", "L", "split at each occurrence of a separator"},
    {"contains", "ss", "b", "true if the second string occurs in the first"},
    {"starts_with", "ss", "b", "true if the string starts with the prefix"},
    {"ends_with", "ss", "b", "true if the string ends with the suffix"},
    {"substr", "sii", "s", "substring from a start and of a length, in characters"},
    {"substr", "si", "s", "substring from a start to the end, in characters"},
    {"replace", "sss", "s", "replace every occurrence of a string"},
    /* numbers */
    {"abs", "i", "i", "absolute value"},
    {"abs", "f", "f", "absolute value"},
    {"abs", "d", "d", "absolute value"},
    {"min", "ii", "i", "the smaller"},
    {"min", "ff", "f", "the smaller"},
    {"min", "tt", "t", "the earlier"},
    {"min", "dd", "d", "the shorter"},
    {"min", "ss", "s", "the first in byte order"},
    {"max", "ii", "i", "the larger"},
    {"max", "ff", "f", "the larger"},
    {"max", "tt", "t", "the later"},
    {"max", "dd", "d", "the longer"},
    {"max", "ss", "s", "the last in byte order"},
    {"round", "f", "f", "nearest integral value, halves away from zero"},
    {"floor", "f", "f", "largest integral value not above"},
    {"ceil", "f", "f", "smallest integral value not below"},
    {"sqrt", "f", "f", "square root"},
    {"pow", "ff", "f", "first to the power of the second"},
    {"int", "f", "i", "truncate toward zero (out of range: bad record)"},
    {"int", "i", "i", "the same int"},
    {"int", "b", "i", "1 for true, 0 for false"},
    {"int", "t", "i", "milliseconds since the epoch"},
    {"int", "d", "i", "milliseconds"},
    {"float", "i", "f", "the nearest double"},
    {"float", "f", "f", "the same float"},
    {"parse_int", "s", "i?", "decimal integer, or none"},
    {"parse_float", "s", "f?", "decimal float, or none"},
    {"to_string", "i", "s", "decimal text"},
    {"to_string", "f", "s", "shortest text that reads back the same"},
    {"to_string", "b", "s", "true or false"},
    {"to_string", "s", "s", "the same string"},
    {"to_string", "t", "s", "RFC 3339 UTC with milliseconds"},
    {"to_string", "d", "s", "duration literal such as 1500ms"},
    /* time */
    {"timestamp", "i", "t", "the time that many milliseconds after the epoch"},
    {"duration", "i", "d", "that many milliseconds"},
    {"format_time", "t", "s", "RFC 3339 UTC with milliseconds"},
    {"format_time", "ts", "s", "strftime-style format, UTC (%Y-%m-%d ...)"},
    {"parse_time", "s", "t?", "RFC 3339 text or epoch milliseconds, or none"},
    {"parse_time", "ss", "t?", "text in a strptime-style format, UTC, or none"},
    {"truncate", "td", "t", "round a time down to a multiple of a duration"},
    /* hashing */
    {"hash", "i", "i", "64-bit FNV-1a hash of the value, stable across runs"},
    {"hash", "s", "i", "64-bit FNV-1a hash of the value, stable across runs"},
    {"hash", "b", "i", "64-bit FNV-1a hash of the value, stable across runs"},
    {"hash", "t", "i", "64-bit FNV-1a hash of the value, stable across runs"},
    {"hash", "d", "i", "64-bit FNV-1a hash of the value, stable across runs"},
    {"hash", "f", "i", "64-bit FNV-1a hash of the value, stable across runs"},
};

const int builtin_count = sizeof builtins / sizeof builtins[0];

Type *builtin_letter_type(Arena *a, char c) {
  switch (c) {
  case 'i':
    return &ty_int;
  case 'f':
    return &ty_float;
  case 'b':
    return &ty_bool;
  case 's':
    return &ty_string;
  case 't':
    return &ty_timestamp;
  case 'd':
    return &ty_duration;
  case 'L':
    return type_list(a, &ty_string);
  }
  return &ty_error;
}

Type *builtin_result(Arena *a, const Builtin *b) {
  Type *t = builtin_letter_type(a, b->result[0]);
  if (b->result[1] == '?')
    t = type_optional(a, t);
  return t;
}

const char *builtin_signature(Arena *a, const Builtin *b) {
  const char *s = arena_printf(a, "%s(", b->name);
  for (const char *p = b->params; *p; p++)
    s = arena_printf(a, "%s%s%s", s, p == b->params ? "" : ", ",
                     type_str(a, builtin_letter_type(a, *p)));
  return arena_printf(a, "%s) -> %s", s, type_str(a, builtin_result(a, b)));
}
