/*
 * netcfg.c - the TCP server's settings derived from the daemon's
 * configuration ([net] and the topic defaults).  Kept out of config.c so
 * that the configuration itself depends on storage/ only (topicfs-admin
 * links it without the server).
 */
#include <stdio.h>

#include "netcfg.h"

/* The TCP server's settings, from [net] (cfg is finished). */
void tfs_config_srv(const struct tfs_config *cfg, struct srv_config *out)
{
	char host[256];
	int port;

	srv_config_defaults(out);
	if (tfs_parse_hostport(cfg->listen, true, host, sizeof host, &port) == 0) {
		snprintf(out->listen_host, sizeof out->listen_host, "%s", host);
		out->listen_port = port;
	}
	out->advertised_host[0] = '\0';
	out->advertised_port = 0;
	if (cfg->advertised_host[0] &&
	    tfs_parse_hostport(cfg->advertised_host, false, host, sizeof host, &port) == 0) {
		snprintf(out->advertised_host, sizeof out->advertised_host, "%s", host);
		out->advertised_port = port < 0 ? 0 : port;
	}
	out->max_connections = cfg->max_connections;
	out->max_request_bytes = cfg->max_request_bytes;
	out->idle_timeout_ms = (int)cfg->idle_timeout_ms;
	out->request_timeout_ms = (int)cfg->request_timeout_ms;
	out->auto_create_topics = cfg->auto_create_topics;
	out->queued_max_request_bytes = cfg->queued_max_request_bytes;
	out->auto_create_max_per_request = cfg->auto_create_max_per_request;
	out->auto_create_max_topics = cfg->auto_create_max_topics;
	out->allow_wildcard_bind = cfg->allow_wildcard_bind;
	out->message_timestamp_after_max_ms = cfg->message_timestamp_after_max_ms;
	out->allow_delete = cfg->allow_delete;
	out->topic_defaults = cfg->topic_defaults;
	out->group_max_members = cfg->group_max_members;
	out->group_initial_rebalance_delay_ms = (int)cfg->group_initial_rebalance_delay_ms;
	out->group_min_session_timeout_ms = (int)cfg->group_min_session_timeout_ms;
	out->group_max_session_timeout_ms = (int)cfg->group_max_session_timeout_ms;
	snprintf(out->sasl_mechanisms, sizeof out->sasl_mechanisms, "%s",
	         cfg->sasl_mechanisms);
	snprintf(out->sasl_users_file, sizeof out->sasl_users_file, "%s",
	         cfg->sasl_users_file);
	snprintf(out->sasl_super_users, sizeof out->sasl_super_users, "%s",
	         cfg->sasl_super_users);
	out->sasl_failed_delay_ms = (int)cfg->sasl_failed_delay_ms;
}
