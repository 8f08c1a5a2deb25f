// @commit: tinyhttpd-dirlist-escape
// @repo: demo/tinyhttpd
// @path: src/http/dirlist.c
// @cwe: CWE-79
// @cve: CVE-2099-0103
#include <dirent.h>
#include <stdio.h>
#include <string.h>

static void html_escape(FILE *out, const char *text)
{
    for (; *text != '\0'; text++) {
        switch (*text) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*text, out);
        }
    }
}

static void write_entry(FILE *out, const char *name)
{
    fputs("<li><a href=\"", out);
    fputs(name, out); //-
    html_escape(out, name); //+
    fputs("\">", out);
    fputs(name, out); //-
    html_escape(out, name); //+
    fputs("</a></li>\n", out);
}

int dirlist_render(FILE *out, const char *dir_path, const char *title)
{
    DIR *dir = opendir(dir_path);
    struct dirent *ent;

    if (dir == NULL)
        return -1;
    fputs("<html><head><title>", out);
    html_escape(out, title);
    fputs("</title></head><body><ul>\n", out);
    while ((ent = readdir(dir)) != NULL) {
        if (ent->d_name[0] == '.')
            continue;
        write_entry(out, ent->d_name);
    }
    fputs("</ul></body></html>\n", out);
    closedir(dir);
    return 0;
}
