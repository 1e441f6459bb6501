/* hello: writes a greeting to every descriptor in a sequence (argdata: a
   sequence of descriptors, or {greeting: STR, out: [FD, ...]}). */
#include <argdata.h>
#include <program.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (strcmp(k, "greeting") == 0)
      argdata_get_str_c(value, &greeting);
    else if (strcmp(k, "out") == 0)
      outputs = value;
  }
  argdata_seq_iterator_t it;
  const argdata_t *e;
  for (argdata_seq_iterate(outputs, &it); argdata_seq_get(&it, &e);
       argdata_seq_next(&it)) {
    int fd, error = argdata_get_fd(e, &fd);
    if (error != 0) {
      fprintf(stderr, "hello: bad descriptor: %s\n", strerror(error));
      exit(1);
    }
    dprintf(fd, "%s, fd %d!\n", greeting, fd);
  }
  if (it.index == ARGDATA_ITERATOR_INVALID) {
    fprintf(stderr, "hello: expected a sequence of descriptors\n");
    exit(1);
  }
}
