/*
 * netcfg.h - the TCP server's settings from the daemon's configuration
 * (netcfg.c).  The one place where config.h meets net.h.
 */
#ifndef TOPICFS_NETCFG_H
#define TOPICFS_NETCFG_H

#include "config.h"
#include "net.h"

/* Fill *out from [net] and the topic defaults of a finished cfg. */
void tfs_config_srv(const struct tfs_config *cfg, struct srv_config *out);

#endif /* TOPICFS_NETCFG_H */
