/*
 * literals.h -- decoding of literal token text (see literals.c). Each
 * function reports its own errors at precise columns and returns false.
 */
#ifndef PSPFC_LITERALS_H
#define PSPFC_LITERALS_H

#include "pspfc.h"

bool lit_int(Diag *d, Loc loc, const char *t, size_t n, uint64_t *out);
bool lit_float(Diag *d, Loc loc, const char *t, size_t n, double *out);
/* [t] is digits, an optional fraction and a unit: 250ms, 1.5s, 2h. */
bool lit_duration(Diag *d, Loc loc, const char *t, size_t n, uint64_t *out);
/* [t] is the text after '@'. Result in epoch milliseconds. */
bool lit_timestamp(Diag *d, Loc loc, const char *t, size_t n, int64_t *out);
/* [t] is the quoted token; the decoded bytes go into [a]. */
bool lit_string(Arena *a, Diag *d, Loc loc, const char *t, size_t n,
                const char **out, size_t *out_len);

#endif
