/* nab_data.c -- NAB file loading for tests and benchmarks.
 *
 * CSV files are read line by line through zlib's gzgets(), which reads
 * plain and gzip-compressed files alike; NAB's CSVs are simple (no quoting,
 * some with CRLF line ends), so a line is split at commas by hand. JSON
 * files (labels, profiles, published scores) are small and parsed whole with
 * cJSON. Every malformed input is an -EINVAL, never a crash.
 *
 * Threads: none; nothing here is shared. */
#include "tests/nab_data.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define LINE_MAX_LEN 4096        /* Longest CSV line accepted. */
#define JSON_MAX_LEN (64u << 20) /* Largest JSON file accepted. */

static bool has_labels(const char *root)
{
    char p[512];
    struct stat st;

    snprintf(p, sizeof(p), "%s/labels/combined_windows.json", root);
    return stat(p, &st) == 0;
}

const char *nab_data_root(void)
{
    static const char *const cands[] = {"../shared/data/nab",
                                        "/work/shared/data/nab"};
    const char *env = getenv("WEIR_NAB_DIR");

    if (env != NULL && has_labels(env))
        return env;
    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
        if (has_labels(cands[i]))
            return cands[i];
    return NULL;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Hinnant's method). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era;
    int64_t yoe;
    int64_t doy;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

int nab_data_parse_ts(const char *s, int64_t *out_s)
{
    int y, mo, d, h, mi, se;
    int used = 0;

    if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se,
               &used) != 6 ||
        used != 19)
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 ||
        h < 0 || mi < 0 || se < 0)
        return -EINVAL;
    *out_s = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return 0;
}

/* Read a whole (small) file into a NUL-terminated buffer; returns owned. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        (unsigned long)len > JSON_MAX_LEN || fseek(f, 0, SEEK_SET) != 0)
        goto out_close;
    if ((buf = malloc((size_t)len + 1)) == NULL)
        goto out_close;
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
        goto out_close;
    }
    buf[len] = '\0';
out_close:
    fclose(f);
    return buf;
}

static cJSON *load_json(const char *root, const char *rel, int *rc)
{
    char p[512];
    char *text;
    cJSON *j;

    snprintf(p, sizeof(p), "%s/%s", root, rel);
    if ((text = slurp(p)) == NULL) {
        *rc = -ENOENT;
        return NULL;
    }
    j = cJSON_Parse(text);
    free(text);
    *rc = j ? 0 : -EINVAL;
    return j;
}

/* Split a CSV line in place at commas (CR/LF stripped); returns fields. */
static size_t split(char *line, char **field, size_t max)
{
    size_t n = 0;
    char *p = line;

    line[strcspn(line, "\r\n")] = '\0';
    while (n < max) {
        field[n++] = p;
        if ((p = strchr(p, ',')) == NULL)
            break;
        *p++ = '\0';
    }
    return n;
}

static int col_index(char **field, size_t nf, const char *name)
{
    for (size_t i = 0; i < nf; i++)
        if (strcmp(field[i], name) == 0)
            return (int)i;
    return -1;
}

static bool parse_double(const char *s, double *out)
{
    char *end;

    if (*s == '\0')
        return false;
    *out = strtod(s, &end);
    return *end == '\0';
}

/* Growable columns of a CSV being read. */
struct cols {
    int64_t *ts; /* Timestamps, s. */
    double *a;   /* First value column. */
    double *b;   /* Second value column, or NULL when unused. */
    size_t n;    /* Rows read. */
    size_t cap;  /* Rows allocated. */
};

static int cols_push(struct cols *c, bool want_b)
{
    size_t ncap;
    void *p;

    if (c->n < c->cap)
        return 0;
    ncap = c->cap ? c->cap * 2 : 4096;
    if ((p = realloc(c->ts, ncap * sizeof(*c->ts))) == NULL)
        return -ENOMEM;
    c->ts = p;
    if ((p = realloc(c->a, ncap * sizeof(*c->a))) == NULL)
        return -ENOMEM;
    c->a = p;
    if (want_b) {
        if ((p = realloc(c->b, ncap * sizeof(*c->b))) == NULL)
            return -ENOMEM;
        c->b = p;
    }
    c->cap = ncap;
    return 0;
}

static void cols_free(struct cols *c)
{
    free(c->ts);
    free(c->a);
    free(c->b);
    memset(c, 0, sizeof(*c));
}

/* Read a CSV with a header; columns ts_name, a_name and (optional) b_name. */
static int read_csv(const char *path, const char *a_name, const char *b_name,
                    struct cols *c)
{
    char line[LINE_MAX_LEN];
    char *field[16];
    int it, ia, ib = -1;
    size_t nf;
    int rc = -EINVAL;
    gzFile gz = gzopen(path, "rb");

    memset(c, 0, sizeof(*c));
    if (gz == NULL)
        return -ENOENT;
    if (gzgets(gz, line, sizeof(line)) == NULL)
        goto out_close;
    nf = split(line, field, 16);
    it = col_index(field, nf, "timestamp");
    ia = col_index(field, nf, a_name);
    if (b_name != NULL)
        ib = col_index(field, nf, b_name);
    if (it < 0 || ia < 0 || (b_name != NULL && ib < 0))
        goto out_close;
    while (gzgets(gz, line, sizeof(line)) != NULL) {
        if (line[0] == '\r' || line[0] == '\n')
            continue;
        nf = split(line, field, 16);
        if ((rc = cols_push(c, b_name != NULL)) < 0)
            goto out_free;
        rc = -EINVAL;
        if ((size_t)it >= nf || (size_t)ia >= nf ||
            (ib >= 0 && (size_t)ib >= nf) ||
            nab_data_parse_ts(field[it], &c->ts[c->n]) < 0 ||
            !parse_double(field[ia], &c->a[c->n]) ||
            (ib >= 0 && !parse_double(field[ib], &c->b[c->n])))
            goto out_free;
        c->n++;
    }
    rc = c->n > 0 ? 0 : -EINVAL;
    if (rc == 0)
        goto out_close;
out_free:
    cols_free(c);
out_close:
    gzclose(gz);
    return rc;
}

int nab_data_load_results(const char *path, const char *col, int64_t **ts_s,
                          double **score, double **extra, size_t *n)
{
    struct cols c;
    int rc = read_csv(path, "anomaly_score", col, &c);

    if (rc < 0)
        return rc;
    *ts_s = c.ts;
    *score = c.a;
    if (extra != NULL)
        *extra = c.b;
    else
        free(c.b);
    *n = c.n;
    return 0;
}

/* Fill s->win from a JSON array of [start, end] string pairs. */
static int load_windows(const cJSON *arr, struct nab_series *s)
{
    size_t k = 0;
    const cJSON *w;

    if (!cJSON_IsArray(arr))
        return -EINVAL;
    s->nwin = (size_t)cJSON_GetArraySize(arr);
    if (s->nwin == 0)
        return 0;
    if ((s->win = calloc(s->nwin, sizeof(*s->win))) == NULL)
        return -ENOMEM;
    cJSON_ArrayForEach(w, arr)
    {
        const cJSON *a = cJSON_GetArrayItem(w, 0);
        const cJSON *b = cJSON_GetArrayItem(w, 1);

        if (cJSON_GetArraySize(w) != 2 || !cJSON_IsString(a) ||
            !cJSON_IsString(b) ||
            nab_data_parse_ts(a->valuestring, &s->win[k].start_s) < 0 ||
            nab_data_parse_ts(b->valuestring, &s->win[k].end_s) < 0)
            return -EINVAL;
        k++;
    }
    return 0;
}

static int load_series(const char *root, const cJSON *entry,
                       struct nab_series *s)
{
    char p[512];
    struct cols c;
    int rc;

    if (strlen(entry->string) >= sizeof(s->name))
        return -EINVAL;
    strcpy(s->name, entry->string);
    if ((rc = load_windows(entry, s)) < 0)
        return rc;
    snprintf(p, sizeof(p), "%s/data/%s", root, s->name);
    if ((rc = read_csv(p, "value", NULL, &c)) < 0)
        return rc;
    s->ts_s = c.ts;
    s->value = c.a;
    s->n = c.n;
    return 0;
}

int nab_data_load_corpus(const char *root, struct nab_series **out,
                         size_t *n_out)
{
    int rc;
    cJSON *j = load_json(root, "labels/combined_windows.json", &rc);
    const cJSON *e;
    struct nab_series *s;
    size_t n = 0;

    if (j == NULL)
        return rc;
    if (!cJSON_IsObject(j) || cJSON_GetArraySize(j) <= 0) {
        rc = -EINVAL;
        goto out_json;
    }
    s = calloc((size_t)cJSON_GetArraySize(j), sizeof(*s));
    if (s == NULL) {
        rc = -ENOMEM;
        goto out_json;
    }
    cJSON_ArrayForEach(e, j)
    {
        rc = load_series(root, e, &s[n++]);
        if (rc < 0) {
            nab_data_free_corpus(s, n);
            goto out_json;
        }
    }
    *out = s;
    *n_out = n;
out_json:
    cJSON_Delete(j);
    return rc;
}

void nab_data_free_corpus(struct nab_series *s, size_t n)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(s[i].ts_s);
        free(s[i].value);
        free(s[i].win);
    }
    free(s);
}

static bool get_num(const cJSON *o, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!cJSON_IsNumber(v))
        return false;
    *out = v->valuedouble;
    return true;
}

int nab_data_load_profiles(const char *root, struct nab_profile p[3])
{
    static const char *const names[3] = {"standard", "reward_low_FP_rate",
                                         "reward_low_FN_rate"};
    int rc;
    cJSON *j = load_json(root, "config/profiles.json", &rc);

    if (j == NULL)
        return rc;
    for (int i = 0; i < 3; i++) {
        const cJSON *prof = cJSON_GetObjectItemCaseSensitive(j, names[i]);
        const cJSON *cm = cJSON_GetObjectItemCaseSensitive(prof, "CostMatrix");

        memset(&p[i], 0, sizeof(p[i]));
        snprintf(p[i].name, sizeof(p[i].name), "%s", names[i]);
        if (!get_num(cm, "tpWeight", &p[i].a_tp) ||
            !get_num(cm, "fpWeight", &p[i].a_fp) ||
            !get_num(cm, "tnWeight", &p[i].a_tn) ||
            !get_num(cm, "fnWeight", &p[i].a_fn)) {
            rc = -EINVAL;
            break;
        }
    }
    cJSON_Delete(j);
    return rc;
}

int nab_data_final_score(const char *root, const char *detector,
                         const char *profile, double *out)
{
    int rc;
    cJSON *j = load_json(root, "results/final_results.json", &rc);
    const cJSON *d;

    if (j == NULL)
        return rc;
    d = cJSON_GetObjectItemCaseSensitive(j, detector);
    rc = get_num(d, profile, out) ? 0 : -EINVAL;
    cJSON_Delete(j);
    return rc;
}

int nab_data_total_raw(const char *root, const char *detector,
                       const char *profile, double *out)
{
    char p[512];
    char line[LINE_MAX_LEN];
    char *field[16];
    int rc = -EINVAL;
    FILE *f;

    snprintf(p, sizeof(p), "%s/results/%s/%s_%s_scores.csv", root, detector,
             detector, profile);
    if ((f = fopen(p, "r")) == NULL)
        return -ENOENT;
    while (fgets(line, sizeof(line), f) != NULL) {
        /* Detector,Profile,File,Threshold,Score,TP,TN,FP,FN,Total_Count */
        if (split(line, field, 16) >= 5 && strcmp(field[0], "Totals") == 0)
            rc = parse_double(field[4], out) ? 0 : -EINVAL;
    }
    fclose(f);
    return rc;
}
