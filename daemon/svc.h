/*
 * svc.h - running topicfs as a service (svc.c): the mount-helper option
 * split and the systemd readiness protocol.  Internal to the daemon.
 */
#ifndef TOPICFS_SVC_H
#define TOPICFS_SVC_H

#include <stdbool.h>
#include <stddef.h>

/* What one -o OPT[,OPT...] argument holds, split into the topicfs part and
 * the FUSE part.  See svc.c for the rules.  Every string is owned. */
struct svc_mount_opts {
	char *fuse;             /* options for FUSE, comma-joined; NULL if none */
	char *config;           /* config=FILE; NULL if absent */
	char **sets;            /* "SECTION.KEY=VALUE" assignments, in order */
	size_t nsets;
};

/* Split opts (the argument of one -o) into *out (zeroed first).  0,
 * -ENOMEM, or -EINVAL with a message in err (an empty config=). */
int svc_mount_opts_split(const char *opts, struct svc_mount_opts *out,
                         char *err, size_t errlen);
void svc_mount_opts_free(struct svc_mount_opts *o);

/* Send one sd_notify(3) message ("READY=1", "STOPPING=1", ...) to the
 * datagram socket named by $NOTIFY_SOCKET.  0 when sent or when the
 * variable is unset (not under systemd), -errno otherwise.  Thread-safe. */
int svc_sd_notify(const char *state);

#endif /* TOPICFS_SVC_H */
