/*
 * changelog.h -- private: --state-store=kafka, a partition's checkpoints
 * and commit journals kept in a compacted Kafka topic instead of a shared
 * directory (the Kafka Streams approach). group.c drives it.
 *
 * Partition P of the changelog topic (GROUP-changelog) belongs to
 * partition P of the input. It holds two kinds of message, both
 * produced by the task's own idempotent producer (not in its sinks'
 * transactions: like a file of the directory store, a checkpoint is
 * durable before the sinks commit with it):
 *
 *   key "ckpt-O-S-I"   chunk I of a checkpoint of owner O (8 hex digits,
 *                      drawn by each task: a fenced former owner's late
 *                      chunks cannot take the place of the new owner's)
 *                      in slot S (0 or 1: a task writes to the slot that
 *                      does not hold its last committed checkpoint, and
 *                      turns to the other one only after a commit;
 *                      compaction keeps both; a new owner deletes the
 *                      keys it found once it has committed); the
 *                      value is u64 id, u32 I, u32 chunks (little-endian)
 *                      then up to 900 KB of the checkpoint file's bytes
 *   key "journal-SINK" a line of sink SINK's commit journal (kafka.c),
 *                      written after its transaction committed
 */
#ifndef PSPF_CHANGELOG_H
#define PSPF_CHANGELOG_H

#include <stdbool.h>
#include <stdint.h>

#include "pspf/rt.h"

typedef struct cl_s cl_t;

/* What a partition's changelog holds: its whole checkpoints, newest
 * first, and the newest committed checkpoint of each sink's journal. */
typedef struct cl_found_s {
  int n;                /* checkpoints */
  uint64_t *ids;        /* their ids */
  char **bytes;         /* each checkpoint file's bytes (malloc'd) */
  size_t *sizes;
  int *slots;           /* ... and the slot each is in */
  uint64_t max_id;      /* the newest checkpoint id seen, whole or not */
  char **stale;         /* every checkpoint key read (to delete later) */
  int nstale;
  int njournals;
  char (*sinks)[128];   /* a sink's name ... */
  uint64_t *committed;  /* ... and the newest checkpoint it committed */
} cl_found_t;

/* The changelog of partition [part] of [topic] (GROUP-changelog), with
 * its producer; NULL (logged) on failure. */
cl_t *cl_open(pspf_ctx_t *ctx, const char *brokers, const char *topic,
              int part, const char *client_id);
/* Checkpoint file [image] (id [id]) into slot [slot] (0 or 1) of the
 * changelog, acknowledged by the broker. 0, or -1 (logged). */
int cl_put_checkpoint(cl_t *c, uint32_t owner, uint64_t id, int slot,
                      const pspf_buf_t *image);
/* Deletes (tombstones) the checkpoint keys [f] read, and forgets them:
 * for a new owner, after its first commit. 0, or -1 (logged). */
int cl_drop_keys(cl_t *c, cl_found_t *f);
/* A line of sink [sink]'s commit journal. 0, or -1 (logged). */
int cl_put_journal(cl_t *c, const char *sink, const char *line, size_t n);
/* Reads the partition's changelog to its end. 0, or -1 (logged). */
int cl_read(cl_t *c, cl_found_t *out);
/* The newest checkpoint sink [sink]'s journal says committed, or 0. */
uint64_t cl_committed(const cl_found_t *f, const char *sink);
void cl_found_free(cl_found_t *f);
void cl_close(cl_t *c);

/* Makes topic [topic] ([parts] partitions; [compact]ed) unless it is
 * there with at least that many. 0, or -1 (logged). */
int cl_create_topic(pspf_ctx_t *ctx, const char *brokers, const char *topic,
                    int parts, bool compact);

#endif
