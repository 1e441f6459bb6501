/* ls for CloudABI, in freestanding C: lists a directory given as a descriptor
   (argdata: {dir: FD, out: FD}; out defaults to 1), in directory order,
   subdirectories with a trailing slash; "." and ".." are left out. */
#include <argdata.h>
#include <cloudabi_syscalls.h>
#include <program.h>

#include "guest_io.h"

static _Alignas(8) char buf[16384];

void program_main(const argdata_t *ad) {
  int dir = -1, out = 1;
  argdata_map_iterator_t it;
  const argdata_t *key, *value;
  for (argdata_map_iterate(ad, &it); argdata_map_get(&it, &key, &value);
       argdata_map_next(&it)) {
    const char *k;
    if (argdata_get_str_c(key, &k) != 0)
      continue;
    if (equal(k, "dir") && argdata_get_fd(value, &dir) != 0)
      cloudabi_sys_proc_exit(1);
    if (equal(k, "out") && argdata_get_fd(value, &out) != 0)
      cloudabi_sys_proc_exit(1);
  }
  if (dir < 0)
    cloudabi_sys_proc_exit(1);
  cloudabi_dircookie_t cookie = 0;
  for (;;) {
    size_t used;
    if (cloudabi_sys_file_readdir((cloudabi_fd_t)dir, buf, sizeof(buf), cookie,
                                  &used) != 0)
      cloudabi_sys_proc_exit(1);
    size_t at = 0;
    int progressed = 0;
    while (at + sizeof(cloudabi_dirent_t) <= used) {
      cloudabi_dirent_t d;
      __builtin_memcpy(&d, buf + at, sizeof(d));
      if (at + sizeof(d) + d.d_namlen > used)
        break;
      const char *name = buf + at + sizeof(d);
      int dot = (d.d_namlen == 1 && name[0] == '.') ||
                (d.d_namlen == 2 && name[0] == '.' && name[1] == '.');
      if (!dot) {
        put(out, name, d.d_namlen);
        if (d.d_type == CLOUDABI_FILETYPE_DIRECTORY)
          put(out, "/", 1);
        put(out, "\n", 1);
      }
      cookie = d.d_next;
      progressed = 1;
      at += sizeof(d) + d.d_namlen;
    }
    if (used < sizeof(buf) || !progressed)
      break;
  }
}
