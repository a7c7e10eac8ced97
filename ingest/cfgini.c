/* cfgini.c -- an INI file read against a schema (see cfgini.h).
 *
 * How it reads a file. inih splits lines into (section, key, value) and
 * strips comments; it calls back for each key, but not for section
 * headers, and does not pass line numbers. So this module feeds inih
 * through its own line reader (ini_parse_stream), which counts lines,
 * checks what inih would truncate or refuse silently (long lines and
 * section headers, NUL bytes, a key line without '='), and opens sections
 * itself: an empty "[task x]" still becomes a task, which the caller's
 * checks then report as incomplete. The reader mirrors inih's rule that an
 * indented line after a key continues that key, so the handler knows a
 * continuation from a repeated key.
 *
 * State: one instance per section element (the singletons from the start,
 * a named one per header), each with a label for messages ("task
 * occupancy"); and one record per key line (instance, spec, line, parsed
 * or not), which answers "set twice?" while reading and "where?" for the
 * checks afterwards. A file has tens of keys, so both are searched
 * linearly.
 *
 * Threads: the configuration's thread only (see cfgini.h). */
#include "ingest/cfgini.h"

#include <assert.h>
#include <errno.h>
#include <ini.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h" /* For codec_name_ok(), CODEC_NAME_MAX. */

/* One section element of the file (or a singleton never named in it). */
struct inst {
    size_t kind;    /* Index in the schema's sections. */
    size_t index;   /* Element of a named kind (0 for singletons). */
    int line;       /* Of its header; 0 if not in the file. */
    char label[72]; /* "mqtt", "task occupancy", for messages. */
};

/* One key line: which instance, which key, where. */
struct seen {
    size_t inst;
    const struct cfgkey_spec *key;
    int line;
    bool ok; /* Its value parsed. */
};

enum {
    ST_NONE,
    ST_BROKEN,
    ST_OPEN
}; /* before any header, after a bad
      one (its keys are skipped), in a
      section */

struct cfgini {
    const struct cfgini_schema *schema; /* Borrowed. */
    struct config *cfg;                 /* Filled in (borrowed). */
    struct cfgdiag *diag;               /* Messages (borrowed). */
    const char *base_dir;               /* Anchors relative paths. */
    const char *text;                   /* The file (borrowed while read). */
    size_t len;
    size_t pos;        /* Reader position. */
    int lineno;        /* Line being handled. */
    bool have_key;     /* inih's prev_name is set. */
    bool continuation; /* This line continues the previous key. */
    bool prev_skipped; /* The key being continued was refused. */
    struct inst *insts;
    size_t ninsts;
    size_t cur; /* Instance the reader opened last. */
    int state;  /* ST_NONE, ST_BROKEN or ST_OPEN. */
    struct seen *seen;
    size_t nseen;
};

int cfgini_new(struct cfgini **out, const struct cfgini_schema *schema,
               struct config *cfg, struct cfgdiag *diag, const char *base_dir)
{
    struct cfgini *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return -ENOMEM;
    p->schema = schema;
    p->cfg = cfg;
    p->diag = diag;
    p->base_dir = base_dir;
    p->state = ST_NONE;
    *out = p;
    return 0;
}

void cfgini_free(struct cfgini *p)
{
    if (p == NULL)
        return;
    free(p->insts);
    free(p->seen);
    free(p);
}

/* ---- Names ------------------------------------------------------------- */

static const struct cfgini_section *sect(const struct cfgini *p, size_t kind)
{
    assert(kind < p->schema->nsections);
    return &p->schema->sections[kind];
}

/* Levenshtein distance, capped: for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    size_t row[64];

    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest of names[] to s within distance 2, or NULL. */
static const char *closest(const char *s, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t bd = 3;

    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(s, names[i]);
        if (d < bd) {
            bd = d;
            best = names[i];
        }
    }
    return best;
}

/* ---- Instances --------------------------------------------------------- */

static const char *label_of(const struct cfgini *p, size_t inst)
{
    return p->insts[inst].label;
}

static void *inst_base(const struct cfgini *p, size_t i)
{
    return p->schema->base(p->cfg, p->insts[i].kind, p->insts[i].index);
}

static bool add_inst(struct cfgini *p, size_t kind, size_t index, int line,
                     const char *name)
{
    struct inst *in = realloc(p->insts, (p->ninsts + 1) * sizeof(*in));

    if (in == NULL) {
        cfgdiag_nomem(p->diag);
        return false;
    }
    p->insts = in;
    in += p->ninsts;
    in->kind = kind;
    in->index = index;
    in->line = line;
    if (name)
        snprintf(in->label, sizeof(in->label), "%s %s", sect(p, kind)->name,
                 name);
    else
        snprintf(in->label, sizeof(in->label), "%s", sect(p, kind)->name);
    p->ninsts++;
    return true;
}

/* Parse every built-in default of the instance's keys. */
static void apply_defaults(struct cfgini *p, size_t inst)
{
    const struct cfgini_section *ss = sect(p, p->insts[inst].kind);
    const struct cfgkey_at at = {p->diag, 0, label_of(p, inst), p->base_dir,
                                 true};

    for (size_t i = 0; i < ss->nkeys; i++) {
        const struct cfgkey_spec *k = &ss->keys[i];
        if (k->def != NULL) {
            bool ok = k->type->parse(&at, k, inst_base(p, inst), k->def, false);
            assert(ok); /* a default must pass its own checks */
            (void)ok;
        }
    }
}

/* The instance of a named section called name, or SIZE_MAX. */
static size_t find_named(const struct cfgini *p, size_t kind, const char *name)
{
    size_t kl = strlen(sect(p, kind)->name);

    for (size_t i = 0; i < p->ninsts; i++) {
        const struct inst *in = &p->insts[i];
        if (in->kind == kind && strcmp(in->label + kl + 1, name) == 0)
            return i;
    }
    return SIZE_MAX;
}

static size_t inst_of(const struct cfgini *p, size_t kind, size_t index)
{
    for (size_t i = 0; i < p->ninsts; i++)
        if (p->insts[i].kind == kind && p->insts[i].index == index)
            return i;
    assert(0);
    return 0;
}

/* The singleton sections, with their defaults. */
static bool init_singletons(struct cfgini *p)
{
    for (size_t k = 0; k < p->schema->nsections; k++) {
        if (sect(p, k)->named)
            continue;
        if (!add_inst(p, k, 0, 0, NULL))
            return false;
        apply_defaults(p, p->ninsts - 1);
    }
    return true;
}

/* ---- Sections ---------------------------------------------------------- */

static size_t sect_by_name(const struct cfgini *p, const char *name)
{
    for (size_t i = 0; i < p->schema->nsections; i++)
        if (strcmp(sect(p, i)->name, name) == 0)
            return i;
    return SIZE_MAX;
}

static void unknown_section(struct cfgini *p, const char *kind)
{
    const size_t n = p->schema->nsections;
    const char *names[CFGINI_MAX_SECTIONS];
    char list[512] = "";
    const char *best;

    assert(n <= CFGINI_MAX_SECTIONS);
    for (size_t i = 0; i < n; i++)
        names[i] = sect(p, i)->name;
    if ((best = closest(kind, names, n)) != NULL) {
        cfgdiag_error(p->diag, p->lineno,
                      "unknown section [%s] (did you mean [%s]?)", kind, best);
        return;
    }
    for (size_t i = 0, w = 0; i < n && w < sizeof(list); i++)
        w += (size_t)snprintf(list + w, sizeof(list) - w, "%s%s%s",
                              i == 0      ? ""
                              : i + 1 < n ? ", "
                                          : " or ",
                              names[i], sect(p, i)->named ? " NAME" : "");
    cfgdiag_error(p->diag, p->lineno, "unknown section [%s]: expected %s", kind,
                  list);
}

/* A "[kind]" header of a singleton. */
static void open_singleton(struct cfgini *p, size_t s, const char *kind,
                           const char *name)
{
    size_t idx;

    if (*name) {
        cfgdiag_error(p->diag, p->lineno, "[%s] takes no name (found '%s')",
                      kind, name);
        return;
    }
    for (idx = 0; p->insts[idx].kind != s; idx++)
        ;
    if (p->insts[idx].line != 0)
        cfgdiag_error(p->diag, p->lineno,
                      "section [%s] appears twice (first at line %d): keep one",
                      kind, p->insts[idx].line);
    else
        p->insts[idx].line = p->lineno;
    p->cur = idx;
    p->state = ST_OPEN;
}

/* A "[kind name]" header of a named section. */
static void open_named(struct cfgini *p, size_t s, const char *kind,
                       const char *name)
{
    size_t idx;

    if (*name == '\0') {
        cfgdiag_error(p->diag, p->lineno, "[%s] needs a name: [%s NAME]", kind,
                      kind);
        return;
    }
    if (!codec_name_ok(name, strlen(name))) {
        cfgdiag_error(p->diag, p->lineno,
                      "[%s %s]: a name is 1..%d bytes without '/', '+', '#', "
                      "spaces or control characters",
                      kind, name, CODEC_NAME_MAX);
        return;
    }
    if ((idx = find_named(p, s, name)) != SIZE_MAX) {
        cfgdiag_error(p->diag, p->lineno,
                      "duplicate section [%s %s] (first at line %d)", kind,
                      name, p->insts[idx].line);
        return;
    }
    if ((idx = p->schema->add(p->cfg, s, name, p->lineno)) == SIZE_MAX) {
        cfgdiag_nomem(p->diag);
        return;
    }
    if (!add_inst(p, s, idx, p->lineno, name))
        return;
    p->cur = p->ninsts - 1;
    apply_defaults(p, p->cur);
    p->state = ST_OPEN;
}

/* A "[kind name]" header, text[0..n) between the brackets. */
static void open_section(struct cfgini *p, const char *text, size_t n)
{
    char kind[CFGINI_HEADER_MAX + 1];
    char name[CFGINI_HEADER_MAX + 1];
    size_t kl;
    size_t s;

    p->state = ST_BROKEN;
    if (n > CFGINI_HEADER_MAX) {
        cfgdiag_error(p->diag, p->lineno,
                      "section header longer than %d characters (inih's "
                      "limit)",
                      CFGINI_HEADER_MAX);
        return;
    }
    while (n > 0 && (*text == ' ' || *text == '\t'))
        text++, n--;
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'))
        n--;
    kl = 0;
    while (kl < n && text[kl] != ' ' && text[kl] != '\t')
        kl++;
    memcpy(kind, text, kl);
    kind[kl] = '\0';
    while (kl < n && (text[kl] == ' ' || text[kl] == '\t'))
        kl++;
    memcpy(name, text + kl, n - kl);
    name[n - kl] = '\0';
    if ((s = sect_by_name(p, kind)) == SIZE_MAX)
        unknown_section(p, kind);
    else if (!sect(p, s)->named)
        open_singleton(p, s, kind, name);
    else
        open_named(p, s, kind, name);
}

/* ---- Lines ------------------------------------------------------------- */

/* inih's find_chars_or_comment(): the first of chars, or an inline ';'
 * comment (a ';' after whitespace), or the end. */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
    bool was_space = false;

    while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
        was_space =
            *s == ' ' || *s == '\t' || *s == '\r' || *s == '\f' || *s == '\v';
        s++;
    }
    return s;
}

/* A "[...]" line starting at start (after its indentation). */
static void header_line(struct cfgini *p, const char *start)
{
    const char *end = find_chars_or_comment(start + 1, "]");

    if (*end != ']') {
        cfgdiag_error(p->diag, p->lineno, "section header without ']'");
        p->state = ST_BROKEN;
        return;
    }
    for (const char *t = end + 1; *t && *t != ';' && *t != '#'; t++) {
        if (*t != ' ' && *t != '\t' && *t != '\r' && *t != '\n') {
            cfgdiag_error(p->diag, p->lineno, "text after the section header");
            break;
        }
    }
    open_section(p, start + 1, (size_t)(end - start - 1));
    p->have_key = false;
}

/* Mirror what inih will do with the line, as ini_parse_stream() does. */
static void classify(struct cfgini *p, const char *line)
{
    const char *start = line;
    const char *end;

    while (*start == ' ' || *start == '\t' || *start == '\r' ||
           *start == '\n' || *start == '\f' || *start == '\v')
        start++;
    if (*start == '\0' || *start == ';' || *start == '#')
        return;
    if (p->have_key && start > line) {
        p->continuation = true;
        return;
    }
    if (*start == '[') {
        header_line(p, start);
        return;
    }
    end = find_chars_or_comment(start, "=:");
    if (*end != '=' && *end != ':') {
        cfgdiag_error(p->diag, p->lineno,
                      "expected 'key = value', '[section]' or a comment");
        return;
    }
    p->have_key = true;
}

/* The ini_reader: one line per call, with our bookkeeping. */
static char *reader(char *str, int num, void *stream)
{
    struct cfgini *p = stream;
    const char *s;
    const char *nl;
    size_t n;
    size_t content;

    if (p->pos >= p->len)
        return NULL;
    s = p->text + p->pos;
    nl = memchr(s, '\n', p->len - p->pos);
    n = nl ? (size_t)(nl - s) + 1 : p->len - p->pos;
    p->pos += n;
    p->lineno++;
    p->continuation = false;
    if (p->lineno == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
        s += 3, n -= 3; /* UTF-8 byte-order mark */
    content = n;
    while (content > 0 && (s[content - 1] == '\n' || s[content - 1] == '\r'))
        content--;
    str[0] = '\0';
    if (memchr(s, '\0', n) != NULL) {
        cfgdiag_error(p->diag, p->lineno, "NUL byte in the line");
        return str;
    }
    if (content > CFGINI_LINE_MAX || n >= (size_t)num) {
        cfgdiag_error(p->diag, p->lineno,
                      "line longer than %d characters (inih's limit); "
                      "continue a list on indented lines",
                      CFGINI_LINE_MAX);
        return str;
    }
    memcpy(str, s, n);
    str[n] = '\0';
    classify(p, str);
    return str;
}

/* ---- Keys -------------------------------------------------------------- */

static struct seen *find_seen(const struct cfgini *p, size_t inst,
                              const struct cfgkey_spec *k)
{
    for (size_t i = 0; i < p->nseen; i++)
        if (p->seen[i].inst == inst && p->seen[i].key == k)
            return &p->seen[i];
    return NULL;
}

static void unknown_key(struct cfgini *p, const char *name)
{
    const struct cfgini_section *ss = sect(p, p->insts[p->cur].kind);
    const char *names[CFGINI_MAX_KEYS];
    const char *best;

    assert(ss->nkeys <= CFGINI_MAX_KEYS);
    for (size_t i = 0; i < ss->nkeys; i++)
        names[i] = ss->keys[i].name;
    best = closest(name, names, ss->nkeys);
    if (best)
        cfgdiag_error(p->diag, p->lineno,
                      "unknown key '%s' in [%s] (did you mean '%s'?)", name,
                      label_of(p, p->cur), best);
    else
        cfgdiag_error(p->diag, p->lineno, "unknown key '%s' in [%s]", name,
                      label_of(p, p->cur));
}

static const struct cfgkey_spec *key_named(const struct cfgini_section *ss,
                                           const char *name)
{
    for (size_t i = 0; i < ss->nkeys; i++)
        if (strcmp(ss->keys[i].name, name) == 0)
            return &ss->keys[i];
    return NULL;
}

/* A line that continues the previous key. */
static void continue_key(struct cfgini *p, const struct cfgkey_spec *k,
                         const char *name, const char *value)
{
    const struct cfgkey_at at = {p->diag, p->lineno, label_of(p, p->cur),
                                 p->base_dir, false};

    if (p->prev_skipped)
        return;
    if (k && k->type->list)
        k->type->parse(&at, k, inst_base(p, p->cur), value, true);
    else
        cfgdiag_error(p->diag, p->lineno,
                      "this indented line continues '%s', which is not a "
                      "list: remove the indentation",
                      name);
}

static int handler(void *user, const char *section, const char *name,
                   const char *value)
{
    struct cfgini *p = user;
    const struct cfgkey_spec *k;
    struct cfgkey_at at = {p->diag, p->lineno, NULL, p->base_dir, false};
    struct seen *prev;
    struct seen *grown;

    (void)section; /* the reader tracks sections itself */
    if (cfgdiag_out_of_memory(p->diag) || p->state == ST_BROKEN)
        return 1;
    if (p->state == ST_NONE) {
        cfgdiag_error(p->diag, p->lineno,
                      "'%s' is outside any section: put it under a "
                      "[section] header",
                      name);
        return 1;
    }
    k = key_named(sect(p, p->insts[p->cur].kind), name);
    if (p->continuation) {
        continue_key(p, k, name, value);
        return 1;
    }
    p->prev_skipped = true;
    if (k == NULL) {
        unknown_key(p, name);
        return 1;
    }
    if ((prev = find_seen(p, p->cur, k)) != NULL) {
        cfgdiag_error(p->diag, p->lineno,
                      "'%s' is set twice in [%s] (first at line %d)", name,
                      label_of(p, p->cur), prev->line);
        return 1;
    }
    if ((grown = realloc(p->seen, (p->nseen + 1) * sizeof(*grown))) == NULL) {
        cfgdiag_nomem(p->diag);
        return 1;
    }
    p->seen = grown;
    p->seen[p->nseen++] = (struct seen){p->cur, k, p->lineno, false};
    at.label = label_of(p, p->cur);
    if (k->type->parse(&at, k, inst_base(p, p->cur), value, false)) {
        p->seen[p->nseen - 1].ok = true;
        p->prev_skipped = false;
    }
    return 1;
}

int cfgini_read(struct cfgini *p, const char *text, size_t len)
{
    int rc;

    p->text = text;
    p->len = len;
    p->pos = 0;
    if (init_singletons(p)) {
        rc = ini_parse_stream(reader, p, handler, p);
        if (rc == -2)
            cfgdiag_nomem(p->diag);
        else if (rc > 0 && cfgdiag_errors(p->diag) == 0)
            cfgdiag_error(p->diag, rc, "syntax error");
    }
    p->text = NULL;
    return cfgdiag_out_of_memory(p->diag) ? -ENOMEM : 0;
}

/* ---- After reading ----------------------------------------------------- */

static const struct seen *seen_key(const struct cfgini *p, size_t kind,
                                   size_t index, const char *key)
{
    const struct cfgkey_spec *k = key_named(sect(p, kind), key);

    assert(k != NULL); /* the caller names a key of the schema */
    return find_seen(p, inst_of(p, kind, index), k);
}

int cfgini_set_line(const struct cfgini *p, size_t kind, size_t index,
                    const char *key)
{
    const struct seen *s = seen_key(p, kind, index, key);

    return s ? s->line : 0;
}

bool cfgini_parsed(const struct cfgini *p, size_t kind, size_t index,
                   const char *key)
{
    const struct seen *s = seen_key(p, kind, index, key);

    return s != NULL && s->ok;
}

int cfgini_blame(const struct cfgini *p, size_t kind, size_t index,
                 const char *key)
{
    int line = cfgini_set_line(p, kind, index, key);

    return line ? line : p->insts[inst_of(p, kind, index)].line;
}

void cfgini_check_applies(struct cfgini *p)
{
    for (size_t i = 0; i < p->nseen; i++) {
        const struct seen *s = &p->seen[i];
        if (s->ok && s->key->applies &&
            !s->key->applies(p->cfg, inst_base(p, s->inst)))
            cfgdiag_error(p->diag, s->line, "[%s] %s %s", label_of(p, s->inst),
                          s->key->name, s->key->na);
    }
}

/* ---- Without a reader -------------------------------------------------- */

int cfgini_print_keys(const struct cfgini_schema *schema,
                      const struct config *cfg, size_t kind, size_t index,
                      FILE *f)
{
    const struct cfgini_section *ss = &schema->sections[kind];
    const void *base = schema->base((struct config *)cfg, kind, index);

    for (size_t i = 0; i < ss->nkeys; i++) {
        const struct cfgkey_spec *k = &ss->keys[i];
        char *val = NULL;
        size_t len = 0;
        FILE *m;
        bool has;
        if (k->applies && !k->applies(cfg, base))
            continue;
        if ((m = open_memstream(&val, &len)) == NULL)
            return -EIO;
        has = k->type->print(m, k, base);
        fclose(m);
        if (has && (k->flags & CFGKEY_SECRET))
            fprintf(f, "# %s = (set, not shown)\n", k->name);
        else if (has)
            fprintf(f, "%s = %s\n", k->name, val);
        else
            fprintf(f, "# %s = (not set)\n", k->name);
        free(val);
    }
    return 0;
}

void cfgini_release_keys(const struct cfgini_schema *schema, struct config *cfg,
                         size_t kind, size_t index)
{
    const struct cfgini_section *ss = &schema->sections[kind];
    void *base = schema->base(cfg, kind, index);

    for (size_t i = 0; i < ss->nkeys; i++)
        if (ss->keys[i].type->release)
            ss->keys[i].type->release(&ss->keys[i], base);
}
