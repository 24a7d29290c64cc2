/*
 * admin_acls.h - `topicfs-admin acl add|list|delete` (admin_acls.c): the
 * ACL file <data_dir>/acls, edited while the daemon runs.
 */
#ifndef TOPICFS_ADMIN_ACLS_H
#define TOPICFS_ADMIN_ACLS_H

#include <stdbool.h>
#include <stddef.h>

/* argv[0] = "acl", argv[1] = add | delete | list, then kafka-acls' flags.
 * The configuration is built as topicfs-admin builds it.  Returns the
 * exit status: 0 done, 1 failed, 2 usage or configuration error. */
int admin_acls_main(const char *config, const char *data_dir,
                    const char *const *sets, size_t nsets, int argc,
                    char **argv, bool quiet);

#endif /* TOPICFS_ADMIN_ACLS_H */
