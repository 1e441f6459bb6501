/* ls: lists a directory given as a descriptor, read-only (argdata:
   {dir: FD, out: FD}; out defaults to stdout). Entries are printed in
   directory order; subdirectories get a trailing slash. */
#include <argdata.h>
#include <capfs.h>
#include <dirent.h>
#include <errno.h>
#include <program.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int print_entry(void *arg, const char *name, unsigned char type) {
  dprintf(*(int *)arg, "%s%s\n", name, type == DT_DIR ? "/" : "");
  return 0;
}

_Noreturn void program_main(const argdata_t *ad) {
  int dir = -1, out = 1;
  argdata_map_iterator_t it;
  const argdata_t *key, *value;
  for (argdata_map_iterate(ad, &it); argdata_map_get(&it, &key, &value);
       argdata_map_next(&it)) {
    const char *k;
    if (argdata_get_str_c(key, &k) != 0)
      continue;
    int error = 0;
    if (strcmp(k, "dir") == 0)
      error = argdata_get_fd(value, &dir);
    else if (strcmp(k, "out") == 0)
      error = argdata_get_fd(value, &out);
    if (error != 0) {
      fprintf(stderr, "ls: %s: %s\n", k, strerror(error));
      exit(1);
    }
  }
  if (dir < 0) {
    fprintf(stderr, "ls: missing key \"dir\"\n");
    exit(1);
  }
  capfs_limit(dir, CAPFS_RIGHTS_DIRECTORY_READ_ONLY, 0);
  if (capfs_readdir(dir, print_entry, &out) != 0) {
    fprintf(stderr, "ls: %s\n", strerror(errno));
    exit(1);
  }
  exit(0);
}
