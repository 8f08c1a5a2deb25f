// @commit: cfgkit-null-section
// @repo: demo/cfgkit
// @path: src/cfg/lookup.c
// @cwe: CWE-476
// @cve: CVE-2099-0404
#include <stdlib.h>
#include <string.h>

struct cfg_entry {
    const char *key;
    const char *value;
};

struct cfg_section {
    const char *name;
    struct cfg_entry *entries;
    size_t count;
};

struct cfg_section *cfg_find_section(struct cfg_section *all, size_t n, const char *name);

const char *cfg_get(struct cfg_section *all, size_t n, const char *section, const char *key)
{
    struct cfg_section *sec = cfg_find_section(all, n, section);
    size_t i;

    if (sec == NULL) //+
        return NULL; //+
    for (i = 0; i < sec->count; i++) {
        if (strcmp(sec->entries[i].key, key) == 0)
            return sec->entries[i].value;
    }
    return NULL;
}

char *cfg_get_expanded(struct cfg_section *all, size_t n, const char *section, const char *key)
{
    const char *v = cfg_get(all, n, section, key);

    if (v == NULL) //+
        return NULL; //+
    if (v[0] == '$') {
        v = getenv(v + 1);
        if (v == NULL) //+
            return NULL; //+
    }
    return strdup(v);
}
