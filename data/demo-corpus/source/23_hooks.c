// @commit: shellrun-hook-exec
// @repo: demo/shellrun
// @path: src/run/hooks.c
// @cwe: CWE-78
// @cve: CVE-2099-0501
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

struct hook {
    const char *script;
    const char *job_name;
};

static int wait_child(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int hook_run(const struct hook *h)
{
    char cmd[1024]; //-
    int n = snprintf(cmd, sizeof(cmd), "%s %s", h->script, h->job_name); //-
    if (n < 0 || (size_t)n >= sizeof(cmd)) //-
        return -1; //-
    return system(cmd); //-
    pid_t pid = fork(); //+
    if (pid < 0) //+
        return -1; //+
    if (pid == 0) { //+
        execl(h->script, h->script, h->job_name, (char *)NULL); //+
        _exit(127); //+
    } //+
    return wait_child(pid); //+
}

int hook_run_all(const struct hook *hooks, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (hook_run(&hooks[i]) != 0)
            return -1;
    }
    return 0;
}
