/* Small helpers shared by the freestanding C examples (there is no libc on the
   CloudABI targets here): string comparison and writing a whole buffer to a
   descriptor, exiting with status 1 when the write fails. `static inline`, so
   that a program using only one of them compiles warning-free. */
#ifndef GUEST_IO_H
#define GUEST_IO_H

#include <cloudabi_syscalls.h>
#include <stddef.h>

static inline int equal(const char *a, const char *b) {
  while (*a != '\0' && *a == *b) {
    ++a;
    ++b;
  }
  return *a == *b;
}

static inline void put(int fd, const char *s, size_t n) {
  while (n > 0) {
    cloudabi_ciovec_t iov = {s, n};
    size_t written;
    if (cloudabi_sys_fd_write((cloudabi_fd_t)fd, &iov, 1, &written) != 0 ||
        written == 0)
      cloudabi_sys_proc_exit(1);
    s += written;
    n -= written;
  }
}

#endif
