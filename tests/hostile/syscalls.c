/* Syscalls the seccomp filter denies: each must fail with EPERM. */
#include <errno.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>
static void report(const char *name, long rc) {
    printf("%s %s\n", name, rc == -1 && errno == EPERM ? "EPERM" : "ALLOWED");
}
int main(void) {
    errno = 0; report("ptrace", ptrace(PTRACE_TRACEME, 0, 0, 0));
    errno = 0; report("io_uring_setup", syscall(425, 1, 0));
    errno = 0; report("bpf", syscall(SYS_bpf, 0, 0, 0));
    errno = 0; report("keyctl", syscall(SYS_keyctl, 0, 0, 0, 0, 0));
    return 0;
}
