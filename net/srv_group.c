/*
 * srv_group.c - the group coordinator: membership of consumer groups
 * (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups,
 * DeleteGroups) and the checks OffsetCommit asks of it.
 *
 * SKELETON: no membership yet; being written for issue 13.
 *
 * Thread-safety: server thread only.
 */
#include <stdint.h>
#include <string.h>

#include "srv_internal.h"

int srv_group_init(struct srv *s)
{
	s->grp = NULL;
	return 0;
}

void srv_group_free(struct srv *s)
{
	s->grp = NULL;
}

void srv_group_conn_closed(struct srv *s, struct srv_conn *c, uint64_t serial)
{
	(void)s; (void)c; (void)serial;
}

int64_t srv_group_tick(struct srv *s, int64_t now_ms)
{
	(void)s; (void)now_ms;
	return INT64_MAX;
}

int srv_group_commit_check(struct srv *s, const char *group, const char *member,
                           int32_t generation, const char *instance_id)
{
	(void)s; (void)group; (void)instance_id;
	if (generation == -1 && (!member || !member[0]))
		return KERR_NONE;
	return KERR_UNKNOWN_MEMBER_ID;
}

bool srv_group_subscribes(struct srv *s, const char *group, const char *topic)
{
	(void)s; (void)group; (void)topic;
	return false;
}
