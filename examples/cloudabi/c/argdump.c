/* argdump: prints what every getter and iterator of <argdata.h> makes of a
   value, one line per value, maps and sequences entry by entry. The same source
   builds for both targets of cloudlibc-rs, so that the two readers can be
   compared on the same bytes:

   - for CloudABI (freestanding, `cargo xtask cloudabi build`, "argdump-c"):
     dumps the startup argdata to descriptor 0;
   - for the host (hosted C, linked with the host libcloudlibc_rs.a): dumps the
     bytes read from standard input, through argdata_from_buffer with fd index i
     as descriptor i, to standard output.

   Error codes print as their names, since the two targets number them
   differently. cloudlibc-rs/tests/c_api_repo.rs and
   cloudabi-emulator/tests/examples.rs run it on the cases of argdump.cases and
   both compare with argdump.expected. */
#include <argdata.h>
#include <stddef.h>
#include <stdint.h>

#if __STDC_HOSTED__
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
enum { OUT = 1 };
static void put(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w <= 0)
      exit(1);
    s += w;
    n -= (size_t)w;
  }
}
#else
#include <program.h>
#include "guest_io.h"
enum { OUT = 0 };
#define EINVAL CLOUDABI_EINVAL
#define ERANGE CLOUDABI_ERANGE
#define EBADF CLOUDABI_EBADF
#define EILSEQ CLOUDABI_EILSEQ
/* CloudABI's struct timespec (there is no <time.h> here). */
struct timespec {
  int64_t tv_sec;
  long tv_nsec;
};
#endif

/* How deep maps and sequences are followed. */
enum { MAX_DEPTH = 6 };

static void text(const char *s) {
  size_t n = 0;
  while (s[n] != '\0')
    ++n;
  put(OUT, s, n);
}

static void unsigned_number(uint64_t v) {
  char digits[20];
  size_t i = sizeof(digits);
  do {
    digits[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  put(OUT, digits + i, sizeof(digits) - i);
}

static void signed_number(int64_t v) {
  if (v < 0) {
    text("-");
    unsigned_number(-(uint64_t)v);
  } else {
    unsigned_number((uint64_t)v);
  }
}

static void hex(const unsigned char *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) {
    char pair[2] = {digits[p[i] >> 4], digits[p[i] & 15]};
    put(OUT, pair, 2);
  }
}

/* " NAME=" and the result code: "ok" or the errno's name. */
static int result(const char *name, int r) {
  text(" ");
  text(name);
  text("=");
  switch (r) {
  case 0:
    text("ok");
    break;
  case EINVAL:
    text("EINVAL");
    break;
  case ERANGE:
    text("ERANGE");
    break;
  case EBADF:
    text("EBADF");
    break;
  case EILSEQ:
    text("EILSEQ");
    break;
  default:
    text("errno");
    signed_number(r);
  }
  return r == 0;
}

static void indent(int depth) {
  for (int i = 0; i < depth; ++i)
    text("  ");
}

static void dump(const argdata_t *ad, int depth);

static void index_line(int depth, const char *what, size_t index, size_t n) {
  indent(depth);
  text(what);
  if (index == ARGDATA_ITERATOR_END)
    text(" end after ");
  else if (index == ARGDATA_ITERATOR_INVALID)
    text(" invalid after ");
  else
    text(" stopped at ");
  unsigned_number(n);
  text("\n");
}

static void dump_map(const argdata_t *ad, int depth) {
  argdata_map_iterator_t it;
  const argdata_t *key, *value;
  size_t n = 0;
  argdata_map_iterate(ad, &it);
  if (it.index == ARGDATA_ITERATOR_INVALID)
    return;
  for (; argdata_map_get(&it, &key, &value); argdata_map_next(&it)) {
    if (it.index != n)
      break;
    indent(depth);
    text("key\n");
    dump(key, depth + 1);
    indent(depth);
    text("value\n");
    dump(value, depth + 1);
    ++n;
  }
  index_line(depth, "map", it.index, n);
}

static void dump_seq(const argdata_t *ad, int depth) {
  argdata_seq_iterator_t it;
  const argdata_t *element;
  size_t n = 0;
  argdata_seq_iterate(ad, &it);
  if (it.index == ARGDATA_ITERATOR_INVALID)
    return;
  for (; argdata_seq_get(&it, &element); argdata_seq_next(&it)) {
    if (it.index != n)
      break;
    indent(depth);
    text("element\n");
    dump(element, depth + 1);
    ++n;
  }
  index_line(depth, "seq", it.index, n);
}

static void dump(const argdata_t *ad, int depth) {
  indent(depth);
  bool b;
  if (result("bool", argdata_get_bool(ad, &b)))
    text(b ? ":true" : ":false");
  intmax_t s;
  if (result("int_s", argdata_get_int_s(ad, &s, INTMAX_MIN, INTMAX_MAX))) {
    text(":");
    signed_number(s);
  }
  result("int_s8", argdata_get_int_s(ad, &s, -128, 127));
  uintmax_t u;
  if (result("int_u", argdata_get_int_u(ad, &u, UINTMAX_MAX))) {
    text(":");
    unsigned_number(u);
  }
  result("int_u8", argdata_get_int_u(ad, &u, 255));
  double f;
  if (result("float", argdata_get_float(ad, &f))) {
    unsigned char bits[sizeof(f)];
    __builtin_memcpy(bits, &f, sizeof(f));
    text(":");
    hex(bits, sizeof(bits));
  }
  const char *str;
  size_t len;
  if (result("str", argdata_get_str(ad, &str, &len))) {
    text(":");
    hex((const unsigned char *)str, len);
  }
  if (result("str_c", argdata_get_str_c(ad, &str))) {
    size_t n = 0;
    while (str[n] != '\0')
      ++n;
    text(":");
    unsigned_number(n);
  }
  const void *bin;
  if (result("binary", argdata_get_binary(ad, &bin, &len))) {
    text(":");
    hex(bin, len);
  }
  int fd;
  if (result("fd", argdata_get_fd(ad, &fd))) {
    text(":");
    signed_number(fd);
  }
  struct timespec ts;
  if (result("timestamp", argdata_get_timestamp(ad, &ts))) {
    text(":");
    signed_number(ts.tv_sec);
    text(".");
    signed_number(ts.tv_nsec);
  }
  text("\n");
  if (depth < MAX_DEPTH) {
    dump_map(ad, depth + 1);
    dump_seq(ad, depth + 1);
  }
}

#if __STDC_HOSTED__
static int own_fd(void *arg, size_t i) {
  (void)arg;
  return i <= INT32_MAX ? (int)i : -1;
}

int main(void) {
  size_t cap = 1 << 16, len = 0;
  unsigned char *buf = malloc(cap);
  for (;;) {
    if (buf == NULL)
      return 1;
    ssize_t r = read(0, buf + len, cap - len);
    if (r < 0)
      return 1;
    if (r == 0)
      break;
    len += (size_t)r;
    if (len == cap)
      buf = realloc(buf, cap *= 2);
  }
  argdata_t *ad = argdata_from_buffer(buf, len, own_fd, NULL);
  dump(ad, 0);
  argdata_free(ad);
  free(buf);
  return 0;
}
#else
void program_main(const argdata_t *ad) { dump(ad, 0); }
#endif
