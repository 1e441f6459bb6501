/* Exercises every function of <argdata.h>, including its error codes. Has its
   own main(), so it also proves that such a program links against the same
   library that provides main() to program_main() programs. */
#include <argdata.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;
#define CHECK(c)                                                    \
  do {                                                              \
    if (c) {                                                        \
      ++passed;                                                     \
    } else {                                                        \
      ++failed;                                                     \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,        \
              __LINE__, #c);                                        \
    }                                                               \
  } while (0)

static int identity_fd(void *arg, size_t i) {
  (void)arg;
  return i < 100 ? (int)i : -1;
}

static void test_constants(void) {
  bool b;
  CHECK(argdata_get_bool(&argdata_true, &b) == 0 && b);
  CHECK(argdata_get_bool(&argdata_false, &b) == 0 && !b);
  CHECK(argdata_get_bool(&argdata_null, &b) == EINVAL);
  int i;
  CHECK(argdata_get_int(&argdata_true, &i) == EINVAL);
}

static void test_builders_and_getters(void) {
  argdata_t *ad;
  /* Integers and the type-generic macros. */
  ad = argdata_create_int(-5);
  int i;
  unsigned u;
  signed char sc;
  long long ll;
  CHECK(argdata_get_int(ad, &i) == 0 && i == -5);
  CHECK(argdata_get_int(ad, &u) == ERANGE);
  CHECK(argdata_get_int(ad, &ll) == 0 && ll == -5);
  argdata_free(ad);
  ad = argdata_create_int(300u);
  CHECK(argdata_get_int(ad, &sc) == ERANGE);
  CHECK(argdata_get_int(ad, &u) == 0 && u == 300);
  uintmax_t um;
  intmax_t im;
  CHECK(argdata_get_int_u(ad, &um, 299) == ERANGE);
  CHECK(argdata_get_int_s(ad, &im, 0, 300) == 0 && im == 300);
  double d;
  CHECK(argdata_get_float(ad, &d) == EINVAL);
  argdata_free(ad);
  ad = argdata_create_int_u(UINTMAX_MAX);
  CHECK(argdata_get_int_u(ad, &um, UINTMAX_MAX) == 0 && um == UINTMAX_MAX);
  CHECK(argdata_get_int_s(ad, &im, INTMAX_MIN, INTMAX_MAX) == ERANGE);
  argdata_free(ad);

  ad = argdata_create_float(2.5);
  CHECK(argdata_get_float(ad, &d) == 0 && d == 2.5);
  argdata_free(ad);

  /* Strings. */
  const char *s;
  size_t len;
  ad = argdata_create_str_c("héllo");
  CHECK(ad != NULL);
  CHECK(argdata_get_str(ad, &s, &len) == 0 && len == 6 && memcmp(s, "héllo", 6) == 0);
  CHECK(argdata_get_str_c(ad, &s) == 0 && strcmp(s, "héllo") == 0);
  CHECK(argdata_get_binary(ad, (const void **)&s, &len) == EINVAL);
  argdata_free(ad);
  errno = 0;
  CHECK(argdata_create_str("\xff\xfe", 2) == NULL && errno == EILSEQ);
  static const char nul[] = "a\0b";
  ad = argdata_create_str(nul, 3);
  CHECK(argdata_get_str(ad, &s, &len) == 0 && len == 3);
  CHECK(argdata_get_str_c(ad, &s) == EILSEQ);
  argdata_free(ad);

  /* Binary. */
  static const unsigned char bin[] = {0, 1, 2};
  const void *bp;
  ad = argdata_create_binary(bin, sizeof(bin));
  CHECK(argdata_get_binary(ad, &bp, &len) == 0 && bp == bin && len == 3);
  argdata_free(ad);

  /* Descriptors. */
  int fd;
  ad = argdata_create_fd(7);
  CHECK(argdata_get_fd(ad, &fd) == 0 && fd == 7);
  argdata_free(ad);
  errno = 0;
  CHECK(argdata_create_fd(-1) == NULL && errno == EBADF);

  /* Timestamps. */
  struct timespec ts = {.tv_sec = -2, .tv_nsec = 500}, out;
  ad = argdata_create_timestamp(&ts);
  CHECK(argdata_get_timestamp(ad, &out) == 0 && out.tv_sec == -2 && out.tv_nsec == 500);
  argdata_free(ad);
  ts.tv_nsec = 1000000000;
  errno = 0;
  CHECK(argdata_create_timestamp(&ts) == NULL && errno == EINVAL);
}

static void test_containers_and_serialize(void) {
  argdata_t *k1 = argdata_create_str_c("a"), *v1 = argdata_create_int(1);
  argdata_t *k2 = argdata_create_str_c("fds"), *f1 = argdata_create_fd(9),
            *f2 = argdata_create_fd(4);
  const argdata_t *items[] = {f1, f2, f1};
  argdata_t *seq = argdata_create_seq(items, 3);
  const argdata_t *keys[] = {k1, k2}, *values[] = {v1, seq};
  argdata_t *map = argdata_create_map(keys, values, 2);

  argdata_map_iterator_t mit;
  const argdata_t *k, *v;
  argdata_map_iterate(map, &mit);
  CHECK(mit.index == 0);
  CHECK(argdata_map_get(&mit, &k, &v) && k == k1 && v == v1);
  argdata_map_next(&mit);
  CHECK(mit.index == 1 && argdata_map_get(&mit, &k, &v) && v == seq);
  argdata_map_next(&mit);
  CHECK(mit.index == ARGDATA_ITERATOR_END && !argdata_map_get(&mit, &k, &v));
  argdata_map_iterate(v1, &mit);
  CHECK(mit.index == ARGDATA_ITERATOR_INVALID && !argdata_map_get(&mit, &k, &v));

  size_t size, nfds;
  argdata_serialized_length(map, &size, &nfds);
  CHECK(nfds == 3);
  unsigned char *buf = malloc(size);
  int fds[3];
  CHECK(argdata_serialize(map, buf, fds) == 2 && fds[0] == 9 && fds[1] == 4);

  /* Read it back from the buffer: fds are indices 0, 1, 0. */
  argdata_t *back = argdata_from_buffer(buf, size, identity_fd, NULL);
  argdata_map_iterate(back, &mit);
  int n = 0, fdvals[3] = {-1, -1, -1};
  for (; argdata_map_get(&mit, &k, &v); argdata_map_next(&mit)) {
    const char *key;
    CHECK(argdata_get_str_c(k, &key) == 0);
    if (strcmp(key, "fds") == 0) {
      argdata_seq_iterator_t sit;
      const argdata_t *e;
      int j = 0;
      for (argdata_seq_iterate(v, &sit); argdata_seq_get(&sit, &e); argdata_seq_next(&sit))
        CHECK(j < 3 && argdata_get_fd(e, &fdvals[j++]) == 0);
      CHECK(sit.index == ARGDATA_ITERATOR_END);
    }
    ++n;
  }
  CHECK(n == 2 && fdvals[0] == 0 && fdvals[1] == 1 && fdvals[2] == 0);

  /* Without a converter, descriptors are refused. */
  argdata_t *nofd = argdata_from_buffer(buf, size, NULL, NULL);
  argdata_map_iterate(nofd, &mit);
  argdata_map_next(&mit);
  CHECK(argdata_map_get(&mit, &k, &v));
  argdata_seq_iterator_t sit;
  const argdata_t *e;
  argdata_seq_iterate(v, &sit);
  int fd;
  CHECK(argdata_seq_get(&sit, &e) && argdata_get_fd(e, &fd) == EBADF);
  argdata_free(nofd);

  /* Serializing without an fd array keeps the numbers. */
  CHECK(argdata_serialize(map, buf, NULL) == 0);
  argdata_t *raw = argdata_from_buffer(buf, size, identity_fd, NULL);
  argdata_map_iterate(raw, &mit);
  argdata_map_next(&mit);
  argdata_map_get(&mit, &k, &v);
  argdata_seq_iterate(v, &sit);
  CHECK(argdata_seq_get(&sit, &e) && argdata_get_fd(e, &fd) == 0 && fd == 9);
  argdata_free(raw);

  /* YAML. */
  char *text = NULL;
  size_t text_len = 0;
  FILE *mem = open_memstream(&text, &text_len);
  argdata_print_yaml(back, mem);
  fclose(mem);
  CHECK(strstr(text, "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n!!map {") == text);
  CHECK(strstr(text, "!!str \"fds\"") != NULL);
  free(text);

  argdata_free(back);
  free(buf);
  argdata_free(map);
  argdata_free(seq);
  argdata_free(k1);
  argdata_free(v1);
  argdata_free(k2);
  argdata_free(f1);
  argdata_free(f2);
}

static void test_corrupt(void) {
  /* A map whose subfield length runs past the end; a key without value. */
  static const unsigned char bad_len[] = {0x06, 0x85, 0x08, 'a', 0};
  static const unsigned char no_value[] = {0x06, 0x82, 0x08, 0};
  static const unsigned char bad_utf8[] = {0x08, 0xff, 0};
  static const unsigned char bad_tag[] = {0x0f};
  argdata_map_iterator_t it;
  argdata_t *ad = argdata_from_buffer(bad_len, sizeof(bad_len), NULL, NULL);
  argdata_map_iterate(ad, &it);
  CHECK(it.index == ARGDATA_ITERATOR_INVALID);
  argdata_free(ad);
  ad = argdata_from_buffer(no_value, sizeof(no_value), NULL, NULL);
  argdata_map_iterate(ad, &it);
  CHECK(it.index == ARGDATA_ITERATOR_INVALID);
  /* Serializing treats it as opaque bytes, as the reference does. */
  size_t size = 0, nfds = 1;
  argdata_serialized_length(ad, &size, &nfds);
  CHECK(size == sizeof(no_value) && nfds == 0);
  argdata_free(ad);
  const char *s;
  size_t len;
  ad = argdata_from_buffer(bad_utf8, sizeof(bad_utf8), NULL, NULL);
  CHECK(argdata_get_str(ad, &s, &len) == EILSEQ);
  argdata_free(ad);
  bool b;
  ad = argdata_from_buffer(bad_tag, sizeof(bad_tag), NULL, NULL);
  CHECK(argdata_get_bool(ad, &b) == EINVAL);
  argdata_free(ad);
}

/* Adds 40 to every index below 100 except 3, which it rejects. */
static int shifted_fd(void *arg, size_t i) {
  (void)arg;
  return i < 100 && i != 3 ? (int)i + 40 : -1;
}

/* What argdata_print_yaml writes for ad. The caller frees it. */
static char *yaml_of(const argdata_t *ad) {
  char *text = NULL;
  size_t text_len = 0;
  FILE *mem = open_memstream(&text, &text_len);
  argdata_print_yaml(ad, mem);
  fclose(mem);
  return text;
}

#define YAML_HEADER "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n"

static void test_serialize_opaque_buffers(void) {
  /* A map holding fd 7, fd 0xfffffff0 (rejected), fd 7 again, then a byte that
     cannot start a subfield length: the fd-like bytes after it are not looked at. */
  static const unsigned char map[] = {
      0x06, 0x85, 0x03, 0x00, 0x00, 0x00, 0x07, 0x85, 0x03, 0xff, 0xff, 0xff, 0xf0,
      0x85, 0x03, 0x00, 0x00, 0x00, 0x07, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05};
  static const unsigned char renumbered[] = {
      0x06, 0x85, 0x03, 0x00, 0x00, 0x00, 0x00, 0x85, 0x03, 0xff, 0xff, 0xff, 0xff,
      0x85, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05};
  argdata_t *ad = argdata_from_buffer(map, sizeof(map), shifted_fd, NULL);
  size_t size = 0, nfds = 0;
  argdata_serialized_length(ad, &size, &nfds);
  CHECK(size == sizeof(map) && nfds == 3);
  unsigned char out[64];
  int fds[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  CHECK(argdata_serialize(ad, out, fds) == 1 && fds[0] == 47 && fds[1] == -1);
  CHECK(memcmp(out, renumbered, sizeof(renumbered)) == 0);
  /* Without an fd array the bytes are copied as they are. */
  memset(out, 0xaa, sizeof(out));
  CHECK(argdata_serialize(ad, out, NULL) == 0 && memcmp(out, map, sizeof(map)) == 0);

  /* Inside a map built in memory: the buffer is copied as a whole, and its fds
     share one numbering with the tree's. */
  argdata_t *ka = argdata_create_str_c("a"), *kb = argdata_create_str_c("b"),
            *kc = argdata_create_str_c("c"), *f9 = argdata_create_fd(9),
            *f47 = argdata_create_fd(47);
  const argdata_t *keys[] = {ka, kb, kc}, *values[] = {ad, f9, f47};
  argdata_t *tree = argdata_create_map(keys, values, 3);
  static const unsigned char tree_head[] = {0x06, 0x83, 0x08, 'a', 0x00, 0x99};
  static const unsigned char tree_tail[] = {
      0x83, 0x08, 'b', 0x00, 0x85, 0x03, 0x00, 0x00, 0x00, 0x01,
      0x83, 0x08, 'c', 0x00, 0x85, 0x03, 0x00, 0x00, 0x00, 0x00};
  argdata_serialized_length(tree, &size, &nfds);
  CHECK(size == sizeof(tree_head) + sizeof(renumbered) + sizeof(tree_tail) && nfds == 5);
  memset(fds, 0xff, sizeof(fds));
  CHECK(argdata_serialize(tree, out, fds) == 2 && fds[0] == 47 && fds[1] == 9 && fds[2] == -1);
  CHECK(memcmp(out, tree_head, sizeof(tree_head)) == 0);
  CHECK(memcmp(out + sizeof(tree_head), renumbered, sizeof(renumbered)) == 0);
  CHECK(memcmp(out + sizeof(tree_head) + sizeof(renumbered), tree_tail,
               sizeof(tree_tail)) == 0);
  argdata_free(tree);
  argdata_free(ka);
  argdata_free(kb);
  argdata_free(kc);
  argdata_free(f9);
  argdata_free(f47);
  argdata_free(ad);

  /* Bytes that are no value at all: copied, nothing counted. */
  static const unsigned char junk[] = {0x0f, 0x85, 0x03, 0x00, 0x00, 0x00, 0x01};
  ad = argdata_from_buffer(junk, sizeof(junk), shifted_fd, NULL);
  argdata_serialized_length(ad, &size, &nfds);
  CHECK(size == sizeof(junk) && nfds == 0);
  CHECK(argdata_serialize(ad, out, fds) == 0 && memcmp(out, junk, sizeof(junk)) == 0);
  argdata_free(ad);

  /* One fd leaf: renumbered with an fd array, its index kept without one. */
  static const unsigned char fd5[] = {0x03, 0x00, 0x00, 0x00, 0x05};
  static const unsigned char fd_first[] = {0x03, 0x00, 0x00, 0x00, 0x00};
  ad = argdata_from_buffer(fd5, sizeof(fd5), shifted_fd, NULL);
  CHECK(argdata_serialize(ad, out, fds) == 1 && fds[0] == 45);
  CHECK(memcmp(out, fd_first, sizeof(fd_first)) == 0);
  CHECK(argdata_serialize(ad, out, NULL) == 0 && memcmp(out, fd5, sizeof(fd5)) == 0);
  argdata_free(ad);
  /* An fd with a 3-byte payload is no fd leaf: copied, not counted. */
  ad = argdata_from_buffer(fd5, 4, shifted_fd, NULL);
  argdata_serialized_length(ad, &size, &nfds);
  CHECK(size == 4 && nfds == 0);
  CHECK(argdata_serialize(ad, out, fds) == 0 && memcmp(out, fd5, 4) == 0);
  argdata_free(ad);
}

static void test_print_yaml_lenient(void) {
  /* [bool 05, fd 3 (rejected), fd 1, 2^64, "ok"], then a 00 byte where the next
     subfield length should start. */
  static const unsigned char seq[] = {
      0x07, 0x82, 0x02, 0x05, 0x85, 0x03, 0x00, 0x00, 0x00, 0x03, 0x85, 0x03,
      0x00, 0x00, 0x00, 0x01, 0x8a, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x84, 0x08, 'o',  'k',  0x00, 0x00};
  argdata_t *ad = argdata_from_buffer(seq, sizeof(seq), shifted_fd, NULL);
  errno = 0;
  char *text = yaml_of(ad);
  CHECK(strcmp(text, YAML_HEADER "!!seq [\n"
                           "  !!null \"null\",\n"
                           "  !fd \"invalid\",\n"
                           "  !fd \"41\",\n"
                           "  !!null \"null\",\n"
                           "  !!str \"ok\",\n"
                           "]\n") == 0);
  CHECK(errno == 0);
  free(text);
  argdata_free(ad);

  /* A map whose first entry does not parse, and garbage, print as null. */
  static const unsigned char bad_map[] = {0x06, 0x81, 0x08};
  static const unsigned char bad_tag[] = {0x0f, 0x01};
  ad = argdata_from_buffer(bad_map, sizeof(bad_map), NULL, NULL);
  text = yaml_of(ad);
  CHECK(strcmp(text, YAML_HEADER "!!null \"null\"\n") == 0);
  free(text);
  argdata_free(ad);
  ad = argdata_from_buffer(bad_tag, sizeof(bad_tag), NULL, NULL);
  text = yaml_of(ad);
  CHECK(strcmp(text, YAML_HEADER "!!null \"null\"\n") == 0);
  free(text);
  argdata_free(ad);

  /* A map built in memory around a string without its NUL byte. */
  static const unsigned char no_nul[] = {0x08, 'a', 'b'};
  argdata_t *k = argdata_create_str_c("k"), *kfd = argdata_create_str_c("fd"),
            *v = argdata_from_buffer(no_nul, sizeof(no_nul), NULL, NULL),
            *fd = argdata_create_fd(5);
  const argdata_t *keys[] = {k, kfd}, *values[] = {v, fd};
  argdata_t *map = argdata_create_map(keys, values, 2);
  text = yaml_of(map);
  CHECK(strcmp(text, YAML_HEADER "!!map {\n"
                           "  ? !!str \"k\"\n"
                           "  : !!null \"null\",\n"
                           "  ? !!str \"fd\"\n"
                           "  : !fd \"5\",\n"
                           "}\n") == 0);
  free(text);
  argdata_free(map);
  argdata_free(k);
  argdata_free(kfd);
  argdata_free(v);
  argdata_free(fd);
}

/* A tree built in memory deeper than the 128-level limit. */
static void test_too_deep(void) {
  enum { DEPTH = 200 };
  argdata_t *levels[DEPTH];
  const argdata_t *items[DEPTH];
  items[0] = &argdata_null;
  for (int i = 0; i < DEPTH; ++i) {
    levels[i] = argdata_create_seq(&items[i], 1);
    if (i + 1 < DEPTH)
      items[i + 1] = levels[i];
  }
  size_t size = 1, nfds = 1;
  errno = 0;
  argdata_serialized_length(levels[DEPTH - 1], &size, &nfds);
  CHECK(size == 0 && nfds == 0 && errno == EINVAL);
  errno = 0;
  char *text = yaml_of(levels[DEPTH - 1]);
  CHECK(strcmp(text, YAML_HEADER "!!null \"null\"\n") == 0 && errno == EINVAL);
  free(text);
  for (int i = 0; i < DEPTH; ++i)
    argdata_free(levels[i]);
}

static void test_wide_ints(void) {
  /* 2^64 and -2^63 - 1: out of range for every getter. */
  static const unsigned char two_to_64[] = {0x05, 0x01, 0, 0, 0, 0, 0, 0, 0, 0};
  static const unsigned char below_min[] = {0x05, 0xff, 0x7f, 0xff, 0xff, 0xff,
                                            0xff, 0xff, 0xff, 0xff};
  const unsigned char *cases[] = {two_to_64, below_min};
  for (int c = 0; c < 2; ++c) {
    argdata_t *ad = argdata_from_buffer(cases[c], 10, NULL, NULL);
    intmax_t im;
    uintmax_t um;
    CHECK(argdata_get_int_s(ad, &im, INTMAX_MIN, INTMAX_MAX) == ERANGE);
    CHECK(argdata_get_int_u(ad, &um, UINTMAX_MAX) == ERANGE);
    argdata_free(ad);
  }
}

static void test_reader_writer(void) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  int null = open("/dev/null", O_RDONLY);
  argdata_t *f = argdata_create_fd(null), *h = argdata_create_str_c("hi");
  const argdata_t *items[] = {h, f, f};
  argdata_t *seq = argdata_create_seq(items, 3);
  argdata_writer_t *w = argdata_writer_create();
  argdata_writer_set(w, seq);
  CHECK(argdata_writer_push(w, sv[0]) == 0);
  argdata_writer_set(w, &argdata_true);
  CHECK(argdata_writer_push(w, sv[0]) == 0);
  CHECK(argdata_writer_push(w, sv[0]) == 0); /* nothing set: no-op */
  close(sv[0]);

  argdata_reader_t *r = argdata_reader_create(4096, 8);
  CHECK(argdata_reader_pull(r, sv[1]) == 0);
  const argdata_t *got = argdata_reader_get(r);
  CHECK(got != NULL);
  argdata_seq_iterator_t it;
  const argdata_t *e;
  argdata_seq_iterate(got, &it);
  const char *s;
  CHECK(argdata_seq_get(&it, &e) && argdata_get_str_c(e, &s) == 0 && strcmp(s, "hi") == 0);
  argdata_seq_next(&it);
  int fd1 = -1, fd2 = -1;
  CHECK(argdata_seq_get(&it, &e) && argdata_get_fd(e, &fd1) == 0);
  argdata_seq_next(&it);
  CHECK(argdata_seq_get(&it, &e) && argdata_get_fd(e, &fd2) == 0);
  struct stat a, b;
  CHECK(fd1 == fd2 && fd1 != null && fstat(fd1, &a) == 0 && fstat(null, &b) == 0 &&
        a.st_ino == b.st_ino);
  argdata_reader_release_fd(r, fd1);
  CHECK(argdata_get_fd(e, &fd2) == EBADF);
  CHECK(argdata_reader_pull(r, sv[1]) == 0);
  bool t;
  CHECK(argdata_get_bool(argdata_reader_get(r), &t) == 0 && t);
  CHECK(fcntl(fd1, F_GETFD) != -1); /* released: still open */
  close(fd1);
  CHECK(argdata_reader_pull(r, sv[1]) == 0 && argdata_reader_get(r) == NULL);
  argdata_reader_free(r);
  close(sv[1]);

  /* Limits and truncation. */
  int p[2];
  CHECK(pipe(p) == 0);
  argdata_writer_set(w, h);
  CHECK(argdata_writer_push(w, p[1]) == 0);
  r = argdata_reader_create(2, 0);
  CHECK(argdata_reader_pull(r, p[0]) == EMSGSIZE);
  argdata_reader_free(r);
  close(p[0]);
  close(p[1]);
  CHECK(pipe(p) == 0);
  CHECK(write(p[1], "\0\0\0\0\0\0\0\x09\0\0", 10) == 10);
  close(p[1]);
  r = argdata_reader_create(100, 0);
  CHECK(argdata_reader_pull(r, p[0]) == EBADMSG);
  argdata_reader_free(r);
  close(p[0]);
  /* Descriptors need a socket. */
  CHECK(pipe(p) == 0);
  argdata_writer_set(w, f);
  CHECK(argdata_writer_push(w, p[1]) == ENOTSOCK);
  close(p[0]);
  close(p[1]);

  argdata_writer_free(w);
  argdata_free(seq);
  argdata_free(f);
  argdata_free(h);
  close(null);
}

/* Sends len bytes in one sendmsg with the descriptors fds[0..nfds) attached. */
static ssize_t send_with_fds(int sock, const void *buf, size_t len,
                             const int *fds, size_t nfds) {
  union {
    struct cmsghdr align;
    char space[CMSG_SPACE(4 * sizeof(int))];
  } control;
  struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = control.space,
                       .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
  memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  return sendmsg(sock, &msg, 0);
}

static bool same_file(int a, int b) {
  struct stat sa, sb;
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

/* The reference framing, bytes written out: an 8-byte big-endian length, the
   data, the descriptors on the first sendmsg. */
static void test_reference_framing(void) {
  /* [!fd 0, !fd 1] and "hi". */
  static const unsigned char first[] = {0, 0, 0, 0, 0, 0, 0, 13,
                                         0x07, 0x85, 0x03, 0, 0, 0, 0,
                                         0x85, 0x03, 0, 0, 0, 1};
  static const unsigned char second[] = {0, 0, 0, 0, 0, 0, 0, 4,
                                         0x08, 'h', 'i', 0};
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  int null = open("/dev/null", O_RDONLY);
  int self = open("/proc/self/exe", O_RDONLY);
  int fds[2] = {null, self};
  CHECK(send_with_fds(sv[0], first, sizeof(first), fds, 2) == sizeof(first));
  CHECK(write(sv[0], second, sizeof(second)) == sizeof(second));
  close(sv[0]);

  argdata_reader_t *r = argdata_reader_create(64, 4);
  CHECK(argdata_reader_pull(r, sv[1]) == 0);
  const argdata_t *got = argdata_reader_get(r);
  CHECK(got != NULL);
  argdata_seq_iterator_t it;
  const argdata_t *e;
  int fd0 = -1, fd1 = -1;
  if (got != NULL) {
    argdata_seq_iterate(got, &it);
    CHECK(argdata_seq_get(&it, &e) && argdata_get_fd(e, &fd0) == 0);
    argdata_seq_next(&it);
    CHECK(argdata_seq_get(&it, &e) && argdata_get_fd(e, &fd1) == 0);
    CHECK(same_file(fd0, null) && same_file(fd1, self));
  }
  CHECK(argdata_reader_pull(r, sv[1]) == 0);
  got = argdata_reader_get(r);
  const char *s = NULL;
  CHECK(got != NULL && argdata_get_str_c(got, &s) == 0 && s != NULL &&
        strcmp(s, "hi") == 0);
  CHECK(fcntl(fd0, F_GETFD) == -1); /* the first message's copies are closed */
  CHECK(argdata_reader_pull(r, sv[1]) == 0 && argdata_reader_get(r) == NULL);
  argdata_reader_free(r);
  close(sv[1]);

  /* The writer: header and data in one stream, the descriptor on byte 0. */
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  argdata_t *f = argdata_create_fd(null);
  argdata_writer_t *w = argdata_writer_create();
  argdata_writer_set(w, f);
  CHECK(argdata_writer_push(w, sv[0]) == 0);
  argdata_writer_free(w);
  close(sv[0]);
  unsigned char head[8];
  union {
    struct cmsghdr align;
    char space[CMSG_SPACE(4 * sizeof(int))];
  } control;
  struct iovec iov = {.iov_base = head, .iov_len = sizeof(head)};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = control.space,
                       .msg_controllen = sizeof(control.space)};
  CHECK(recvmsg(sv[1], &msg, 0) == 8);
  static const unsigned char want_head[] = {0, 0, 0, 0, 0, 0, 0, 5};
  CHECK(memcmp(head, want_head, 8) == 0);
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  CHECK(c != NULL && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int)));
  if (c != NULL) {
    int received;
    memcpy(&received, CMSG_DATA(c), sizeof(int));
    CHECK(same_file(received, null));
    close(received);
  }
  unsigned char rest[16];
  static const unsigned char want_rest[] = {0x03, 0, 0, 0, 0};
  CHECK(read(sv[1], rest, sizeof(rest)) == 5 && memcmp(rest, want_rest, 5) == 0);
  CHECK(read(sv[1], rest, sizeof(rest)) == 0);
  close(sv[1]);
  argdata_free(f);

  /* A huge announced length: EMSGSIZE, nothing allocated for it. */
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  CHECK(write(sv[0], "\xff\xff\xff\xff\xff\xff\xff\xff", 8) == 8);
  close(sv[0]);
  r = argdata_reader_create((size_t)1 << 20, 1);
  CHECK(argdata_reader_pull(r, sv[1]) == EMSGSIZE);
  argdata_reader_free(r);
  close(sv[1]);

  /* More descriptors than the reader has room for: EMSGSIZE. */
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  int many[4] = {null, null, null, null};
  CHECK(send_with_fds(sv[0], second, sizeof(second), many, 4) == sizeof(second));
  close(sv[0]);
  r = argdata_reader_create(64, 1);
  CHECK(argdata_reader_pull(r, sv[1]) == EMSGSIZE);
  argdata_reader_free(r);
  close(sv[1]);

  close(self);
  close(null);
}

int main(void) {
  test_constants();
  test_builders_and_getters();
  test_containers_and_serialize();
  test_corrupt();
  test_serialize_opaque_buffers();
  test_print_yaml_lenient();
  test_wide_ints();
  test_too_deep();
  test_reader_writer();
  test_reference_framing();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
