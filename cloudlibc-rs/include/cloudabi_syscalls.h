/*
 * The CloudABI system calls a C program built with cloudlibc-rs for
 * x86_64-unknown-cloudabi or aarch64-unknown-cloudabi can make directly
 * (forwarded to the vDSO). Each returns 0 or a CloudABI errno value.
 */
#ifndef CLOUDLIBC_RS_CLOUDABI_SYSCALLS_H
#define CLOUDLIBC_RS_CLOUDABI_SYSCALLS_H

#include <cloudabi_types.h>

#ifdef __cplusplus
extern "C" {
#endif

cloudabi_errno_t cloudabi_sys_clock_time_get(cloudabi_clockid_t clock_id,
                                             cloudabi_timestamp_t precision,
                                             cloudabi_timestamp_t *time);
cloudabi_errno_t cloudabi_sys_fd_close(cloudabi_fd_t fd);
cloudabi_errno_t cloudabi_sys_fd_read(cloudabi_fd_t fd,
                                      const cloudabi_iovec_t *iovs,
                                      size_t iovs_len, size_t *nread);
cloudabi_errno_t cloudabi_sys_fd_write(cloudabi_fd_t fd,
                                       const cloudabi_ciovec_t *iovs,
                                       size_t iovs_len, size_t *nwritten);
cloudabi_errno_t cloudabi_sys_file_readdir(cloudabi_fd_t fd, void *buf,
                                           size_t buf_len,
                                           cloudabi_dircookie_t cookie,
                                           size_t *bufused);
_Noreturn void cloudabi_sys_proc_exit(cloudabi_exitcode_t rval);
cloudabi_errno_t cloudabi_sys_random_get(void *buf, size_t buf_len);

#ifdef __cplusplus
}
#endif

#endif
