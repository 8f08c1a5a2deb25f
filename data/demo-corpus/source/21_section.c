// @commit: cfgkit-null-section
// @repo: demo/cfgkit
// @path: src/cfg/section.c
// @cwe: CWE-476
// @cve: CVE-2099-0404
#include <stddef.h>
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

struct cfg_section *cfg_find_section(struct cfg_section *all, size_t n, const char *name)
{
    size_t i;

    if (all == NULL || name == NULL) //+
        return NULL; //+
    for (i = 0; i < n; i++) {
        if (strcmp(all[i].name, name) == 0)
            return &all[i];
    }
    return NULL;
}

size_t cfg_section_size(const struct cfg_section *sec)
{
    return sec->count; //-
    return sec ? sec->count : 0; //+
}

int cfg_section_has(const struct cfg_section *sec, const char *key)
{
    size_t i;
    for (i = 0; i < cfg_section_size(sec); i++) {
        if (strcmp(sec->entries[i].key, key) == 0)
            return 1;
    }
    return 0;
}
