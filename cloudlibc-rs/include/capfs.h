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
 * Linux has no ENOTCAPABLE; CloudABI's is 76, which Linux uses for ENOTUNIQ.
 * This value lies outside Linux's errno range (1 ... 133).
 */
#ifndef ENOTCAPABLE
#define ENOTCAPABLE 200
#endif

/* CloudABI rights bits (cloudabi_rights_t). */
typedef uint64_t capfs_rights_t;
#define CAPFS_RIGHT_FD_DATASYNC ((capfs_rights_t)1 << 0)
#define CAPFS_RIGHT_FD_READ ((capfs_rights_t)1 << 1)
#define CAPFS_RIGHT_FD_SEEK ((capfs_rights_t)1 << 2)
#define CAPFS_RIGHT_FD_STAT_PUT_FLAGS ((capfs_rights_t)1 << 3)
#define CAPFS_RIGHT_FD_SYNC ((capfs_rights_t)1 << 4)
#define CAPFS_RIGHT_FD_TELL ((capfs_rights_t)1 << 5)
#define CAPFS_RIGHT_FD_WRITE ((capfs_rights_t)1 << 6)
#define CAPFS_RIGHT_FILE_ADVISE ((capfs_rights_t)1 << 7)
#define CAPFS_RIGHT_FILE_ALLOCATE ((capfs_rights_t)1 << 8)
#define CAPFS_RIGHT_FILE_CREATE_DIRECTORY ((capfs_rights_t)1 << 9)
#define CAPFS_RIGHT_FILE_CREATE_FILE ((capfs_rights_t)1 << 10)
#define CAPFS_RIGHT_FILE_CREATE_FIFO ((capfs_rights_t)1 << 11)
#define CAPFS_RIGHT_FILE_LINK_SOURCE ((capfs_rights_t)1 << 12)
#define CAPFS_RIGHT_FILE_LINK_TARGET ((capfs_rights_t)1 << 13)
#define CAPFS_RIGHT_FILE_OPEN ((capfs_rights_t)1 << 14)
#define CAPFS_RIGHT_FILE_READDIR ((capfs_rights_t)1 << 15)
#define CAPFS_RIGHT_FILE_READLINK ((capfs_rights_t)1 << 16)
#define CAPFS_RIGHT_FILE_RENAME_SOURCE ((capfs_rights_t)1 << 17)
#define CAPFS_RIGHT_FILE_RENAME_TARGET ((capfs_rights_t)1 << 18)
#define CAPFS_RIGHT_FILE_STAT_FGET ((capfs_rights_t)1 << 19)
#define CAPFS_RIGHT_FILE_STAT_FPUT_SIZE ((capfs_rights_t)1 << 20)
#define CAPFS_RIGHT_FILE_STAT_FPUT_TIMES ((capfs_rights_t)1 << 21)
#define CAPFS_RIGHT_FILE_STAT_GET ((capfs_rights_t)1 << 22)
#define CAPFS_RIGHT_FILE_STAT_PUT_TIMES ((capfs_rights_t)1 << 23)
#define CAPFS_RIGHT_FILE_SYMLINK ((capfs_rights_t)1 << 24)
#define CAPFS_RIGHT_FILE_UNLINK ((capfs_rights_t)1 << 25)

/* A directory that may only be read: open, list, stat, readlink. */
#define CAPFS_RIGHTS_DIRECTORY_READ_ONLY                                    \
  (CAPFS_RIGHT_FILE_OPEN | CAPFS_RIGHT_FILE_READDIR |                      \
   CAPFS_RIGHT_FILE_READLINK | CAPFS_RIGHT_FILE_STAT_FGET |                \
   CAPFS_RIGHT_FILE_STAT_GET | ((capfs_rights_t)1 << 28))

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
