/* program_main program for program_exec and program_get_raw_argdata: takes
   {self: FD, depth: INT, out: FD}, prints a line, and re-executes itself with
   depth - 1 until depth is 0. Also checks that no stray descriptor survived
   the exec: only 0-2, the granted ones and the (closed) memfd exist. */
#include <argdata.h>
#include <errno.h>
#include <fcntl.h>
#include <program.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void program_main(const argdata_t *ad) {
  int self = -1, out = -1, depth = -1;
  argdata_map_iterator_t it;
  const argdata_t *k, *v;
  for (argdata_map_iterate(ad, &it); argdata_map_get(&it, &k, &v); argdata_map_next(&it)) {
    const char *key;
    if (argdata_get_str_c(k, &key) != 0) continue;
    if (strcmp(key, "self") == 0) argdata_get_fd(v, &self);
    if (strcmp(key, "out") == 0) argdata_get_fd(v, &out);
    if (strcmp(key, "depth") == 0) argdata_get_int(v, &depth);
  }
  if (self < 0 || out < 0 || depth < 0) {
    fprintf(stderr, "exec_test: bad argdata\n");
    exit(1);
  }
  const void *raw;
  size_t len;
  program_get_raw_argdata(&raw, &len);
  int highest = -1;
  for (int fd = 0; fd < 64; ++fd)
    if (fcntl(fd, F_GETFD) != -1) highest = fd;
  dprintf(out, "depth %d raw %s highest %d\n", depth, raw != NULL && len > 0 ? "ok" : "missing",
          highest);
  if (depth == 0) return;
  argdata_t *keys[] = {argdata_create_str_c("self"), argdata_create_str_c("out"),
                       argdata_create_str_c("depth")};
  argdata_t *values[] = {argdata_create_fd(self), argdata_create_fd(out),
                         argdata_create_int(depth - 1)};
  argdata_t *map = argdata_create_map((const argdata_t *const *)keys,
                                      (const argdata_t *const *)values, 3);
  int error = program_exec(self, map);
  fprintf(stderr, "exec_test: program_exec: %s\n", strerror(error));
  exit(1);
}
