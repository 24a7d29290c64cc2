/*
 * netcfg.c - the TCP server's settings derived from the daemon's
 * configuration ([net] and the topic defaults).  Kept out of config.c so
 * that the configuration itself depends on storage/ only (topicfs-admin
 * links it without the server).
 */
#include <stdio.h>

#include "netcfg.h"

/* config.h and net.h spell the same enums (config knows nothing of net) */
_Static_assert((int)TFS_SEC_PLAINTEXT == (int)SRV_SEC_PLAINTEXT &&
               (int)TFS_SEC_SSL == (int)SRV_SEC_SSL &&
               (int)TFS_SEC_SASL_PLAINTEXT == (int)SRV_SEC_SASL_PLAINTEXT &&
               (int)TFS_SEC_SASL_SSL == (int)SRV_SEC_SASL_SSL,
               "security protocols agree");
_Static_assert((int)TFS_CLIENT_AUTH_NONE == (int)SRV_CLIENT_AUTH_NONE &&
               (int)TFS_CLIENT_AUTH_REQUESTED == (int)SRV_CLIENT_AUTH_REQUESTED &&
               (int)TFS_CLIENT_AUTH_REQUIRED == (int)SRV_CLIENT_AUTH_REQUIRED,
               "client_auth values agree");

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
	/* [net] listeners (cfg->lst: also the one of [net] listen when that
	 * is empty) and [tls] */
	out->nlisteners = 0;
	for (size_t i = 0; cfg->listeners[0] && i < cfg->nlst &&
	     i < SRV_MAX_LISTENERS; i++) {
		struct srv_listener_config *l = &out->listeners[out->nlisteners++];
		l->sec = (enum srv_sec_proto)cfg->lst[i].proto;
		snprintf(l->host, sizeof l->host, "%s", cfg->lst[i].host);
		l->port = cfg->lst[i].port;
		snprintf(l->advertised_host, sizeof l->advertised_host, "%s",
		         cfg->adv[i].host);
		l->advertised_port = cfg->adv[i].host[0] ? cfg->adv[i].port : 0;
		out->sasl_listener |= l->sec == SRV_SEC_SASL_PLAINTEXT ||
		                      l->sec == SRV_SEC_SASL_SSL;
	}
	snprintf(out->tls.cert_file, sizeof out->tls.cert_file, "%s",
	         cfg->tls_cert_file);
	snprintf(out->tls.key_file, sizeof out->tls.key_file, "%s",
	         cfg->tls_key_file);
	snprintf(out->tls.ca_file, sizeof out->tls.ca_file, "%s",
	         cfg->tls_ca_file);
	out->tls.client_auth = (enum srv_client_auth)cfg->tls_client_auth;
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
