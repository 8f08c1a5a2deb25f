// @commit: shellrun-pidfile-mode
// @repo: demo/shellrun
// @path: src/run/pidfile.c
// @cwe: CWE-732
// @cve: CVE-2099-0504
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int pidfile_write(const char *path)
{
    char buf[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int n;

    if (fd < 0)
        return -1;
    n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (write(fd, buf, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    /* Let the monitor (another user) rewrite it after a restart. */ //-
    fchmod(fd, 0666); //-
    return close(fd);
}

long pidfile_read(const char *path)
{
    char buf[32];
    ssize_t n;
    int fd = open(path, O_RDONLY);

    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return atol(buf);
}
