// @commit: cfgkit-lexer-token
// @repo: demo/cfgkit
// @path: src/cfg/lexer.c
// @cwe: CWE-119
// @cve: CVE-2099-0403
#include <ctype.h>
#include <stddef.h>

#define TOKEN_MAX 64
#define IS_WORD(c) (isalnum((unsigned char)(c)) || (c) == '_' || (c) == '.')

struct lexer {
    const char *src;
    size_t pos;
    char token[TOKEN_MAX];
};

static void
skip_space(lx)
    struct lexer *lx;
{
    while (lx->src[lx->pos] == ' ' || lx->src[lx->pos] == '\t')
        lx->pos++;
}

int
lexer_word(lx)
    struct lexer *lx;
{
    size_t n = 0;

    skip_space(lx);
    while (IS_WORD(lx->src[lx->pos])) {
        if (n + 1 >= TOKEN_MAX) //+
            return -1; //+
        lx->token[n++] = lx->src[lx->pos++];
    }
    lx->token[n] = '\0';
    return n > 0 ? 0 : -1;
}

int
lexer_expect(lx, c)
    struct lexer *lx;
    int c;
{
    skip_space(lx);
    if (lx->src[lx->pos] != c)
        return -1;
    lx->pos++;
    return 0;
}
