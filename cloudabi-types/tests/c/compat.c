// Code written against the original CloudABI headers (their include names, type names,
// constant names and member paths) must build unchanged with cloudabi_types.h.
// Built and run by tests/c_header.rs.

#include <cloudabi_types_common.h>
#include <cloudabi32_types.h>
#include <cloudabi64_types.h>
#include <cloudabi_types.h>

#include <stdio.h>
#include <string.h>

static int check(int ok, const char *what) {
  if (!ok) fprintf(stderr, "compat.c: %s failed\n", what);
  return ok ? 0 : 1;
}

int main(void) {
  int failures = 0;

  // A clock subscription, written the way cloudlibc's sleep functions do.
  cloudabi_subscription_t sub = {
      .type = CLOUDABI_EVENTTYPE_CLOCK,
      .clock.clock_id = CLOUDABI_CLOCK_MONOTONIC,
      .clock.timeout = 1000000,
      .clock.flags = CLOUDABI_SUBSCRIPTION_CLOCK_ABSTIME,
  };
  failures += check(sub.clock.timeout == 1000000, "subscription clock");

  // A gathered write and the rights and flags of a new descriptor.
  const char text[] = "hello";
  cloudabi_ciovec_t iov = {.buf = text, .buf_len = sizeof(text) - 1};
  cloudabi_fdstat_t fds = {
      .fs_filetype = CLOUDABI_FILETYPE_REGULAR_FILE,
      .fs_flags = CLOUDABI_FDFLAG_APPEND,
      .fs_rights_base = CLOUDABI_RIGHT_FD_READ | CLOUDABI_RIGHT_FD_WRITE,
  };
  failures += check(iov.buf_len == 5 && memcmp(iov.buf, "hello", 5) == 0, "ciovec");
  failures += check((fds.fs_rights_base & CLOUDABI_RIGHT_FD_WRITE) != 0, "fdstat rights");

  // The auxiliary vector's anonymous union.
  cloudabi_auxv_t auxv[2] = {
      {.a_type = CLOUDABI_AT_PAGESZ, .a_val = 4096},
      {.a_type = CLOUDABI_AT_NULL},
  };
  failures += check(auxv[0].a_val == 4096 && auxv[1].a_type == 0, "auxv");

  // Fixed-width flavours, as used by a kernel serving 32- and 64-bit programs.
  cloudabi32_iovec_t iov32 = {.buf = 0x1000, .buf_len = 16};
  cloudabi64_threadattr_t attr64 = {.entry_point = 0x400000, .stack = 0x7000, .stack_len = 4096};
  cloudabi32_subscription_t sub32 = {.type = CLOUDABI_EVENTTYPE_LOCK_WRLOCK,
                                     .lock.lock = 0x2000,
                                     .lock.lock_scope = CLOUDABI_SCOPE_PRIVATE};
  failures += check(iov32.buf_len == 16 && attr64.stack_len == 4096, "fixed-width structs");
  failures += check(sub32.lock.lock_scope == CLOUDABI_SCOPE_PRIVATE, "32-bit subscription");

  // An event as poll() returns it.
  cloudabi_event_t ev = {.type = CLOUDABI_EVENTTYPE_FD_READ, .error = CLOUDABI_EBADF};
  ev.fd_readwrite.nbytes = 7;
  ev.fd_readwrite.flags = CLOUDABI_EVENT_FD_READWRITE_HANGUP;
  failures += check(ev.fd_readwrite.nbytes == 7 && ev.error == 8, "event");

  // Function pointer types.
  cloudabi_threadentry_t *entry = NULL;
  cloudabi_threadattr_t attr = {.entry_point = entry, .stack_len = 0};
  failures += check(attr.entry_point == NULL, "threadattr");

  if (failures == 0) printf("compat.c: ok\n");
  return failures == 0 ? 0 : 1;
}
