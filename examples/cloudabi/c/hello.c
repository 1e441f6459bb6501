/* hello for CloudABI, in freestanding C: writes a greeting to every descriptor
   in a sequence (argdata: a sequence of descriptors, or {greeting: STR,
   out: [FD, ...]}). Linked with libcloudlibc_rs.a built for the target, which
   provides _start, the argdata API and the cloudabi_sys_* calls. */
#include <argdata.h>
#include <cloudabi_syscalls.h>
#include <program.h>

#include "guest_io.h"

static size_t length(const char *s) {
  size_t n = 0;
  while (s[n] != '\0')
    ++n;
  return n;
}

static void put_number(int fd, int v) {
  char digits[12];
  size_t i = sizeof(digits);
  unsigned int u = (unsigned int)v;
  do {
    digits[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u != 0);
  put(fd, digits + i, sizeof(digits) - i);
}

void program_main(const argdata_t *ad) {
  const char *greeting = "Hello";
  const argdata_t *outputs = ad;
  argdata_map_iterator_t mit;
  const argdata_t *key, *value;
  for (argdata_map_iterate(ad, &mit); argdata_map_get(&mit, &key, &value);
       argdata_map_next(&mit)) {
    const char *k;
    if (argdata_get_str_c(key, &k) != 0)
      continue;
    if (equal(k, "greeting"))
      argdata_get_str_c(value, &greeting);
    else if (equal(k, "out"))
      outputs = value;
  }
  argdata_seq_iterator_t it;
  const argdata_t *e;
  for (argdata_seq_iterate(outputs, &it); argdata_seq_get(&it, &e);
       argdata_seq_next(&it)) {
    int fd;
    if (argdata_get_fd(e, &fd) != 0)
      cloudabi_sys_proc_exit(1);
    put(fd, greeting, length(greeting));
    put(fd, ", fd ", 5);
    put_number(fd, fd);
    put(fd, "!\n", 2);
  }
  if (it.index == ARGDATA_ITERATOR_INVALID)
    cloudabi_sys_proc_exit(1);
}
