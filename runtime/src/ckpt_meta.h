/*
 * ckpt_meta.h -- private: the META, SOURCE and SINK payloads of a
 * checkpoint (checkpoint.h), decoded. rt.c writes them and restores from
 * them; pspf_ckpt_inspect() prints them.
 *
 *   META:   str name, u64 n, n x (str layout, str where), u64 records_in,
 *           u64 bad, u64 late, str dead-letter path, u64 its length
 *   SOURCE: str name, str path, bool ended, u64 records, str csv header,
 *           u64 n, n x (i64 partition, i64 offset)
 *   SINK:   str name, str kind, str path, u64 position, u64 records
 */
#ifndef PSPF_CKPT_META_H
#define PSPF_CKPT_META_H

#include "pspf/checkpoint.h"

typedef struct ck_meta_s {
  pspf_str_t name;
  size_t nlayout;
  pspf_str_t *layout; /* malloc'd: nlayout descriptions */
  pspf_str_t *where;  /* malloc'd: nlayout source places */
  uint64_t records_in, bad, late;
  pspf_str_t dead_path;
  uint64_t dead_len;
} ck_meta_t;

typedef struct ck_source_s {
  pspf_str_t name, path, header;
  bool ended;
  uint64_t records;
  size_t npos;
  int64_t partition[64], offset[64]; /* the first 64 positions */
} ck_source_t;

typedef struct ck_sink_s {
  pspf_str_t name, kind, path;
  uint64_t position, records;
} ck_sink_t;

/* Each returns NULL, or why the payload does not read back. */
const char *ck_meta_read(const pspf_ckpt_section_t *s, ck_meta_t *m);
void ck_meta_free(ck_meta_t *m);
const char *ck_source_read(const pspf_ckpt_section_t *s, ck_source_t *src);
const char *ck_sink_read(const pspf_ckpt_section_t *s, ck_sink_t *sk);

#endif
