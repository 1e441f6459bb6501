/*
 * Throughput of the argdata C API (cloudlibc-rs, libcloudlibc_rs.a) on two workloads:
 *
 *   map100k: a map of 100 000 entries, string keys of 8 to 24 bytes ("k<i>_" padded
 *            with printable ASCII) made with argdata_create_str_c, to ints of 1 to 8
 *            payload bytes of either sign made with argdata_create_int_s;
 *   seq1m:   a sequence of 1 000 000 such ints.
 *
 * "encode" is one full round as a C sender does it: create every node, create the
 * container, argdata_serialized_length (with n_fds), argdata_serialize (with an fd
 * array) into a buffer allocated once, and free every node. "decode" is
 * argdata_from_buffer on the bytes, then iterating with argdata_map_iterate /
 * argdata_seq_iterate and reading every key with argdata_get_str and every int with
 * argdata_get_int_s. Both are given in MB/s (10^6 bytes per second) of the encoded
 * data, the best of N rounds.
 *
 * Built with -DWITH_REF and linked with an object that defines the same functions with
 * a ref_ prefix (for instance the reference C library compiled with its symbols
 * renamed; it is not part of this repository), the same rounds are timed against it,
 * alternating, in the same run, and the ratios printed. One way to make that object from a
 * checkout of the reference sources (NuxiNL/argdata, src/):
 *
 *   cc -O2 -c -Isrc src/argdata_{create_*,free,from_buffer,serialize*,get_int_s,get_str,\
 *      map_*,seq_*}.c && ld -r *.o -o all.o
 *   nm all.o | awk '$2=="T" && $3 ~ /^argdata_/ {print $3, "ref_" $3}' > syms
 *   objcopy --redefine-syms=syms all.o ref.o
 *   cc -O2 -DWITH_REF ... capi_throughput.c libcloudlibc_rs.a ref.o ...
 *
 *   cargo build --release -p cloudlibc-rs
 *   cc -O2 -Icloudlibc-rs/include argdata/benches/compare/capi/capi_throughput.c \
 *      target/release/libcloudlibc_rs.a -lpthread -ldl -lm -o capi_throughput
 *   ./capi_throughput [rounds]
 */
#include <argdata.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { NMAP = 100000, NSEQ = 1000000 };

struct api {
  const char *name;
  argdata_t *(*create_int_s)(intmax_t);
  argdata_t *(*create_str_c)(const char *);
  argdata_t *(*create_map)(argdata_t const *const *, argdata_t const *const *, size_t);
  argdata_t *(*create_seq)(argdata_t const *const *, size_t);
  void (*free)(argdata_t *);
  void (*serialized_length)(const argdata_t *, size_t *, size_t *);
  size_t (*serialize)(const argdata_t *, void *, int *);
  argdata_t *(*from_buffer)(const void *, size_t, int (*)(void *, size_t), void *);
  void (*map_iterate)(const argdata_t *, void *);
  bool (*map_get)(const void *, const argdata_t **, const argdata_t **);
  void (*map_next)(void *);
  void (*seq_iterate)(const argdata_t *, void *);
  bool (*seq_get)(const void *, const argdata_t **);
  void (*seq_next)(void *);
  int (*get_str)(const argdata_t *, const char **, size_t *);
  int (*get_int_s)(const argdata_t *, intmax_t *, intmax_t, intmax_t);
};

#define API(prefix, label)                                                    \
  {                                                                           \
    label, prefix##create_int_s, prefix##create_str_c, prefix##create_map,    \
        prefix##create_seq, prefix##free, prefix##serialized_length,          \
        prefix##serialize, prefix##from_buffer, (void *)prefix##map_iterate,  \
        (void *)prefix##map_get, (void *)prefix##map_next,                    \
        (void *)prefix##seq_iterate, (void *)prefix##seq_get,                 \
        (void *)prefix##seq_next, prefix##get_str, prefix##get_int_s          \
  }

#ifdef WITH_REF
argdata_t *ref_argdata_create_int_s(intmax_t);
argdata_t *ref_argdata_create_str_c(const char *);
argdata_t *ref_argdata_create_map(argdata_t const *const *, argdata_t const *const *, size_t);
argdata_t *ref_argdata_create_seq(argdata_t const *const *, size_t);
void ref_argdata_free(argdata_t *);
void ref_argdata_serialized_length(const argdata_t *, size_t *, size_t *);
size_t ref_argdata_serialize(const argdata_t *, void *, int *);
argdata_t *ref_argdata_from_buffer(const void *, size_t, int (*)(void *, size_t), void *);
void ref_argdata_map_iterate(const argdata_t *, void *);
bool ref_argdata_map_get(const void *, const argdata_t **, const argdata_t **);
void ref_argdata_map_next(void *);
void ref_argdata_seq_iterate(const argdata_t *, void *);
bool ref_argdata_seq_get(const void *, const argdata_t **);
void ref_argdata_seq_next(void *);
int ref_argdata_get_str(const argdata_t *, const char **, size_t *);
int ref_argdata_get_int_s(const argdata_t *, intmax_t *, intmax_t, intmax_t);
#endif

/* Iterator storage large enough for either library. */
typedef struct {
  alignas(max_align_t) char bytes[256];
} iter_t;

/* SplitMix64, so every run sees the same data. */
static uint64_t state;
static uint64_t next_u64(void) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
/* An int whose shortest encoding has 1 to 8 bytes, either sign. */
static int64_t next_int(void) {
  unsigned bytes = 1 + next_u64() % 8;
  int64_t magnitude = (int64_t)(next_u64() >> (64 - (8 * bytes - 1)));
  return (next_u64() & 1) ? -magnitude - 1 : magnitude;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static char **keys;
static int64_t *map_ints, *seq_ints;
static const argdata_t **kv, **vv, **sv;
static unsigned char *out;
static int fds[1];

static size_t encode_map(const struct api *a) {
  for (size_t i = 0; i < NMAP; i++) {
    kv[i] = a->create_str_c(keys[i]);
    vv[i] = a->create_int_s(map_ints[i]);
  }
  argdata_t *map = a->create_map(kv, vv, NMAP);
  size_t len, nfds;
  a->serialized_length(map, &len, &nfds);
  a->serialize(map, out, fds);
  a->free(map);
  for (size_t i = 0; i < NMAP; i++) {
    a->free((argdata_t *)kv[i]);
    a->free((argdata_t *)vv[i]);
  }
  return len;
}

static size_t encode_seq(const struct api *a) {
  for (size_t i = 0; i < NSEQ; i++)
    sv[i] = a->create_int_s(seq_ints[i]);
  argdata_t *seq = a->create_seq(sv, NSEQ);
  size_t len, nfds;
  a->serialized_length(seq, &len, &nfds);
  a->serialize(seq, out, fds);
  a->free(seq);
  for (size_t i = 0; i < NSEQ; i++)
    a->free((argdata_t *)sv[i]);
  return len;
}

static uint64_t decode_map(const struct api *a, const void *buf, size_t len) {
  argdata_t *ad = a->from_buffer(buf, len, NULL, NULL);
  iter_t it;
  const argdata_t *k, *v;
  uint64_t sum = 0;
  for (a->map_iterate(ad, &it); a->map_get(&it, &k, &v); a->map_next(&it)) {
    const char *s;
    size_t n;
    intmax_t x;
    if (a->get_str(k, &s, &n) != 0 || a->get_int_s(v, &x, INTMAX_MIN, INTMAX_MAX) != 0)
      abort();
    sum += n + (uint64_t)x;
  }
  a->free(ad);
  return sum;
}

static uint64_t decode_seq(const struct api *a, const void *buf, size_t len) {
  argdata_t *ad = a->from_buffer(buf, len, NULL, NULL);
  iter_t it;
  const argdata_t *v;
  uint64_t sum = 0;
  for (a->seq_iterate(ad, &it); a->seq_get(&it, &v); a->seq_next(&it)) {
    intmax_t x;
    if (a->get_int_s(v, &x, INTMAX_MIN, INTMAX_MAX) != 0)
      abort();
    sum += (uint64_t)x;
  }
  a->free(ad);
  return sum;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 30;
  struct api apis[] = {
      API(argdata_, "cloudlibc-rs"),
#ifdef WITH_REF
      API(ref_argdata_, "reference"),
#endif
  };
  enum { NAPI = sizeof(apis) / sizeof(apis[0]) };

  state = 1;
  keys = malloc(NMAP * sizeof(*keys));
  map_ints = malloc(NMAP * sizeof(*map_ints));
  for (size_t i = 0; i < NMAP; i++) {
    size_t len = 8 + next_u64() % 17;
    keys[i] = malloc(len + 1);
    int n = snprintf(keys[i], len + 1, "k%zu_", i);
    for (size_t j = (size_t)n; j < len; j++)
      keys[i][j] = (char)(' ' + next_u64() % 95);
    keys[i][len] = '\0';
    map_ints[i] = next_int();
  }
  seq_ints = malloc(NSEQ * sizeof(*seq_ints));
  for (size_t i = 0; i < NSEQ; i++)
    seq_ints[i] = next_int();
  kv = malloc(NMAP * sizeof(*kv));
  vv = malloc(NMAP * sizeof(*vv));
  sv = malloc(NSEQ * sizeof(*sv));
  out = malloc(16 << 20);

  /* The encodings, once, for decoding (and checked to agree between libraries). */
  size_t map_len = encode_map(&apis[0]);
  unsigned char *map_bytes = malloc(map_len);
  memcpy(map_bytes, out, map_len);
  size_t seq_len = encode_seq(&apis[0]);
  unsigned char *seq_bytes = malloc(seq_len);
  memcpy(seq_bytes, out, seq_len);
  for (int a = 1; a < NAPI; a++) {
    if (encode_map(&apis[a]) != map_len || memcmp(out, map_bytes, map_len) != 0 ||
        encode_seq(&apis[a]) != seq_len || memcmp(out, seq_bytes, seq_len) != 0) {
      fprintf(stderr, "%s encodes differently\n", apis[a].name);
      return 1;
    }
  }

  double best[NAPI][4];
  for (int a = 0; a < NAPI; a++)
    for (int j = 0; j < 4; j++)
      best[a][j] = 1e9;
  volatile uint64_t sink = 0;
  for (int r = 0; r < rounds; r++) {
    for (int a = 0; a < NAPI; a++) {
      double t0 = now();
      encode_map(&apis[a]);
      double t1 = now();
      encode_seq(&apis[a]);
      double t2 = now();
      sink += decode_map(&apis[a], map_bytes, map_len);
      double t3 = now();
      sink += decode_seq(&apis[a], seq_bytes, seq_len);
      double t4 = now();
      double t[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
      for (int j = 0; j < 4; j++)
        if (t[j] < best[a][j])
          best[a][j] = t[j];
    }
  }

  const char *what[4] = {"map100k/encode", "seq1m/encode", "map100k/decode", "seq1m/decode"};
  size_t bytes[4] = {map_len, seq_len, map_len, seq_len};
  printf("%-16s", "");
  for (int a = 0; a < NAPI; a++)
    printf(" %14s", apis[a].name);
  if (NAPI > 1)
    printf("  ratio");
  printf("   (MB/s, best of %d; map %zu bytes, seq %zu bytes)\n", rounds, map_len, seq_len);
  for (int j = 0; j < 4; j++) {
    printf("%-16s", what[j]);
    for (int a = 0; a < NAPI; a++)
      printf(" %14.1f", bytes[j] / best[a][j] / 1e6);
    if (NAPI > 1)
      printf("  %5.2fx", best[1][j] / best[0][j]);
    printf("\n");
  }
  return 0;
}
