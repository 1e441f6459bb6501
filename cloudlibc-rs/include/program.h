/*
 * <program.h>: the entry point of CloudABI-style programs (cloudlibc-rs).
 *
 * A program defines program_main() instead of main() and links against
 * libcloudlibc_rs.a, whose main() receives the argdata as docs/startup.md
 * describes and then calls program_main() with it:
 *
 *     cc prog.c -Icloudlibc-rs/include target/release/libcloudlibc_rs.a \
 *        -lpthread -ldl -lm
 *
 * program_main() may return (the program then exits with status 0, after
 * flushing stdio) or end the process itself with exit().
 */

#ifndef PROGRAM_H
#define PROGRAM_H

#include <stddef.h>

#ifndef argdata_t
typedef struct argdata_t argdata_t;
#define argdata_t argdata_t
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The program's entry point, defined by the program. `ad` is the root of the
 * argdata the program was started with; it stays valid until the process
 * ends. Declared without _Noreturn so that both returning and non-returning
 * definitions are accepted.
 */
void program_main(const argdata_t *ad);

/*
 * Stores the encoded argdata the program was started with in *buf and its
 * length in *len. Before start-up completed (or in a program with its own
 * main()) *buf is NULL and *len is 0.
 */
void program_get_raw_argdata(const void **buf, size_t *len);

/*
 * Replaces the current process by the executable open as `fd`, handing it
 * `ad` through the start-up protocol: the descriptors in `ad` become
 * 3 ... 3+n-1 in the new program (0-2 keep their numbers when `ad` names
 * them and become /dev/null otherwise), every other descriptor is closed, and
 * the encoded value travels in a sealed memfd. Returns an errno value only on
 * failure (e.g. EBADF for an invalid descriptor in `ad`, EINVAL for corrupt
 * argdata, or any error of execveat()); on success it does not return.
 */
int program_exec(int fd, const argdata_t *ad);

#ifdef __cplusplus
}
#endif

#endif
