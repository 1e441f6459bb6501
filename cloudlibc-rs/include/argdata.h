/*
 * <argdata.h>: CloudABI's argdata format, C API (cloudlibc-rs).
 *
 * Source-compatible with the reference library's header. Values are opaque
 * argdata_t pointers. Getters return 0 or an errno value: EINVAL (wrong type
 * or malformed encoding), ERANGE (number out of range), EBADF (descriptor not
 * granted), EILSEQ (bad UTF-8, or a NUL byte inside a C string). Creators
 * return NULL and set errno on failure. Nothing here copies the buffers and
 * arrays it is given, except argdata_create_timestamp.
 */

#ifndef ARGDATA_H
#define ARGDATA_H

#include <limits.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct timespec;

#ifndef argdata_t
typedef struct argdata_t argdata_t;
#define argdata_t argdata_t
#endif

/* Iterator storage; `index` is public, `data` is private state. */
typedef struct {
  alignas(max_align_t) size_t index;
  char data[128];
} argdata_map_iterator_t;

typedef struct {
  alignas(max_align_t) size_t index;
  char data[128];
} argdata_seq_iterator_t;

/* `index` of an iterator past its last element. */
#define ARGDATA_ITERATOR_END SIZE_MAX
/* `index` of an iterator over a non-container or corrupt data. */
#define ARGDATA_ITERATOR_INVALID (SIZE_MAX - 1)

#ifndef argdata_reader_t
typedef struct argdata_reader_t argdata_reader_t;
#define argdata_reader_t argdata_reader_t
#endif

#ifndef argdata_writer_t
typedef struct argdata_writer_t argdata_writer_t;
#define argdata_writer_t argdata_writer_t
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The constants false, true and null. Never pass them to argdata_free. */
extern const argdata_t argdata_false;
extern const argdata_t argdata_true;
extern const argdata_t argdata_null;

/*
 * A value viewing `len` encoded bytes at `buf` (kept, not copied). Fd leaves
 * are translated by convert_fd(convert_fd_arg, index); a negative result, or a
 * NULL convert_fd, makes argdata_get_fd fail with EBADF.
 */
argdata_t *argdata_from_buffer(const void *buf, size_t len,
                               int (*convert_fd)(void *, size_t),
                               void *convert_fd_arg);

/* Builders. Binary data, strings and arrays are referenced, not copied. */
argdata_t *argdata_create_binary(const void *, size_t);
argdata_t *argdata_create_fd(int); /* EBADF if negative */
argdata_t *argdata_create_float(double);
argdata_t *argdata_create_int_s(intmax_t);
argdata_t *argdata_create_int_u(uintmax_t);
argdata_t *argdata_create_map(argdata_t const *const *keys,
                              argdata_t const *const *values, size_t n);
argdata_t *argdata_create_seq(argdata_t const *const *, size_t);
argdata_t *argdata_create_str(const char *, size_t);   /* EILSEQ if not UTF-8 */
argdata_t *argdata_create_str_c(const char *);          /* EILSEQ if not UTF-8 */
argdata_t *argdata_create_timestamp(const struct timespec *); /* copied */

/* Frees a value from argdata_from_buffer or an argdata_create_* function. */
void argdata_free(argdata_t *);

/*
 * Encoded size of a value, and (if n_fds is not NULL) its number of fd leaves.
 * A value from argdata_from_buffer is opaque, as in the reference: its size is
 * the buffer's length and its fd leaves are those argdata_serialize renumbers
 * (tag 03 with a 4-byte payload, reached through maps and sequences up to the
 * first subfield length that does not parse), even ones convert_fd rejects;
 * the data is not otherwise checked. Only a tree built in memory nesting more
 * than 128 levels deep fails: both are then 0 and errno is EINVAL.
 */
void argdata_serialized_length(const argdata_t *, size_t *size, size_t *n_fds);

/*
 * Encodes a value into buf. With fds not NULL, descriptors are renumbered
 * 0, 1, ... in order of first appearance, fds[i] receives the descriptor
 * encoded as i, and the number of distinct descriptors is returned; buffer
 * values are copied as they are except for their fd leaves, and a leaf whose
 * index convert_fd rejects is written as 0xffffffff and not listed. With fds
 * NULL, fd leaves built in memory keep their numbers, buffers are copied
 * verbatim, and 0 is returned.
 */
size_t argdata_serialize(const argdata_t *, void *buf, int *fds);

/* Getters: 0 on success, else EINVAL, ERANGE, EBADF or EILSEQ (see above). */
int argdata_get_binary(const argdata_t *, const void **, size_t *);
int argdata_get_bool(const argdata_t *, bool *);
int argdata_get_fd(const argdata_t *, int *);
int argdata_get_float(const argdata_t *, double *);
int argdata_get_int_s(const argdata_t *, intmax_t *, intmax_t min, intmax_t max);
int argdata_get_int_u(const argdata_t *, uintmax_t *, uintmax_t max);
int argdata_get_str(const argdata_t *, const char **, size_t *);
int argdata_get_str_c(const argdata_t *, const char **);
int argdata_get_timestamp(const argdata_t *, struct timespec *);

/*
 * Iteration. *_iterate sets it->index to 0 at the first element,
 * ARGDATA_ITERATOR_END for an empty container, or ARGDATA_ITERATOR_INVALID
 * when the value is not a container of that kind. *_get returns false past
 * the end; its results point into the iterator and stay valid until it is
 * advanced. *_next advances; corrupt data sets ARGDATA_ITERATOR_INVALID.
 */
void argdata_map_iterate(const argdata_t *, argdata_map_iterator_t *it);
bool argdata_map_get(const argdata_map_iterator_t *it, const argdata_t **key,
                     const argdata_t **value);
void argdata_map_next(argdata_map_iterator_t *it);
void argdata_seq_iterate(const argdata_t *, argdata_seq_iterator_t *it);
bool argdata_seq_get(const argdata_seq_iterator_t *it, const argdata_t **element);
void argdata_seq_next(argdata_seq_iterator_t *it);

/*
 * Writes a value as YAML to a stream, byte for byte as the reference printer:
 * never fails on malformed data. A leaf that does not decode (and an integer
 * outside int64_t and uint64_t) prints as !!null "null", a container stops at
 * its first entry that does not parse (!!null "null" if that is the first),
 * and a descriptor convert_fd rejects prints as !fd "invalid".
 */
void argdata_print_yaml(const argdata_t *, FILE *);

/*
 * Messages over stream descriptors, framed as by the reference library: an
 * 8-byte big-endian data length, then the encoded value. The descriptors go as
 * one SCM_RIGHTS message with the first sendmsg() of the message (so they need
 * a UNIX socket); the reader takes those that arrive with its first recvmsg(),
 * and more than max_fds_len of them make it fail with EMSGSIZE.
 *
 * argdata_reader_pull returns 0 when a message is complete or at a clean
 * end-of-file (argdata_reader_get then returns NULL), EMSGSIZE when a message
 * exceeds the reader's limits, EBADMSG when the stream ends inside it, or
 * the error of read()/recvmsg() (EAGAIN, EINTR: call again, it carries on).
 * Pulling the next message closes the previous message's descriptors unless
 * released.
 */
argdata_reader_t *argdata_reader_create(size_t max_data_len, size_t max_fds_len);
void argdata_reader_free(argdata_reader_t *);
const argdata_t *argdata_reader_get(const argdata_reader_t *);
void argdata_reader_release_fd(argdata_reader_t *, int);
int argdata_reader_pull(argdata_reader_t *, int);

/*
 * argdata_writer_push returns 0 when the message set by argdata_writer_set is
 * sent (or none is set), else the error of write()/sendmsg() (EAGAIN, EINTR:
 * call again, it carries on; ENOTSOCK: descriptors need a UNIX socket).
 */
argdata_writer_t *argdata_writer_create(void);
void argdata_writer_free(argdata_writer_t *);
int argdata_writer_push(argdata_writer_t *, int);
void argdata_writer_set(argdata_writer_t *, const argdata_t *);

#ifdef __cplusplus
}
#endif

/* argdata_create_int(v) and argdata_get_int(ad, &v) for any integer type:
   _Generic macros in C, overloads in C++. */
#ifndef __cplusplus

#define argdata_create_int(value)                  \
  _Generic(value,                                  \
           char: argdata_create_int_s,             \
           signed char: argdata_create_int_s,      \
           unsigned char: argdata_create_int_u,    \
           short: argdata_create_int_s,            \
           unsigned short: argdata_create_int_u,   \
           int: argdata_create_int_s,              \
           unsigned int: argdata_create_int_u,     \
           long: argdata_create_int_s,             \
           unsigned long: argdata_create_int_u,    \
           long long: argdata_create_int_s,        \
           unsigned long long: argdata_create_int_u)(value)

#define argdata_get_int(ad, value)                 \
  _Generic(*(value),                               \
           char: argdata_get_int_char,            \
           signed char: argdata_get_int_schar,    \
           unsigned char: argdata_get_int_uchar,  \
           short: argdata_get_int_short,          \
           unsigned short: argdata_get_int_ushort,\
           int: argdata_get_int_int,              \
           unsigned int: argdata_get_int_uint,    \
           long: argdata_get_int_long,            \
           unsigned long: argdata_get_int_ulong,  \
           long long: argdata_get_int_llong,      \
           unsigned long long: argdata_get_int_ullong)(ad, value)
#define ARGDATA_OVERLOAD_(name, type, sign)
#else
#define ARGDATA_OVERLOAD_(name, type, sign)                            \
  inline argdata_t *argdata_create_int(type v_) {                      \
    return argdata_create_int_##sign(v_);                              \
  }                                                                    \
  inline int argdata_get_int(const argdata_t *ad_, type *out_) {       \
    return name(ad_, out_);                                            \
  }
#endif

#define ARGDATA_GET_SIGNED_(name, type, lo, hi)                        \
  static inline int name(const argdata_t *ad_, type *out_) {          \
    intmax_t v_;                                                       \
    int e_ = argdata_get_int_s(ad_, &v_, (lo), (hi));                  \
    if (e_ == 0) *out_ = (type)v_;                                     \
    return e_;                                                         \
  }                                                                    \
  ARGDATA_OVERLOAD_(name, type, s)
#define ARGDATA_GET_UNSIGNED_(name, type, hi)                          \
  static inline int name(const argdata_t *ad_, type *out_) {          \
    uintmax_t v_;                                                      \
    int e_ = argdata_get_int_u(ad_, &v_, (hi));                        \
    if (e_ == 0) *out_ = (type)v_;                                     \
    return e_;                                                         \
  }                                                                    \
  ARGDATA_OVERLOAD_(name, type, u)

ARGDATA_GET_SIGNED_(argdata_get_int_char, char, CHAR_MIN, CHAR_MAX)
ARGDATA_GET_SIGNED_(argdata_get_int_schar, signed char, SCHAR_MIN, SCHAR_MAX)
ARGDATA_GET_UNSIGNED_(argdata_get_int_uchar, unsigned char, UCHAR_MAX)
ARGDATA_GET_SIGNED_(argdata_get_int_short, short, SHRT_MIN, SHRT_MAX)
ARGDATA_GET_UNSIGNED_(argdata_get_int_ushort, unsigned short, USHRT_MAX)
ARGDATA_GET_SIGNED_(argdata_get_int_int, int, INT_MIN, INT_MAX)
ARGDATA_GET_UNSIGNED_(argdata_get_int_uint, unsigned int, UINT_MAX)
ARGDATA_GET_SIGNED_(argdata_get_int_long, long, LONG_MIN, LONG_MAX)
ARGDATA_GET_UNSIGNED_(argdata_get_int_ulong, unsigned long, ULONG_MAX)
ARGDATA_GET_SIGNED_(argdata_get_int_llong, long long, LLONG_MIN, LLONG_MAX)
ARGDATA_GET_UNSIGNED_(argdata_get_int_ullong, unsigned long long, ULLONG_MAX)

#undef ARGDATA_GET_SIGNED_
#undef ARGDATA_GET_UNSIGNED_
#undef ARGDATA_OVERLOAD_

#endif
