/* Exercises every function of <capfs.h>: legitimate nested access, escapes
   (absolute paths, "..", symlinks out, symlink loops), and rights. */
#define _GNU_SOURCE
#include <capfs.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int passed, failed;
#define CHECK(c)                                                           \
  do {                                                                     \
    if (c) {                                                               \
      ++passed;                                                            \
    } else {                                                               \
      ++failed;                                                            \
      fprintf(stderr, "%s:%d: check failed: %s (errno %d)\n", __FILE__,    \
              __LINE__, #c, errno);                                        \
    }                                                                      \
  } while (0)
#define DENIED(call) CHECK((call) == -1 && errno == ENOTCAPABLE)

static int count_entry(void *arg, const char *name, unsigned char type) {
  (void)name;
  (void)type;
  ++*(int *)arg;
  return 0;
}

static int stop_early(void *arg, const char *name, unsigned char type) {
  (void)arg;
  (void)name;
  (void)type;
  return 42;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: capfs_test DIR\n");
    return 2;
  }
  /* DIR holds secret (outside) and sandbox/ (the capability). */
  char path[4096];
  snprintf(path, sizeof(path), "%s/sandbox", argv[1]);
  int root = open(path, O_RDONLY | O_DIRECTORY);
  CHECK(root >= 0);

  /* Creation and nested access. */
  CHECK(capfs_mkdirat(root, "a", 0755) == 0);
  CHECK(capfs_mkdirat(root, "a/b", 0755) == 0);
  int f = capfs_openat(root, "a/b/f.txt", O_WRONLY | O_CREAT | O_EXCL, 0644);
  CHECK(f >= 0);
  CHECK(capfs_write(f, "hello", 5) == 5);
  CHECK(capfs_lseek(f, 0, SEEK_SET) == 0);
  CHECK(capfs_ftruncate(f, 4) == 0);
  char buf[64];
  CHECK(capfs_read(f, buf, sizeof(buf)) == -1 && errno == ENOTCAPABLE); /* write-only */
  close(f);
  f = capfs_openat(root, "a/./b/../b/f.txt", O_RDONLY, 0);
  CHECK(f >= 0 && capfs_read(f, buf, sizeof(buf)) == 4 && memcmp(buf, "hell", 4) == 0);
  CHECK(capfs_write(f, "x", 1) == -1 && errno == ENOTCAPABLE); /* read-only */
  close(f);
  struct stat st;
  CHECK(capfs_fstatat(root, "a/b/f.txt", &st, 0) == 0 && st.st_size == 4);
  CHECK(capfs_symlinkat("b/f.txt", root, "a/link") == 0);
  CHECK(capfs_fstatat(root, "a/link", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode));
  CHECK(capfs_fstatat(root, "a/link", &st, 0) == 0 && S_ISREG(st.st_mode));
  ssize_t n = capfs_readlinkat(root, "a/link", buf, sizeof(buf));
  CHECK(n == 7 && memcmp(buf, "b/f.txt", 7) == 0);
  CHECK(capfs_renameat(root, "a/b/f.txt", root, "a/g.txt") == 0);
  int sub = capfs_openat(root, "a", O_RDONLY | O_DIRECTORY, 0);
  CHECK(sub >= 0);
  int count = 0;
  CHECK(capfs_readdir(sub, count_entry, &count) == 0 && count == 3); /* b link g.txt */
  CHECK(capfs_readdir(sub, stop_early, NULL) == 42);

  /* Escapes. */
  DENIED(capfs_openat(root, "/etc/passwd", O_RDONLY, 0));
  DENIED(capfs_openat(root, "../secret", O_RDONLY, 0));
  DENIED(capfs_openat(sub, "../../secret", O_RDONLY, 0));
  DENIED(capfs_openat(sub, "..", O_RDONLY | O_DIRECTORY, 0));
  CHECK(capfs_symlinkat("../secret", root, "out") == 0);
  CHECK(capfs_symlinkat("/etc/passwd", root, "abs") == 0);
  DENIED(capfs_openat(root, "out", O_RDONLY, 0));
  DENIED(capfs_openat(root, "abs", O_RDONLY, 0));
  DENIED(capfs_fstatat(root, "out", &st, 0));
  DENIED(capfs_unlinkat(root, "../secret", 0));
  DENIED(capfs_renameat(root, "a/g.txt", root, "../stolen"));
  DENIED(capfs_mkdirat(root, "../newdir", 0755));
  DENIED(capfs_symlinkat("x", root, "../newlink"));
  DENIED(capfs_readlinkat(root, "../x", buf, sizeof(buf)));
  CHECK(capfs_symlinkat("l2", root, "l1") == 0 && capfs_symlinkat("l1", root, "l2") == 0);
  CHECK(capfs_openat(root, "l1", O_RDONLY, 0) == -1 && errno == ELOOP);
  CHECK(capfs_openat(root, "a", O_RDONLY | O_PATH, 0) == -1 && errno == EINVAL);

  /* Rights: a read-only directory; an append-only file. */
  capfs_rights_t base, inh;
  CHECK(capfs_rights(sub, &base, &inh) == 0 && (base & CAPFS_RIGHT_FILE_CREATE_FILE));
  CHECK(capfs_limit(sub, CAPFS_RIGHTS_DIRECTORY_READ_ONLY, CAPFS_RIGHT_FD_READ) == 0);
  CHECK(capfs_rights(sub, &base, NULL) == 0 && base == CAPFS_RIGHTS_DIRECTORY_READ_ONLY);
  DENIED(capfs_openat(sub, "new", O_WRONLY | O_CREAT, 0644));
  DENIED(capfs_openat(sub, "g.txt", O_WRONLY, 0));
  DENIED(capfs_mkdirat(sub, "c", 0755));
  DENIED(capfs_unlinkat(sub, "g.txt", 0));
  DENIED(capfs_symlinkat("g.txt", sub, "l"));
  DENIED(capfs_renameat(sub, "g.txt", root, "h.txt"));
  CHECK(capfs_limit(sub, ~(capfs_rights_t)0, ~(capfs_rights_t)0) == 0);
  CHECK(capfs_rights(sub, &base, NULL) == 0 && !(base & CAPFS_RIGHT_FILE_CREATE_FILE));
  f = capfs_openat(sub, "g.txt", O_RDONLY, 0);
  CHECK(f >= 0);
  /* Inherited from sub: only FD_READ was left to inherit. */
  CHECK(capfs_rights(f, &base, &inh) == 0 && base == CAPFS_RIGHT_FD_READ && inh == 0);
  close(f);
  int app = capfs_openat(root, "a/g.txt", O_WRONLY | O_APPEND, 0);
  CHECK(app >= 0);
  CHECK(capfs_rights(app, &base, NULL) == 0 &&
        (base & CAPFS_RIGHTS_FILE_APPEND_ONLY) == CAPFS_RIGHTS_FILE_APPEND_ONLY &&
        !(base & (CAPFS_RIGHT_FD_SEEK | CAPFS_RIGHT_FILE_STAT_FPUT_SIZE)));
  CHECK(capfs_write(app, "+", 1) == 1);
  DENIED(capfs_lseek(app, 0, SEEK_SET));
  DENIED(capfs_ftruncate(app, 0));
  close(app);
  CHECK(capfs_fstatat(root, "a/g.txt", &st, 0) == 0 && st.st_size == 5);
  close(sub);

  /* Removal. */
  CHECK(capfs_unlinkat(root, "a/link", 0) == 0);
  CHECK(capfs_unlinkat(root, "a/g.txt", 0) == 0);
  CHECK(capfs_unlinkat(root, "a/b", AT_REMOVEDIR) == 0);
  CHECK(capfs_unlinkat(root, "a", AT_REMOVEDIR) == 0);
  CHECK(capfs_unlinkat(root, "a", AT_REMOVEDIR) == -1 && errno == ENOENT);
  close(root);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
