/* format_sarif.c — SARIF 2.1.0 for code scanning in CI: one result per (de-duplicated) leak
 * group of the combined view, located at the allocating frame's file:line, with the whole
 * allocation stack attached. Paths under the current directory are made relative to %SRCROOT%
 * so that code-scanning services can place them in the repository. */
#include "forkleak.h"

#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

static const struct {
    const char *id, *name, *level, *text, *help;
} rules[FL_KIND_COUNT] = {
    [FL_KIND_DIRECT] = {"forkleak/direct-leak", "DirectLeak", "error",
                        "Memory leaked: no pointer to the block is left",
                        "The block is unreachable from every root (globals, stacks, registers, "
                        "thread-local storage) at process exit."},
    [FL_KIND_INDIRECT] = {"forkleak/indirect-leak", "IndirectLeak", "warning",
                          "Memory leaked: reachable only from other leaked blocks",
                          "The block is pointed to only by leaked blocks; fixing the direct "
                          "leak that holds it fixes this one."},
    [FL_KIND_ORPHAN] = {"forkleak/orphaned-by-fork", "OrphanedByFork", "note",
                        "Memory orphaned by fork: reachable only from threads that do not "
                        "exist in the child",
                        "After fork only the forking thread survives; blocks that only the "
                        "other threads' stacks pointed to can never be freed by the child."},
    [FL_KIND_LIVE] = {"forkleak/live-at-exit", "LiveAtExit", "note",
                      "Memory still allocated at exit (no reachability check was made)",
                      "The process made no leak check; the block was live when it exited."},
    [FL_KIND_REACHABLE] = {"forkleak/reachable", "Reachable", "none", "Reachable at exit",
                           "Reachable blocks are not leaks."},
};

static json_t *jnum(uint64_t v)
{
    return v <= INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

static json_t *jtext(const char *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "text", fl_json_str(s));
    return o;
}

/* RFC 3986 percent-encoding of a path, keeping '/'. */
static char *uri_path(const char *p)
{
    fl_buf_t b = {0};
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~/", c))
            fl_buf_add(&b, p, 1);
        else
            fl_buf_printf(&b, "%%%02X", c);
    }
    return b.s ? b.s : fl_xstrdup("");
}

static json_t *jartifact(const char *file, const char *cwd)
{
    json_t *o = json_object();
    size_t cl = cwd ? strlen(cwd) : 0;
    if (cwd && file[0] == '/' && !strncmp(file, cwd, cl) && file[cl] == '/') {
        char *u = uri_path(file + cl + 1);
        json_object_set_new(o, "uri", fl_json_str(u));
        json_object_set_new(o, "uriBaseId", json_string("SRCROOT"));
        free(u);
    } else if (file[0] == '/') {
        char *u = uri_path(file);
        char *full = fl_xasprintf("file://%s", u);
        json_object_set_new(o, "uri", fl_json_str(full));
        free(full);
        free(u);
    } else {
        char *u = uri_path(file);
        json_object_set_new(o, "uri", fl_json_str(u));
        free(u);
    }
    return o;
}

static json_t *jlocation(const fl_frame_t *f, const char *cwd)
{
    json_t *loc = json_object();
    if (f->file) {
        json_t *phys = json_object();
        json_object_set_new(phys, "artifactLocation", jartifact(f->file, cwd));
        if (f->line) {
            json_t *region = json_object();
            json_object_set_new(region, "startLine", jnum(f->line));
            json_object_set_new(phys, "region", region);
        }
        json_object_set_new(loc, "physicalLocation", phys);
    }
    json_t *logical = json_array(), *l = json_object();
    if (f->function) {
        json_object_set_new(l, "fullyQualifiedName", fl_json_str(f->function));
        json_object_set_new(l, "kind", json_string("function"));
    } else {
        char buf[64];
        snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)(f->module ? f->offset : f->ip));
        json_object_set_new(l, "name", json_string(buf));
    }
    json_array_append_new(logical, l);
    json_object_set_new(loc, "logicalLocations", logical);
    return loc;
}

static const fl_frame_t *location_frame(const fl_symstack_t *st)
{
    for (size_t i = 0; i < st->n; i++)
        if (!fl_is_allocator(st->frames[i].function) && st->frames[i].file)
            return &st->frames[i];
    return fl_first_user_frame(st);
}

static json_t *jresult(const fl_combined_t *c, const char *cwd)
{
    json_t *o = json_object();
    json_object_set_new(o, "ruleId", json_string(rules[c->kind].id));
    json_object_set_new(o, "ruleIndex", json_integer((json_int_t)c->kind));
    json_object_set_new(o, "level", json_string(rules[c->kind].level));
    const fl_frame_t *at = location_frame(c->stack);
    fl_buf_t msg = {0};
    fl_buf_printf(&msg, "%s: %llu byte(s) in %llu object(s)", fl_kind_title(c->kind),
                  (unsigned long long)c->bytes, (unsigned long long)c->blocks);
    if (c->before_fork)
        fl_buf_printf(&msg, ", allocated before fork in pid %lld and leaked in %zu child(ren)",
                      (long long)c->alloc_pid, c->inheritors.n);
    else if (c->procs.n == 1)
        fl_buf_printf(&msg, " in pid %lld", (long long)c->procs.v[0]->pid);
    else
        fl_buf_printf(&msg, " in %zu processes", c->procs.n);
    if (!c->before_fork && c->inheritors.n)
        fl_buf_printf(&msg, " (before fork; also present in %zu child(ren))", c->inheritors.n);
    const fl_node_t *who = c->alloc ? c->alloc : c->first;
    if (who && who->rep && who->rep->exe)
        fl_buf_printf(&msg, " of %s", who->rep->exe);
    if (at && at->function)
        fl_buf_printf(&msg, ", allocated in %s", at->function);
    json_object_set_new(o, "message", jtext(msg.s));
    free(msg.s);
    json_t *locs = json_array();
    if (at)
        json_array_append_new(locs, jlocation(at, cwd));
    json_object_set_new(o, "locations", locs);
    json_t *frames = json_array();
    for (size_t i = 0; i < c->stack->n; i++) {
        const fl_frame_t *f = &c->stack->frames[i];
        json_t *fr = json_object();
        json_object_set_new(fr, "location", jlocation(f, cwd));
        if (f->module) {
            json_object_set_new(fr, "module", fl_json_str(f->module));
        }
        json_array_append_new(frames, fr);
    }
    json_t *stack = json_object(), *stacks = json_array();
    json_object_set_new(stack, "message", jtext("allocation stack, innermost frame first"));
    json_object_set_new(stack, "frames", frames);
    json_array_append_new(stacks, stack);
    json_object_set_new(o, "stacks", stacks);
    /* A fingerprint stable across runs and ASLR: the symbolized stack without addresses. */
    char fp[40];
    snprintf(fp, sizeof fp, "%016llx:%d",
             (unsigned long long)fl_hash_bytes(c->stack->sig, strlen(c->stack->sig), FL_HASH_SEED),
             (int)c->kind);
    json_t *fps = json_object();
    json_object_set_new(fps, "forkleakStack/v1", json_string(fp));
    json_object_set_new(o, "partialFingerprints", fps);
    json_t *props = json_object(), *pids = json_array(), *inh = json_array();
    for (size_t i = 0; i < c->procs.n; i++)
        json_array_append_new(pids, json_integer(c->procs.v[i]->pid));
    for (size_t i = 0; i < c->inheritors.n; i++)
        json_array_append_new(inh, json_integer(c->inheritors.v[i]->pid));
    json_object_set_new(props, "bytes", jnum(c->bytes));
    json_object_set_new(props, "blocks", jnum(c->blocks));
    json_object_set_new(props, "processes", pids);
    json_object_set_new(props, "inheritedBy", inh);
    json_object_set_new(o, "properties", props);
    return o;
}

/* Prints the combined leak entries as SARIF 2.1.0 results. */
void fl_format_sarif(fl_view_t *v, FILE *out)
{
    char *cwd = getcwd(NULL, 0);
    json_t *root = json_object();
    json_object_set_new(root, "$schema",
                        json_string("https://json.schemastore.org/sarif-2.1.0.json"));
    json_object_set_new(root, "version", json_string("2.1.0"));
    json_t *run = json_object(), *tool = json_object(), *driver = json_object();
    json_object_set_new(driver, "name", json_string("forkleak"));
    json_object_set_new(driver, "version", json_string(FL_VERSION));
    json_object_set_new(driver, "semanticVersion", json_string(FL_VERSION));
    json_t *jrules = json_array();
    for (int k = 0; k < FL_KIND_COUNT; k++) {
        json_t *r = json_object(), *cfg = json_object();
        json_object_set_new(r, "id", json_string(rules[k].id));
        json_object_set_new(r, "name", json_string(rules[k].name));
        json_object_set_new(r, "shortDescription", jtext(rules[k].text));
        json_object_set_new(r, "fullDescription", jtext(rules[k].help));
        json_object_set_new(r, "help", jtext(rules[k].help));
        json_object_set_new(cfg, "level", json_string(rules[k].level));
        json_object_set_new(r, "defaultConfiguration", cfg);
        json_array_append_new(jrules, r);
    }
    json_object_set_new(driver, "rules", jrules);
    json_object_set_new(tool, "driver", driver);
    json_object_set_new(run, "tool", tool);
    if (cwd) {
        json_t *bases = json_object(), *src = json_object();
        char *u = uri_path(cwd);
        char *full = fl_xasprintf("file://%s/", strcmp(u, "/") ? u : "");
        json_object_set_new(src, "uri", fl_json_str(full));
        json_object_set_new(bases, "SRCROOT", src);
        json_object_set_new(run, "originalUriBaseIds", bases);
        free(full);
        free(u);
    }
    json_t *results = json_array();
    for (size_t i = 0; i < v->combined.n; i++)
        json_array_append_new(results, jresult(v->combined.v[i], cwd));
    json_object_set_new(run, "results", results);
    json_t *inv = json_object(), *notes = json_array();
    json_object_set_new(inv, "executionSuccessful", json_boolean(v->diags.n == 0));
    for (size_t i = 0; i < v->diags.n; i++) {
        json_t *n = json_object();
        char *text = v->diags.v[i].line
                         ? fl_xasprintf("%s:%lu: %s", v->diags.v[i].file, v->diags.v[i].line,
                                        v->diags.v[i].message)
                         : fl_xasprintf("%s: %s", v->diags.v[i].file, v->diags.v[i].message);
        json_object_set_new(n, "level", json_string("error"));
        json_object_set_new(n, "message", jtext(text));
        free(text);
        json_array_append_new(notes, n);
    }
    json_object_set_new(inv, "toolExecutionNotifications", notes);
    json_t *invs = json_array();
    json_array_append_new(invs, inv);
    json_object_set_new(run, "invocations", invs);
    json_t *runs = json_array();
    json_array_append_new(runs, run);
    json_object_set_new(root, "runs", runs);
    fl_json_dump(root, out);
    free(cwd);
}
