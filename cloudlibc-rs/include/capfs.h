/*
 * <capfs.h>: capability-checked file access (cloudlibc-rs).
 *
 * Every path is resolved strictly beneath a directory descriptor: absolute
 * paths, ".." leaving the directory and symbolic links pointing outside fail
 * with ENOTCAPABLE, as do operations the descriptor's CloudABI rights do not
 * allow (a read-only directory cannot create, remove or rename; an
 * append-only file cannot seek or truncate). Functions return -1 and set
 * errno on failure, like their POSIX namesakes.
 *
 * Rights live in a process-wide table; a descriptor not in it has the rights
 * its open mode allows (O_RDONLY: no writing; O_WRONLY: no reading; O_APPEND:
 * no seeking or truncating; directories: every directory right). Rights are
 * checked by these functions, not by the kernel.
 */

#ifndef CAPFS_H
#define CAPFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/*
 * Linux has no ENOTCAPABLE. CloudABI's own code for it, CLOUDABI_ENOTCAPABLE
 * in <cloudabi_types.h>, is 76, which Linux already uses for ENOTUNIQ; errno
 * values here are in Linux's numbering, so this one lies outside Linux's
 * range (1 ... 133) instead. Translate it to CLOUDABI_ENOTCAPABLE when
 * converting to CloudABI's numbering.
 */
#ifndef ENOTCAPABLE
#define ENOTCAPABLE 200
#endif

/*
 * CloudABI rights (cloudabi_rights_t): what a descriptor may be used for.
 *
 * The names and values are exactly CLOUDABI_RIGHT_* from cloudabi-types'
 * <cloudabi_types.h>, and capfs_rights_t is the same type as
 * cloudabi_rights_t, so programs that include both headers can mix them.
 * They are repeated here so that this header needs nothing beyond
 * -Icloudlibc-rs/include; the crate's tests check that both headers agree.
 */
typedef uint64_t capfs_rights_t;
#define CAPFS_RIGHT_FD_DATASYNC ((capfs_rights_t)0x0000000000000001)
#define CAPFS_RIGHT_FD_READ ((capfs_rights_t)0x0000000000000002)
#define CAPFS_RIGHT_FD_SEEK ((capfs_rights_t)0x0000000000000004)
#define CAPFS_RIGHT_FD_STAT_PUT_FLAGS ((capfs_rights_t)0x0000000000000008)
#define CAPFS_RIGHT_FD_SYNC ((capfs_rights_t)0x0000000000000010)
#define CAPFS_RIGHT_FD_TELL ((capfs_rights_t)0x0000000000000020)
#define CAPFS_RIGHT_FD_WRITE ((capfs_rights_t)0x0000000000000040)
#define CAPFS_RIGHT_FILE_ADVISE ((capfs_rights_t)0x0000000000000080)
#define CAPFS_RIGHT_FILE_ALLOCATE ((capfs_rights_t)0x0000000000000100)
#define CAPFS_RIGHT_FILE_CREATE_DIRECTORY ((capfs_rights_t)0x0000000000000200)
#define CAPFS_RIGHT_FILE_CREATE_FILE ((capfs_rights_t)0x0000000000000400)
#define CAPFS_RIGHT_FILE_LINK_SOURCE ((capfs_rights_t)0x0000000000001000)
#define CAPFS_RIGHT_FILE_LINK_TARGET ((capfs_rights_t)0x0000000000002000)
#define CAPFS_RIGHT_FILE_OPEN ((capfs_rights_t)0x0000000000004000)
#define CAPFS_RIGHT_FILE_READDIR ((capfs_rights_t)0x0000000000008000)
#define CAPFS_RIGHT_FILE_READLINK ((capfs_rights_t)0x0000000000010000)
#define CAPFS_RIGHT_FILE_RENAME_SOURCE ((capfs_rights_t)0x0000000000020000)
#define CAPFS_RIGHT_FILE_RENAME_TARGET ((capfs_rights_t)0x0000000000040000)
#define CAPFS_RIGHT_FILE_STAT_FGET ((capfs_rights_t)0x0000000000080000)
#define CAPFS_RIGHT_FILE_STAT_FPUT_SIZE ((capfs_rights_t)0x0000000000100000)
#define CAPFS_RIGHT_FILE_STAT_FPUT_TIMES ((capfs_rights_t)0x0000000000200000)
#define CAPFS_RIGHT_FILE_STAT_GET ((capfs_rights_t)0x0000000000400000)
#define CAPFS_RIGHT_FILE_STAT_PUT_TIMES ((capfs_rights_t)0x0000000000800000)
#define CAPFS_RIGHT_FILE_SYMLINK ((capfs_rights_t)0x0000000001000000)
#define CAPFS_RIGHT_FILE_UNLINK ((capfs_rights_t)0x0000000002000000)
#define CAPFS_RIGHT_MEM_MAP ((capfs_rights_t)0x0000000004000000)
#define CAPFS_RIGHT_MEM_MAP_EXEC ((capfs_rights_t)0x0000000008000000)
#define CAPFS_RIGHT_POLL_FD_READWRITE ((capfs_rights_t)0x0000000010000000)
#define CAPFS_RIGHT_POLL_PROC_TERMINATE ((capfs_rights_t)0x0000000040000000)
#define CAPFS_RIGHT_PROC_EXEC ((capfs_rights_t)0x0000000100000000)
#define CAPFS_RIGHT_SOCK_SHUTDOWN ((capfs_rights_t)0x0000008000000000)

/* A directory that may only be read: open, list, stat, readlink. */
#define CAPFS_RIGHTS_DIRECTORY_READ_ONLY                                      \
  (CAPFS_RIGHT_FILE_OPEN | CAPFS_RIGHT_FILE_READDIR |                        \
   CAPFS_RIGHT_FILE_READLINK | CAPFS_RIGHT_FILE_STAT_FGET |                  \
   CAPFS_RIGHT_FILE_STAT_GET | CAPFS_RIGHT_POLL_FD_READWRITE)

/* A file that may only be read: read, seek, stat, map. */
#define CAPFS_RIGHTS_FILE_READ_ONLY                                           \
  (CAPFS_RIGHT_FD_READ | CAPFS_RIGHT_FD_SEEK | CAPFS_RIGHT_FD_TELL |          \
   CAPFS_RIGHT_FILE_ADVISE | CAPFS_RIGHT_FILE_STAT_FGET |                    \
   CAPFS_RIGHT_MEM_MAP | CAPFS_RIGHT_POLL_FD_READWRITE)

/* A file that may only be appended to: no reading, seeking or truncating. */
#define CAPFS_RIGHTS_FILE_APPEND_ONLY                                         \
  (CAPFS_RIGHT_FD_WRITE | CAPFS_RIGHT_FD_SYNC | CAPFS_RIGHT_FD_DATASYNC |     \
   CAPFS_RIGHT_FILE_STAT_FGET | CAPFS_RIGHT_POLL_FD_READWRITE)

#ifdef __cplusplus
extern "C" {
#endif

/* open(2) beneath dirfd. flags: access mode, O_CREAT, O_EXCL, O_TRUNC,
   O_APPEND, O_NOFOLLOW, O_DIRECTORY (read-only), O_CLOEXEC (always set). */
int capfs_openat(int dirfd, const char *path, int flags, unsigned int mode);
int capfs_mkdirat(int dirfd, const char *path, unsigned int mode);
/* flags: 0 or AT_SYMLINK_NOFOLLOW. */
int capfs_fstatat(int dirfd, const char *path, struct stat *st, int flags);
/* flags: 0 or AT_REMOVEDIR. */
int capfs_unlinkat(int dirfd, const char *path, int flags);
int capfs_renameat(int fromfd, const char *from, int tofd, const char *to);
int capfs_symlinkat(const char *target, int dirfd, const char *link);
ssize_t capfs_readlinkat(int dirfd, const char *path, char *buf, size_t len);

/* Calls callback(arg, name, d_type) per entry (no "." or ".."); a non-zero
   return stops the listing and is returned. */
int capfs_readdir(int dirfd, int (*callback)(void *arg, const char *name,
                                             unsigned char d_type),
                  void *arg);

/* Rights: limit (never grows) and query. */
int capfs_limit(int fd, capfs_rights_t base, capfs_rights_t inheriting);
int capfs_rights(int fd, capfs_rights_t *base, capfs_rights_t *inheriting);

/* Descriptor operations checked against the descriptor's rights. */
int64_t capfs_lseek(int fd, int64_t offset, int whence);
int capfs_ftruncate(int fd, int64_t len);
ssize_t capfs_read(int fd, void *buf, size_t len);
ssize_t capfs_write(int fd, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
