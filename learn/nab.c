/* nab.c -- NAB scoring: row labelling, threshold sweep, normalisation.
 *
 * Written from NAB's published rules (see nab.h). The corpus keeps, per
 * row, the detector's score, the row's unweighted sweep value and its
 * corpus-wide window id (24 bytes a row; NAB's corpus is 365,558 rows, so
 * about 9 MB). Profiles only reweight: a TP row is worth
 * sweep * A_TP / sigma(-1), a FP row sweep * A_FP, a missed window -A_FN,
 * so one labelling serves every profile.
 *
 * The optimiser sorts the scorable rows by score, descending, once, then
 * sweeps the threshold down through every distinct score. It keeps, per
 * window, the best weighted value seen so far (starting at -A_FN) and the
 * running total, updated by the change in one window's part, so the sweep
 * is O(N) after the sort. A threshold t means "score >= t is a detection":
 * the total is recorded only after every row of one score value is in.
 *
 * Threads: none of its own; a corpus belongs to the thread that made it. */
#include "learn/nab.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One scorable row of the corpus. */
struct nab_item {
    double score;   /* The detector's score, in [0, 1]. */
    double sweep;   /* Unweighted sweep value (struct nab_row). */
    int32_t window; /* Corpus-wide window id, or NAB_ROW_FREE. */
    uint32_t file;  /* Index of the file, in order of addition. */
};

/* Per file: where its rows and windows are in the corpus arrays. */
struct nab_file {
    size_t first_item;    /* Index of its first scorable row in items. */
    size_t n_items;       /* Its scorable rows. */
    size_t n_rows;        /* All its rows, probation included. */
    int32_t first_window; /* Corpus-wide id of its first window. */
    size_t n_windows;     /* Windows in its label list. */
    size_t n_scorable;    /* Windows with at least one scorable row. */
};

struct nab_corpus {
    struct nab_item *items; /* Scorable rows, in file order. */
    size_t n_items;         /* Used entries of items. */
    size_t cap_items;       /* Allocated entries of items. */
    struct nab_file *files; /* One per added file. */
    size_t n_files;         /* Used entries of files. */
    size_t cap_files;       /* Allocated entries of files. */
    size_t n_windows;       /* Windows over all files. */
    bool *scorable;         /* Per window id: has a scorable row. */
    size_t cap_scorable;    /* Allocated entries of scorable. */
    uint32_t *order;        /* Item indices sorted by score, descending. */
    size_t n_order;         /* Items covered by order (0 = stale). */
};

double nab_scaled_sigmoid(double pos)
{
    if (pos > 3.0)
        return -1.0;
    return 2.0 / (1.0 + exp(5.0 * pos)) - 1.0;
}

size_t nab_probation_len(size_t n, double pct)
{
    double a = floor(pct * (double)n);
    double b = pct * 5000.0;
    double m = a < b ? a : b;

    /* NAB compares the row index i >= m with m possibly fractional. */
    return (size_t)ceil(m);
}

/* Index of the first row whose timestamp is t, or n. */
static size_t find_ts(const int64_t *ts_s, size_t n, size_t from, int64_t t)
{
    for (size_t i = from; i < n; i++)
        if (ts_s[i] == t)
            return i;
    return n;
}

int nab_label_rows(const int64_t *ts_s, size_t n, const struct nab_window *win,
                   size_t nwin, double pct, struct nab_row *rows)
{
    size_t prob = nab_probation_len(n, pct);
    size_t i = 0;
    bool have_prev = false;
    size_t prev_right = 0;
    size_t prev_width = 0;

    for (size_t k = 0; k <= nwin; k++) {
        size_t left = n;
        size_t right = n;

        if (k < nwin) {
            left = find_ts(ts_s, n, 0, win[k].start_s);
            right = find_ts(ts_s, n, 0, win[k].end_s);
            if (left == n || right == n || right < left || left < i)
                return -EINVAL;
        }
        /* Rows before this window (or after the last): false positives. */
        for (; i < left; i++) {
            double s = -1.0;

            if (have_prev && prev_width > 1)
                s = nab_scaled_sigmoid((double)(i - prev_right) /
                                       (double)(prev_width - 1));
            rows[i].sweep = s;
            rows[i].window = NAB_ROW_FREE;
        }
        if (k == nwin)
            break;
        for (; i <= right; i++) {
            double w = (double)(right - left + 1);

            rows[i].sweep = nab_scaled_sigmoid(-(double)(right - i + 1) / w);
            rows[i].window = (int32_t)k;
        }
        have_prev = true;
        prev_right = right;
        prev_width = right - left + 1;
    }
    for (i = 0; i < prob && i < n; i++)
        rows[i].window = NAB_ROW_PROBATION;
    return 0;
}

/* Weighted value of a detection on a row with these sweep/window values. */
static double weighted(double sweep, int32_t window,
                       const struct nab_profile *p)
{
    if (window == NAB_ROW_PROBATION)
        return 0.0;
    if (window == NAB_ROW_FREE)
        return sweep * p->a_fp;
    return sweep * p->a_tp / nab_scaled_sigmoid(-1.0);
}

double nab_row_weighted(const struct nab_row *row, const struct nab_profile *p)
{
    return weighted(row->sweep, row->window, p);
}

double nab_normalise(double raw, double null_raw, double perfect)
{
    return 100.0 * (raw - null_raw) / (perfect - null_raw);
}

int nab_corpus_new(struct nab_corpus **out)
{
    struct nab_corpus *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return -ENOMEM;
    *out = c;
    return 0;
}

void nab_corpus_free(struct nab_corpus *c)
{
    if (c == NULL)
        return;
    free(c->items);
    free(c->files);
    free(c->scorable);
    free(c->order);
    free(c);
}

size_t nab_corpus_files(const struct nab_corpus *c)
{
    return c->n_files;
}

/* Grow *arr (of elem-sized entries, *cap allocated) to hold need entries. */
static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : 64;
    void *p;

    if (need <= *cap)
        return 0;
    while (ncap < need)
        ncap *= 2;
    p = realloc(*arr, ncap * elem);
    if (p == NULL)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* Reserve room for one more file of n rows and nwin windows. */
static int reserve(struct nab_corpus *c, size_t n, size_t nwin)
{
    if (grow((void **)&c->items, &c->cap_items, c->n_items + n,
             sizeof(*c->items)) < 0 ||
        grow((void **)&c->files, &c->cap_files, c->n_files + 1,
             sizeof(*c->files)) < 0 ||
        grow((void **)&c->scorable, &c->cap_scorable, c->n_windows + nwin,
             sizeof(*c->scorable)) < 0)
        return -ENOMEM;
    return 0;
}

/* Append the scorable rows of a labelled file as the corpus's next file. */
static void append_file(struct nab_corpus *c, const struct nab_row *rows,
                        const double *score, size_t n, size_t nwin)
{
    struct nab_file *f = &c->files[c->n_files];

    f->first_item = c->n_items;
    f->n_rows = n;
    f->first_window = (int32_t)c->n_windows;
    f->n_windows = nwin;
    f->n_scorable = 0;
    if (nwin > 0) /* scorable is still NULL while no file had a window */
        memset(&c->scorable[c->n_windows], 0, nwin * sizeof(*c->scorable));
    for (size_t i = 0; i < n; i++) {
        struct nab_item *it;

        if (rows[i].window == NAB_ROW_PROBATION)
            continue;
        it = &c->items[c->n_items++];
        it->score = score[i];
        it->sweep = rows[i].sweep;
        it->window = rows[i].window;
        it->file = (uint32_t)c->n_files;
        if (rows[i].window >= 0) {
            it->window += f->first_window;
            c->scorable[it->window] = true;
        }
    }
    for (size_t k = 0; k < nwin; k++)
        f->n_scorable += c->scorable[f->first_window + (int32_t)k];
    f->n_items = c->n_items - f->first_item;
    c->n_windows += nwin;
    c->n_files++;
    c->n_order = 0;
}

int nab_corpus_add(struct nab_corpus *c, const int64_t *ts_s,
                   const double *score, size_t n, const struct nab_window *win,
                   size_t nwin)
{
    struct nab_row *rows;
    int rc;

    if (n == 0 || n > UINT32_MAX || c->n_windows + nwin > INT32_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!(score[i] >= 0.0 && score[i] <= 1.0))
            return -EINVAL;
    if ((rows = calloc(n, sizeof(*rows))) == NULL)
        return -ENOMEM;
    rc = nab_label_rows(ts_s, n, win, nwin, NAB_PROBATION_PCT, rows);
    if (rc < 0)
        goto out_free_rows;
    rc = reserve(c, n, nwin);
    if (rc < 0)
        goto out_free_rows;
    append_file(c, rows, score, n, nwin);
out_free_rows:
    free(rows);
    return rc;
}

/* Sort context-free: compare item scores through a pointer to the items. */
struct sort_key {
    double score; /* Copied from the item. */
    uint32_t idx; /* Item index. */
};

static int cmp_desc(const void *a, const void *b)
{
    const struct sort_key *x = a;
    const struct sort_key *y = b;

    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int sort_items(struct nab_corpus *c)
{
    struct sort_key *keys;
    uint32_t *order;

    if (c->n_order == c->n_items && c->order != NULL)
        return 0;
    keys = calloc(c->n_items, sizeof(*keys));
    order = realloc(c->order, c->n_items * sizeof(*order));
    if (keys == NULL || order == NULL) {
        free(keys);
        if (order != NULL)
            c->order = order;
        return -ENOMEM;
    }
    c->order = order;
    for (size_t i = 0; i < c->n_items; i++) {
        keys[i].score = c->items[i].score;
        keys[i].idx = (uint32_t)i;
    }
    qsort(keys, c->n_items, sizeof(*keys), cmp_desc);
    for (size_t i = 0; i < c->n_items; i++)
        order[i] = keys[i].idx;
    c->n_order = c->n_items;
    free(keys);
    return 0;
}

/* Fill the constant parts of *out for files [f0, f1). */
static void result_base(const struct nab_corpus *c, size_t f0, size_t f1,
                        const struct nab_profile *p, struct nab_result *out)
{
    size_t nwin = 0;
    size_t nscore = 0;
    size_t rows_in = 0;
    size_t rows_out = 0;

    for (size_t f = f0; f < f1; f++) {
        const struct nab_file *fl = &c->files[f];

        nwin += fl->n_windows;
        nscore += fl->n_scorable;
        for (size_t i = 0; i < fl->n_items; i++) {
            if (c->items[fl->first_item + i].window >= 0)
                rows_in++;
            else
                rows_out++;
        }
    }
    memset(out, 0, sizeof(*out));
    out->null_raw = -p->a_fn * (double)nscore;
    out->perfect = p->a_tp * (double)nwin;
    out->windows_total = nscore;
    out->raw = out->null_raw;
    out->fn = rows_in;
    out->tn = rows_out;
    out->threshold = NAB_NO_DETECTION;
}

/* Finish *out once raw and the counts are in. */
static void result_finish(struct nab_result *out)
{
    out->score = nab_normalise(out->raw, out->null_raw, out->perfect);
}

/* Account for one detected item in a running sweep. part[] holds, per
 * window id, the best weighted value so far (initially -A_FN). */
static void take_item(const struct nab_item *it, const struct nab_profile *p,
                      double *part, struct nab_result *r)
{
    double v = weighted(it->sweep, it->window, p);

    if (it->window < 0) {
        r->raw += v;
        r->fp++;
        r->tn--;
        return;
    }
    r->tp++;
    r->fn--;
    if (part[it->window] == -p->a_fn && v > -p->a_fn)
        r->windows_hit++;
    if (v > part[it->window]) {
        r->raw += v - part[it->window];
        part[it->window] = v;
    }
}

static double *new_parts(const struct nab_corpus *c,
                         const struct nab_profile *p)
{
    double *part = calloc(c->n_windows ? c->n_windows : 1, sizeof(*part));

    if (part != NULL)
        for (size_t w = 0; w < c->n_windows; w++)
            part[w] = -p->a_fn;
    return part;
}

int nab_corpus_optimise(struct nab_corpus *c, const struct nab_profile *p,
                        struct nab_result *out)
{
    struct nab_result cur;
    double *part;
    int rc;

    if (c->n_files == 0)
        return -EINVAL;
    if ((rc = sort_items(c)) < 0)
        return rc;
    if ((part = new_parts(c, p)) == NULL)
        return -ENOMEM;
    result_base(c, 0, c->n_files, p, &cur);
    *out = cur;
    for (size_t k = 0; k < c->n_items;) {
        double t = c->items[c->order[k]].score;

        /* Every row of this score value is a detection at threshold t. */
        while (k < c->n_items && c->items[c->order[k]].score == t)
            take_item(&c->items[c->order[k++]], p, part, &cur);
        cur.threshold = t;
        if (cur.raw > out->raw)
            *out = cur;
    }
    free(part);
    result_finish(out);
    return 0;
}

int nab_corpus_score(const struct nab_corpus *c, size_t file,
                     const struct nab_profile *p, double threshold,
                     struct nab_result *out)
{
    size_t f0 = file == SIZE_MAX ? 0 : file;
    size_t f1 = file == SIZE_MAX ? c->n_files : file + 1;
    double *part;

    if (f0 >= c->n_files && !(file == SIZE_MAX && c->n_files == 0))
        return -EINVAL;
    if ((part = new_parts(c, p)) == NULL)
        return -ENOMEM;
    result_base(c, f0, f1, p, out);
    out->threshold = threshold;
    for (size_t f = f0; f < f1; f++) {
        const struct nab_file *fl = &c->files[f];

        for (size_t i = 0; i < fl->n_items; i++) {
            const struct nab_item *it = &c->items[fl->first_item + i];

            if (it->score >= threshold)
                take_item(it, p, part, out);
        }
    }
    free(part);
    result_finish(out);
    return 0;
}
