// @commit: cfgkit-save-mode
// @repo: demo/cfgkit
// @path: src/cfg/save.c
// @cwe: CWE-732
// @cve: CVE-2099-0405
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

struct credential {
    const char *user;
    const char *token;
};

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int cfg_save_credentials(const char *path, const struct credential *cred)
{
    char line[512];
    int fd, n;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644); //-
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600); //+
    if (fd < 0)
        return -1;
    if (fchmod(fd, 0600) != 0) { //+
        close(fd); //+
        return -1; //+
    } //+
    n = snprintf(line, sizeof(line), "user=%s\ntoken=%s\n", cred->user, cred->token);
    if (n < 0 || (size_t)n >= sizeof(line) || write_all(fd, line, (size_t)n) != 0) {
        close(fd);
        return -1;
    }
    return close(fd);
}
