/*
 * io.h -- record-level text formats: splitting input blocks into records,
 * reading CSV fields and JSON objects, and writing escaped output.
 *
 * Everything here works on slices of a caller's buffer and allocates only
 * through the caller's pspf_buf_t, so generated readers can parse records
 * in place (strings stay slices of the input until they must outlive it).
 */
#ifndef PSPF_IO_H
#define PSPF_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>

#include "pspf/pspf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A string slice: [p] is not NUL-terminated. */
typedef struct pspf_str_s {
  const char *p; /* first byte */
  size_t n;      /* length in bytes */
} pspf_str_t;

/* A growable byte buffer; used for output and for unescaped text. */
typedef struct pspf_buf_s {
  char *p;    /* bytes; owned */
  size_t n;   /* used */
  size_t cap; /* allocated */
} pspf_buf_t;

/* Appends [n] bytes of [p] to [b]. Returns 0 or PSPF_ENOMEM. */
PSPF_EXTERN int pspf_buf_add(pspf_buf_t *b, const void *p, size_t n);
/* Makes room for [n] more bytes and returns where they go (the caller then
 * adds to b->n), or NULL on PSPF_ENOMEM. */
PSPF_EXTERN char *pspf_buf_reserve(pspf_buf_t *b, size_t n);
/* Frees [b]'s memory; [b] may be reused after. */
PSPF_EXTERN void pspf_buf_free(pspf_buf_t *b);

/* ---- splitting input into records ---------------------------------- */

/* How records are delimited. */
typedef enum pspf_framing_e {
  PSPF_FRAME_LINES, /* one record a line (json, lines) */
  PSPF_FRAME_CSV    /* a line, but newlines inside "quotes" do not end it */
} pspf_framing_t;

/* Finds the end of the next record in [p, p+n). Returns the length of the
 * record (without its line ending) and sets [*consumed] to the bytes to
 * skip (with the line ending); returns -1 if the record is not complete
 * in the slice (at end of input, call again with [at_eof] true, which
 * takes the rest as the last record). A trailing '\r' is dropped. */
PSPF_EXTERN long pspf_next_record(const char *p, size_t n, pspf_framing_t f,
                                  bool at_eof, size_t *consumed);

/* ---- CSV (RFC 4180) ------------------------------------------------ */

/* pspf_next_record() for CSV that also splits the record at [delim] in
 * the same pass, into f[0..], at most [max] fields: *nf is the number of
 * fields (max + 1 if there are more), or -1 if the record holds a quote
 * (then read its fields with pspf_csv_next). */
PSPF_EXTERN long pspf_csv_frame(const char *p, size_t n, char delim,
                                bool at_eof, size_t *consumed, pspf_str_t *f,
                                int max, int *nf);

/* Iterates the fields of one CSV record. */
typedef struct pspf_csv_s {
  const char *p;  /* the rest of the record */
  size_t n;       /* bytes left */
  char delim;     /* field separator */
  bool done;      /* the last field has been returned */
  bool quotes;    /* the record holds a '"' somewhere */
} pspf_csv_t;

PSPF_EXTERN void pspf_csv_init(pspf_csv_t *c, const char *p, size_t n,
                               char delim);
/* Returns the next field in [*out]: 1 if there was one, 0 at the end,
 * PSPF_EBADREC for a malformed quoted field. Quoted fields with "" inside
 * are unescaped into [scratch] (which must not move while [*out] is in
 * use: reserve it for the record's length first). */
PSPF_EXTERN int pspf_csv_next(pspf_csv_t *c, pspf_buf_t *scratch,
                              pspf_str_t *out);
/* The fast path for a record without quotes (most are): splits it at
 * [delim] into f[0..], at most [max] fields, in one vectorized pass.
 * Returns the number of fields, max + 1 if there are more, or -1 if the
 * record holds a '"' (then read it with pspf_csv_next). */
PSPF_EXTERN int pspf_csv_split(const char *p, size_t n, char delim,
                               pspf_str_t *f, int max);
/* Appends [s] as one CSV field, quoted when it holds [delim], a quote, or
 * a line break. */
PSPF_EXTERN int pspf_csv_write_field(pspf_buf_t *b, const char *p, size_t n,
                                     char delim);

/* ---- JSON ------------------------------------------------------------ */

/* The kinds of JSON values the scanner reports. */
typedef enum pspf_json_kind_e {
  PSPF_JSON_NULL,
  PSPF_JSON_BOOL,
  PSPF_JSON_NUMBER,
  PSPF_JSON_STRING,
  PSPF_JSON_OBJECT,
  PSPF_JSON_ARRAY
} pspf_json_kind_t;

/* Iterates the members of one JSON object, as slices of the input. */
typedef struct pspf_json_s {
  const char *p;   /* the rest of the text */
  const char *end; /* end of the text */
  bool first;      /* no member read yet */
} pspf_json_t;

/* Starts on the object in [p, p+n); PSPF_EBADREC if it is not one. */
PSPF_EXTERN int pspf_json_begin(pspf_json_t *j, const char *p, size_t n);
/* Reads the next member: [*key] is the raw key (escapes not decoded),
 * [*val] the raw value text, [*kind] its kind. Returns 1, 0 at the end of
 * the object, or PSPF_EBADREC. */
PSPF_EXTERN int pspf_json_next(pspf_json_t *j, pspf_str_t *key,
                               pspf_str_t *val, pspf_json_kind_t *kind);
/* The generated readers' way through an object, converting each value
 * as it is met: pspf_json_key() reads the next member's key (1), or the
 * end of the object (0), or fails (PSPF_EBADREC), and leaves the value
 * next; then one of pspf_json_int() (a plain integer of up to 18 digits),
 * pspf_json_str() (a string) or pspf_json_value() (any value, as raw
 * text) reads it. pspf_json_int() and pspf_json_str() return 0 and read
 * nothing when the value is something else: use pspf_json_value(). */
PSPF_EXTERN int pspf_json_key(pspf_json_t *j, pspf_str_t *key);
/* The fast way to the next key when the reader can guess it (members
 * usually come in their declared order): true, and the value next, if
 * the next member's key is exactly [lit] ("\"name\":", n bytes); false,
 * reading nothing, otherwise (then use pspf_json_key). */
static inline bool pspf_json_key_is(pspf_json_t *j, const char *lit,
                                    size_t n) {
  const char *p = j->p, *end = j->end;
  if (!j->first) {
    if (p >= end || *p != ',')
      return false;
    p++;
  }
  if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0)
    return false;
  p += n;
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    p++;
  j->p = p;
  j->first = false;
  return true;
}
PSPF_EXTERN int pspf_json_int(pspf_json_t *j, int64_t *out);
PSPF_EXTERN int pspf_json_str(pspf_json_t *j, pspf_buf_t *scratch,
                              pspf_str_t *out);
PSPF_EXTERN int pspf_json_value(pspf_json_t *j, pspf_str_t *val,
                                pspf_json_kind_t *kind);
/* Decodes a raw JSON string value (with its quotes) into [out]: a slice of
 * the input when it has no escapes, else unescaped into [scratch]. */
PSPF_EXTERN int pspf_json_string(pspf_str_t raw, pspf_buf_t *scratch,
                                 pspf_str_t *out);
/* Appends [p, p+n) as a JSON string with quotes and escapes. */
PSPF_EXTERN int pspf_json_write_string(pspf_buf_t *b, const char *p,
                                       size_t n);

#ifdef __cplusplus
}
#endif

#endif /* PSPF_IO_H */
