/*
 * mirror.h - mirrors: topics copied to and from a Kafka cluster
 * (daemon/mirror.c, mirror_push.c, mirror_pull.c; README "Beyond one
 * machine", docs/DESIGN.md section 8).  Internal to the daemon.
 *
 * One thread per [mirror.NAME] section, each with its own librdkafka
 * client.  A mirror calls storage's public API only, from its own thread,
 * and never stops the daemon once started: an unreachable or refusing
 * cluster is an error shown in the log, .status and the metrics, retried
 * until it goes away.
 *
 * Thread safety: mirrors_start and mirrors_stop are called by main;
 * mirrors_status and mirrors_metrics from any thread (FUSE workers, the
 * metrics thread) while the mirrors run.
 */
#ifndef TOPICFS_MIRROR_H
#define TOPICFS_MIRROR_H

#include <stdio.h>

#include "config.h"
#include "storage.h"

struct mirrors;

/* Start every mirror of cfg (cfg and st must outlive the mirrors).  Fails
 * (logged, naming the mirror) only for what no retry can fix: a client
 * setting librdkafka refuses, an unreadable sasl_password_file, the
 * checkpoint directory.  With no mirror configured *out is NULL and 0 is
 * returned. */
int mirrors_start(struct store *st, const struct tfs_config *cfg,
                  struct mirrors **out);

/* Stop the threads (a push mirror waits up to 2 s for deliveries in flight
 * and writes its checkpoint last), free.  NULL is a no-op. */
void mirrors_stop(struct mirrors *ms);

/* The .status block (fsv_status_set_tail): arg is the struct mirrors. */
void mirrors_status(FILE *f, void *arg);

/* The Prometheus families (metrics.c).  NULL writes the families empty. */
void mirrors_metrics(FILE *f, struct mirrors *ms);

#endif /* TOPICFS_MIRROR_H */
