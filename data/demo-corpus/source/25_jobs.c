// @commit: shellrun-job-alloc
// @repo: demo/shellrun
// @path: src/run/jobs.c
// @cwe: CWE-476
// @cve: CVE-2099-0503
#include <stdlib.h>
#include <string.h>

struct job {
    char *name;
    char **argv;
    int argc;
};

static char *dup_string(const char *s)
{
    size_t len = strlen(s) + 1;
    char *p = malloc(len);
    if (p != NULL) //+
        memcpy(p, s, len);
    return p;
}

struct job *job_new(const char *name, int argc, const char *const *argv)
{
    struct job *j = calloc(1, sizeof(*j));
    int i;

    if (j == NULL) //+
        return NULL; //+
    j->name = dup_string(name);
    j->argv = calloc((size_t)argc + 1, sizeof(char *));
    if (j->name == NULL || j->argv == NULL) { //+
        free(j->name); //+
        free(j->argv); //+
        free(j); //+
        return NULL; //+
    } //+
    j->argc = argc;
    for (i = 0; i < argc; i++)
        j->argv[i] = dup_string(argv[i]);
    return j;
}

void job_free(struct job *j)
{
    int i;
    if (j == NULL)
        return;
    for (i = 0; i < j->argc; i++)
        free(j->argv[i]);
    free(j->argv);
    free(j->name);
    free(j);
}
