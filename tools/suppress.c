/* suppress.c — LeakSanitizer-style suppressions: `leak:PATTERN` lines, `#` comments, blank
 * lines. A pattern matches a leak when it matches the function, the source file or the module of
 * ANY frame of its stack (LSan's semantics), with `*` wildcards and optional ^/$ anchors. */
#include "forkleak.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#define MAX_SUPP_BYTES (16UL * 1024 * 1024)

/* Port of sanitizer_common's TemplateMatch without its in-place edits (and with a correct '$'):
 * pieces between '*' are found left to right; '^' pins the first piece to the start, '$' the last
 * to the end. */
bool fl_supp_template_match(const char *templ, const char *str)
{
    if (!str || !str[0])
        return false;
    bool start = false;
    if (templ[0] == '^') {
        start = true;
        templ++;
    }
    bool asterisk = false;
    while (templ[0]) {
        if (templ[0] == '*') {
            templ++;
            start = false;
            asterisk = true;
            continue;
        }
        if (templ[0] == '$')
            return str[0] == 0 || asterisk;
        if (str[0] == 0)
            return false;
        size_t plen = strcspn(templ, "*$");
        if (templ[plen] == '$') {
            /* The last piece must end the string: test the suffix (LSan tests only the first
             * occurrence, so "ab$" missed "abab"). */
            size_t sl = strlen(str);
            if (sl < plen || memcmp(str + sl - plen, templ, plen) != 0)
                return false;
            return !start || sl == plen;
        }
        const char *spos = memmem(str, strlen(str), templ, plen);
        if (!spos)
            return false;
        if (start && spos != str)
            return false;
        str = spos + plen;
        templ += plen;
        start = false;
        asterisk = false;
    }
    return true;
}

/* Appends the leak: patterns of PATH; false with a diagnostic on the first bad line. */
bool fl_supp_load(fl_supps_t *s, const char *path, fl_diags_t *diags)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        fl_diag_add(diags, path, 0, "cannot read suppressions: %s", strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0, total = 0;
    ssize_t len;
    unsigned long lineno = 0;
    bool ok = true;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        total += (size_t)len;
        if (total > MAX_SUPP_BYTES) {
            fl_diag_add(diags, path, lineno, "suppression file larger than %lu MiB",
                        MAX_SUPP_BYTES >> 20);
            ok = false;
            break;
        }
        if (memchr(line, 0, (size_t)len)) {
            fl_diag_add(diags, path, lineno, "NUL byte (not a suppression file)");
            ok = false;
            break;
        }
        char *b = line, *e = line + len;
        while (b < e && isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        *e = 0;
        if (!*b || *b == '#')
            continue;
        char *colon = strchr(b, ':');
        if (!colon) {
            fl_diag_add(diags, path, lineno, "'%s' is not TYPE:PATTERN (expected leak:PATTERN)", b);
            ok = false;
            break;
        }
        *colon = 0;
        if (strcmp(b, "leak") != 0) {
            fl_diag_add(diags, path, lineno,
                        "suppression type '%s' is not supported (only leak:PATTERN)", b);
            ok = false;
            break;
        }
        const char *pat = colon + 1;
        while (isspace((unsigned char)*pat))
            pat++;
        if (!*pat) {
            fl_diag_add(diags, path, lineno, "empty pattern after 'leak:'");
            ok = false;
            break;
        }
        fl_supp_t *sp = FL_PUSH(*s);
        sp->pattern = fl_intern(pat);
        sp->file = fl_xstrdup(path);
        sp->line = lineno;
    }
    if (ok && ferror(f)) {
        fl_diag_add(diags, path, 0, "read error: %s", strerror(errno));
        ok = false;
    }
    free(line);
    fclose(f);
    return ok;
}

/* The first suppression matching a function, file or module of any frame, or -1. */
int fl_supp_match(const fl_supps_t *s, const fl_symstack_t *st)
{
    for (size_t i = 0; i < s->n; i++) {
        const char *pat = s->v[i].pattern;
        for (size_t k = 0; k < st->n; k++) {
            const fl_frame_t *f = &st->frames[k];
            if (fl_supp_template_match(pat, f->module) ||
                fl_supp_template_match(pat, f->function) || fl_supp_template_match(pat, f->file))
                return (int)i;
        }
    }
    return -1;
}

/* Releases the suppressions. */
void fl_supps_free(fl_supps_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].file);
    free(s->v);
    memset(s, 0, sizeof *s);
}
