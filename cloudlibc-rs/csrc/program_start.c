/*
 * The C entry point for programs written against <program.h>.
 *
 * This object is the only one in libcloudlibc_rs.a that defines `main`. A linker pulls an
 * archive member only to resolve a symbol that is still undefined, so this file becomes
 * part of a program exactly when the program has no `main` of its own: a file that
 * defines `program_main` gets this `main`, while a program with its own `main` that only
 * uses the argdata API never loads this object. `program_main` is referenced weakly, so
 * that even if this object were loaded without a `program_main`, linking still succeeds
 * and the start-up code reports the missing entry point at run time.
 */

#include <program.h>

extern void program_main(const argdata_t *ad) __attribute__((weak));

int __cloudlibc_rs_start(int argc, char **argv, void (*entry)(const argdata_t *));

int main(int argc, char **argv) {
  return __cloudlibc_rs_start(argc, argv, program_main);
}
