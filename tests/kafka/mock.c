/*
 * mock.c -- pspf-kafka-mock: a Kafka cluster for the tests, librdkafka's
 * own mock cluster (rdkafka_mock.h), in a process of its own so that it
 * outlives the programs under test (and their kill -9).
 *
 *   pspf-kafka-mock [-b BROKERS] [-t TOPIC:PARTITIONS]...
 *
 * Creates the cluster (BROKERS brokers, default 1) and the topics, prints
 * the bootstrap servers ("127.0.0.1:port,...") on a line of standard
 * output, and runs until SIGTERM or SIGINT. It talks the real Kafka
 * protocol on loopback; see ../../../shared/ecosystem.md for what the mock
 * does and does not do (no hiding of aborted transactions, 5 MiB a
 * partition).
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t done;
static void on_signal(int sig) {
  (void)sig;
  done = 1;
}

int main(int argc, char **argv) {
  int brokers = 1;
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], "-b") == 0)
      brokers = atoi(argv[++i]);
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "pspf-kafka-mock: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) {
    fprintf(stderr, "pspf-kafka-mock: cannot make the mock cluster\n");
    return 1;
  }
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "-t") != 0)
      continue;
    char *spec = argv[++i], *colon = strchr(spec, ':');
    int parts = colon ? atoi(colon + 1) : 4;
    if (colon)
      *colon = 0;
    if (rd_kafka_mock_topic_create(mc, spec, parts, 1) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      fprintf(stderr, "pspf-kafka-mock: cannot create topic %s\n", spec);
      return 1;
    }
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);
  while (!done)
    pause();
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
