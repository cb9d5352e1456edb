/*
 * nullfs — the smallest FUSE file system a shell loop can write files
 * into, for make bench: the FUSE bound of outboxfs. It keeps a name, an
 * inode number and a size per file and throws every byte away.
 *
 *   nullfs [-f] [-s] [-o max_threads=N,...] MOUNTPOINT
 *
 * It is mounted and run the way fs/main.c runs outboxfs, so that the
 * bound differs from outboxfs only by what outboxfs does per file: the
 * same libfuse session loop (multi-threaded unless -s, with the same
 * max_threads, max_idle_threads and clone_fd handling), the same
 * default_permissions, the same capabilities asked for in init (atomic
 * O_TRUNC, no writeback cache), no flush handler, no negative lookups
 * cached, and the entry and attribute timeouts outboxfs gives a message
 * file (1 s).
 *
 * Must never: keep file contents, or grow without bound per write (a
 * file costs one node; nodes live until the unmount).
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#define NULLFS_TTL 1.0          /* outboxfs's OPS_TTL for message files */
#define NULLFS_BUCKETS 4096

struct nullfs_node {
	fuse_ino_t ino;
	char *name;             /* NULL once unlinked */
	off_t size;
	struct timespec mtime;
	struct nullfs_node *next;   /* hash chain */
};

struct nullfs {
	pthread_mutex_t mu;
	struct nullfs_node **nodes; /* by ino - 2 */
	size_t nnodes, cap;
	struct nullfs_node *by_name[NULLFS_BUCKETS];
	uid_t uid;
	gid_t gid;
};

static struct nullfs *nullfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static unsigned nullfs_hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % NULLFS_BUCKETS;
}

/* The node of live NAME; fs->mu held. */
static struct nullfs_node *nullfs_find(struct nullfs *fs, const char *name)
{
	struct nullfs_node *n;

	for (n = fs->by_name[nullfs_hash(name)]; n; n = n->next)
		if (strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

/* The node of INO, live or unlinked; fs->mu held. */
static struct nullfs_node *nullfs_node(struct nullfs *fs, fuse_ino_t ino)
{
	if (ino < 2 || ino - 2 >= fs->nnodes)
		return NULL;
	return fs->nodes[ino - 2];
}

/* A new node for NAME; fs->mu held. NULL when out of memory. */
static struct nullfs_node *nullfs_add(struct nullfs *fs, const char *name)
{
	struct nullfs_node *n, **grown;
	unsigned h;

	if (fs->nnodes == fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 1024;

		grown = realloc(fs->nodes, cap * sizeof(*grown));
		if (grown == NULL)
			return NULL;
		fs->nodes = grown;
		fs->cap = cap;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL || (n->name = strdup(name)) == NULL) {
		free(n);
		return NULL;
	}
	n->ino = (fuse_ino_t)fs->nnodes + 2;
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	h = nullfs_hash(name);
	n->next = fs->by_name[h];
	fs->by_name[h] = n;
	fs->nodes[fs->nnodes++] = n;
	return n;
}

static void nullfs_stat(const struct nullfs *fs, fuse_ino_t ino,
    const struct nullfs_node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	if (n == NULL) {
		st->st_mode = S_IFDIR | 0700;
		st->st_nlink = 2;
		return;
	}
	st->st_mode = S_IFREG | 0600;
	st->st_nlink = n->name ? 1 : 0;
	st->st_size = n->size;
	st->st_blocks = (n->size + 511) / 512;
	st->st_mtim = n->mtime;
	st->st_ctim = n->mtime;
	st->st_atim = n->mtime;
}

static void nullfs_entry(const struct nullfs *fs, const struct nullfs_node *n,
    struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->attr_timeout = NULLFS_TTL;
	e->entry_timeout = NULLFS_TTL;
	nullfs_stat(fs, n->ino, n, &e->attr);
}

static void nullfs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static void nullfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct nullfs *fs = nullfs_of(req);
	struct fuse_entry_param e;
	struct nullfs_node *n;

	if (parent != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	pthread_mutex_lock(&fs->mu);
	n = nullfs_find(fs, name);
	if (n)
		nullfs_entry(fs, n, &e);
	pthread_mutex_unlock(&fs->mu);
	if (n == NULL)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_entry(req, &e);
}

/* Applies TO_SET of ATTR (size, mtime) to INO and replies its attributes. */
static void nullfs_attr(fuse_req_t req, fuse_ino_t ino, const struct stat *attr,
    int to_set)
{
	struct nullfs *fs = nullfs_of(req);
	struct nullfs_node *n = NULL;
	struct stat st;

	pthread_mutex_lock(&fs->mu);
	if (ino != FUSE_ROOT_ID && (n = nullfs_node(fs, ino)) == NULL) {
		pthread_mutex_unlock(&fs->mu);
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (n && (to_set & FUSE_SET_ATTR_SIZE))
		n->size = attr->st_size;
	if (n && (to_set & FUSE_SET_ATTR_MTIME))
		n->mtime = attr->st_mtim;
	nullfs_stat(fs, ino, n, &st);
	pthread_mutex_unlock(&fs->mu);
	fuse_reply_attr(req, &st, NULLFS_TTL);
}

static void nullfs_getattr(fuse_req_t req, fuse_ino_t ino,
    struct fuse_file_info *fi)
{
	(void)fi;
	nullfs_attr(req, ino, NULL, 0);
}

static void nullfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
    int to_set, struct fuse_file_info *fi)
{
	(void)fi;
	nullfs_attr(req, ino, attr, to_set);
}

static void nullfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
    mode_t mode, struct fuse_file_info *fi)
{
	struct nullfs *fs = nullfs_of(req);
	struct fuse_entry_param e;
	struct nullfs_node *n;

	(void)mode;
	if (parent != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (strlen(name) > 255) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	pthread_mutex_lock(&fs->mu);
	n = nullfs_find(fs, name);
	if (n == NULL)
		n = nullfs_add(fs, name);
	else if (fi->flags & O_TRUNC)
		n->size = 0;
	if (n)
		nullfs_entry(fs, n, &e);
	pthread_mutex_unlock(&fs->mu);
	if (n == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = 0;
	fuse_reply_create(req, &e, fi);
}

static void nullfs_open(fuse_req_t req, fuse_ino_t ino,
    struct fuse_file_info *fi)
{
	struct nullfs *fs = nullfs_of(req);
	struct nullfs_node *n;

	pthread_mutex_lock(&fs->mu);
	n = nullfs_node(fs, ino);
	if (n && (fi->flags & O_TRUNC))
		n->size = 0;
	pthread_mutex_unlock(&fs->mu);
	if (n == NULL) {
		fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
		return;
	}
	fuse_reply_open(req, fi);
}

static void nullfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
    size_t size, off_t off, struct fuse_file_info *fi)
{
	struct nullfs *fs = nullfs_of(req);
	struct nullfs_node *n;

	(void)buf;
	(void)fi;
	pthread_mutex_lock(&fs->mu);
	n = nullfs_node(fs, ino);
	if (n && off + (off_t)size > n->size)
		n->size = off + (off_t)size;
	pthread_mutex_unlock(&fs->mu);
	if (n == NULL)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_write(req, size);
}

static void nullfs_release(fuse_req_t req, fuse_ino_t ino,
    struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void nullfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct nullfs *fs = nullfs_of(req);
	struct nullfs_node **pp, *n = NULL;

	if (parent != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	pthread_mutex_lock(&fs->mu);
	for (pp = &fs->by_name[nullfs_hash(name)]; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0) {
			n = *pp;
			*pp = n->next;
			free(n->name);
			n->name = NULL;     /* its inode stays until unmount */
			break;
		}
	pthread_mutex_unlock(&fs->mu);
	fuse_reply_err(req, n ? 0 : ENOENT);
}

/* Offsets: 1 and 2 after "." and "..", then 2 + index into fs->nodes. */
static void nullfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	struct nullfs *fs = nullfs_of(req);
	struct stat st;
	char *buf;
	size_t used = 0, len;
	off_t i;

	(void)fi;
	if (ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	buf = malloc(size);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&fs->mu);
	for (i = off; ; i++) {
		const char *name;

		if (i == 0 || i == 1) {
			name = i == 0 ? "." : "..";
			st.st_ino = FUSE_ROOT_ID;
			st.st_mode = S_IFDIR;
		} else if ((size_t)(i - 2) < fs->nnodes) {
			name = fs->nodes[i - 2]->name;
			if (name == NULL)
				continue;
			st.st_ino = fs->nodes[i - 2]->ino;
			st.st_mode = S_IFREG;
		} else {
			break;
		}
		len = fuse_add_direntry(req, buf + used, size - used, name, &st,
		    i + 1);
		if (len > size - used)
			break;
		used += len;
	}
	pthread_mutex_unlock(&fs->mu);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static const struct fuse_lowlevel_ops nullfs_ops = {
	.init = nullfs_init,
	.lookup = nullfs_lookup,
	.getattr = nullfs_getattr,
	.setattr = nullfs_setattr,
	.create = nullfs_create,
	.open = nullfs_open,
	.write = nullfs_write,
	.release = nullfs_release,
	.unlink = nullfs_unlink,
	.readdir = nullfs_readdir,
};

static void nullfs_free(struct nullfs *fs)
{
	size_t i;

	for (i = 0; i < fs->nnodes; i++) {
		free(fs->nodes[i]->name);
		free(fs->nodes[i]);
	}
	free(fs->nodes);
	pthread_mutex_destroy(&fs->mu);
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts fo;
	struct fuse_loop_config *lc;
	struct fuse_session *se;
	struct nullfs fs;
	int rc = 1;

	memset(&fs, 0, sizeof(fs));
	pthread_mutex_init(&fs.mu, NULL);
	fs.uid = getuid();
	fs.gid = getgid();
	if (fuse_parse_cmdline(&args, &fo) != 0)
		goto out_args;
	if (fo.show_help || fo.show_version || fo.mountpoint == NULL) {
		fprintf(stderr, "usage: nullfs [-f] [-s] [-o OPTIONS] "
		    "MOUNTPOINT\n");
		goto out_fo;
	}
	if (fuse_opt_add_arg(&args, "-ofsname=nullfs,subtype=nullfs,"
	    "default_permissions") < 0)
		goto out_fo;
	se = fuse_session_new(&args, &nullfs_ops, sizeof(nullfs_ops), &fs);
	if (se == NULL)
		goto out_fo;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_se;
	if (fuse_session_mount(se, fo.mountpoint) != 0)
		goto out_sig;
	if (fuse_daemonize(fo.foreground) != 0)
		goto out_unmount;
	if (fo.singlethread) {
		rc = fuse_session_loop(se);
	} else {
		lc = fuse_loop_cfg_create();
		if (lc == NULL)
			goto out_unmount;
		fuse_loop_cfg_set_clone_fd(lc, (unsigned)fo.clone_fd);
		if (fo.max_idle_threads != (unsigned)-1)
			fuse_loop_cfg_set_idle_threads(lc, fo.max_idle_threads);
		fuse_loop_cfg_set_max_threads(lc, fo.max_threads > 0 &&
		    fo.max_threads <= 100000 ? fo.max_threads : 10);
		rc = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	rc = rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1;
out_unmount:
	fuse_session_unmount(se);
out_sig:
	fuse_remove_signal_handlers(se);
out_se:
	fuse_session_destroy(se);
out_fo:
	free(fo.mountpoint);
out_args:
	fuse_opt_free_args(&args);
	nullfs_free(&fs);
	return rc;
}
