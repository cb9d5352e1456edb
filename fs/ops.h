/*
 * ops — the FUSE low-level operations of the outbox. The session's
 * userdata is the struct ob.
 */
#ifndef OUTBOXFS_OPS_H
#define OUTBOXFS_OPS_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 35
#endif
#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops ops_ops;

#endif
