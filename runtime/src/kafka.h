/*
 * kafka.h -- private: what group.c (--scale-out) takes from kafka.c, a
 * Kafka sink of one partition's task.
 */
#ifndef PSPF_KAFKA_INT_H
#define PSPF_KAFKA_INT_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "pspf/rt.h"

/* Sets the [n] (name, value) pairs of [set] on [conf]; false (why in
 * [err]) at the first one refused. */
bool kafka_conf_set_all(rd_kafka_conf_t *conf, const char *const (*set)[2],
                        size_t n, char *err, size_t errlen);

/* How many partitions [topic] has, asked of the cluster through [rk]
 * until it says or the retry limit passes; -1 with why in [why]. */
int kafka_partitions(rd_kafka_t *rk, const char *topic, char *why,
                     size_t whylen);

/* The checkpoint a commit journal line says committed
 * ("checkpoint=N ..." or "close after=N ..."), or 0. */
uint64_t kafka_journal_id(const char *line);

/* Where a sink's commit journal lines go instead of a file: [sink]'s
 * line of [n] bytes (ending in a newline). 0, or -1. */
typedef int (*kafka_journal_fn)(void *arg, const char *sink, const char *line,
                                size_t n);

/* Opens kafka sink [s] for one partition's task: [id] is its
 * transactional id (so a new owner of the partition fences off the old
 * one), client id and the group its checkpoint ids are committed to; its
 * commit journal is in [dir], or, given [journal], goes to it. The task's
 * thread polls it. Returns 0 or PSPF_EIO (logged, ctx stopping). */
int kafka_task_sink_open(pspf_ctx_t *ctx, pspf_sink_t *s, const char *id,
                         const char *dir, kafka_journal_fn journal,
                         void *journal_arg);

/* Sink [s]'s records were restored from a checkpoint after it opened:
 * they are what its transactions committed. */
void kafka_task_sink_restored(pspf_sink_t *s);

/* The newest checkpoint of [dir] whose transaction sink [s] (with [id])
 * is known to have committed: by its journal in [dir] (NULL: none), or
 * by the checkpoint id committed with the transaction as the offset of
 * group [id] (a real broker keeps it; the mock cluster does not). */
uint64_t kafka_task_committed(pspf_ctx_t *ctx, pspf_sink_t *s, const char *id,
                              const char *dir);

/* Produces [n] bytes at [p] with [key] to partition [partition] of
 * task sink [s]'s topic, in its transaction (a repartition topic's). */
void kafka_task_produce_to(pspf_ctx_t *ctx, pspf_sink_t *s, int partition,
                           const void *p, size_t n, const void *key,
                           size_t keylen);

#endif
