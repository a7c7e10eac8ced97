/* bench_nab.c -- weir's anomaly detector (learn/anomaly.h) on the Numenta
 * Anomaly Benchmark, scored by weir's NAB scorer (learn/nab.h).
 *
 * Replays all 58 NAB series through one detector each, in stream order,
 * scores the outputs under NAB's three profiles (threshold optimised over
 * the whole corpus, as NAB does) and prints them beside the published
 * scoreboard (results/final_results.json), plus throughput and state size.
 *
 *     make bench-nab                     the reported configuration
 *     build/.../bench/bench_nab key=value ...   override config fields
 *     (e.g. refractory=100 damp=0.3; "warmup=nab" uses NAB's probationary
 *     length per file, which the reported configuration does not)
 *
 * Besides the whole corpus it scores two fixed halves (files at even and
 * odd positions of labels/combined_windows.json): the configuration was
 * chosen on half A; half B is the held-out check (see anomaly.c).
 *
 * Threads: single-threaded. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "learn/anomaly.h"
#include "learn/nab.h"
#include "tests/nab_data.h"

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Apply one "key=value" override to cfg; returns false if unknown. */
static bool set_field(struct anomaly_config *c, const char *kv, bool *nab_wu)
{
    const char *eq = strchr(kv, '=');
    double v;
    size_t klen;

    if (eq == NULL)
        return false;
    klen = (size_t)(eq - kv);
    if (strcmp(eq + 1, "nab") == 0 && strncmp(kv, "warmup", klen) == 0) {
        *nab_wu = true;
        return true;
    }
    v = strtod(eq + 1, NULL);
#define F(name, cast)                                                          \
    if (klen == strlen(#name) && strncmp(kv, #name, klen) == 0) {              \
        c->name = (cast)v;                                                     \
        return true;                                                           \
    }
    F(warmup, uint32_t)
    F(lags, uint32_t)
    F(forget, double)
    F(norm_halflife, double)
    F(season_rate, double)
    F(err_halflife, double)
    F(raw_scale, double)
    F(short_window, uint32_t)
    F(long_halflife, double)
    F(var_floor, double)
    F(two_sided, int)
    F(spatial_tol, double)
    F(refractory, uint32_t)
    F(alarm_level, double)
    F(damp, double)
    F(point_scale, double)
#undef F
    return false;
}

struct run {
    struct nab_corpus *all;     /* Every file. */
    struct nab_corpus *half[2]; /* Files at even / odd positions. */
    double secs;                /* Time inside anomaly_update(), summed. */
    size_t points;              /* Readings replayed. */
    size_t state_bytes;         /* Per detector. */
};

static int run_series(const struct nab_series *s, size_t idx,
                      const struct anomaly_config *base, bool nab_wu,
                      struct run *r)
{
    struct anomaly_config cfg = *base;
    struct anomaly *det;
    double *score = calloc(s->n, sizeof(*score));
    double t0;
    double dt;
    int rc;

    if (score == NULL)
        return -ENOMEM;
    if (nab_wu)
        cfg.warmup = (uint32_t)nab_probation_len(s->n, NAB_PROBATION_PCT);
    if ((rc = anomaly_new(&det, &cfg)) < 0)
        goto out_free;
    t0 = now_s();
    for (size_t i = 0; i < s->n; i++)
        score[i] = anomaly_update(det, s->ts_s[i] * 1000, s->value[i]);
    dt = now_s() - t0;
    r->secs += dt;
    r->points += s->n;
    r->state_bytes = anomaly_state_bytes(det);
    printf("series %-58s n=%6zu points_per_s=%.0f\n", s->name, s->n,
           (double)s->n / dt);
    anomaly_free(det);
    rc = nab_corpus_add(r->all, s->ts_s, score, s->n, s->win, s->nwin);
    if (rc == 0)
        rc = nab_corpus_add(r->half[idx % 2], s->ts_s, score, s->n, s->win,
                            s->nwin);
out_free:
    free(score);
    return rc;
}

static void print_scores(const char *root, const struct nab_profile prof[3],
                         struct run *r)
{
    static const char *const refs[][2] = {
        {"ARTime", "artime"},
        {"numenta", "numenta_htm"},
        {"contextOSE", "cad_ose"},
        {"knncad", "knncad"},
        {"randomCutForest", "rcf"},
        {"twitterADVec", "twitter_advec"},
        {"windowedGaussian", "windowed_gaussian"},
        {"null", "null"}};

    for (int p = 0; p < 3; p++) {
        struct nab_result all;
        struct nab_result h[2];

        if (nab_corpus_optimise(r->all, &prof[p], &all) < 0 ||
            nab_corpus_optimise(r->half[0], &prof[p], &h[0]) < 0 ||
            nab_corpus_optimise(r->half[1], &prof[p], &h[1]) < 0)
            exit(1);
        printf("RESULT nab profile=%s weir=%.2f", prof[p].name, all.score);
        for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
            double ref;

            if (nab_data_final_score(root, refs[i][0], prof[p].name, &ref) == 0)
                printf(" %s=%.2f", refs[i][1], ref);
        }
        printf(" threshold=%.6g windows_hit=%zu/%zu fp_rows=%zu"
               " half_a=%.2f half_b=%.2f\n",
               all.threshold, all.windows_hit, all.windows_total, all.fp,
               h[0].score, h[1].score);
    }
}

/* Time one replay of the corpus through fresh detectors (or, with cfg NULL,
 * through the reference: a running mean/variance z-score, the cheapest
 * online detector there is); returns seconds. sink defeats dead-code
 * elimination. */
static double replay(const struct nab_series *s, size_t n,
                     const struct anomaly_config *cfg, double *sink)
{
    double t0 = now_s();

    for (size_t k = 0; k < n; k++) {
        struct anomaly *det = NULL;
        double m = 0.0;
        double v = 0.0;

        if (cfg != NULL && anomaly_new(&det, cfg) < 0)
            exit(1);
        for (size_t i = 0; i < s[k].n; i++) {
            double x = s[k].value[i];

            if (det != NULL) {
                *sink += anomaly_update(det, s[k].ts_s[i] * 1000, x);
                continue;
            }
            *sink += (x - m) * (x - m) / (v + 1e-12);
            v += 0.01 * ((x - m) * (x - m) - v);
            m += 0.01 * (x - m);
        }
        anomaly_free(det);
    }
    return now_s() - t0;
}

/* Throughput: best of three replays of the whole corpus, the detector and
 * the reference interleaved so both see the same machine load. */
static void speed(const struct nab_series *s, size_t n,
                  const struct anomaly_config *cfg, const struct run *r)
{
    double best = 1e30;
    double best_ref = 1e30;
    double sink = 0.0;
    double pps;
    double ref;

    for (int k = 0; k < 3; k++) {
        double t = replay(s, n, cfg, &sink);
        double tr = replay(s, n, NULL, &sink);

        best = t < best ? t : best;
        best_ref = tr < best_ref ? tr : best_ref;
    }
    pps = (double)r->points / best;
    ref = (double)r->points / best_ref;
    printf("RESULT nab_speed points=%zu points_per_s=%.0f target=1000000 "
           "target_ratio=%.2f ref_ewz_points_per_s=%.0f ref_ratio=%.3f "
           "state_bytes_per_series=%zu sink=%.3g\n",
           r->points, pps, pps / 1e6, ref, pps / ref, r->state_bytes, sink);
}

int main(int argc, char **argv)
{
    const char *root = nab_data_root();
    struct anomaly_config cfg;
    struct nab_profile prof[3];
    struct nab_series *s;
    struct run r = {0};
    size_t n;
    bool nab_wu = false;

    anomaly_config_default(&cfg);
    for (int i = 1; i < argc; i++) {
        if (!set_field(&cfg, argv[i], &nab_wu)) {
            fprintf(stderr, "bench_nab: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (root == NULL || nab_data_load_profiles(root, prof) < 0 ||
        nab_data_load_corpus(root, &s, &n) < 0) {
        fprintf(stderr, "bench_nab: NAB data not found (set WEIR_NAB_DIR)\n");
        return 1;
    }
    if (nab_corpus_new(&r.all) < 0 || nab_corpus_new(&r.half[0]) < 0 ||
        nab_corpus_new(&r.half[1]) < 0)
        return 1;
    for (size_t i = 0; i < n; i++) {
        if (run_series(&s[i], i, &cfg, nab_wu, &r) < 0) {
            fprintf(stderr, "bench_nab: %s failed\n", s[i].name);
            return 1;
        }
    }
    print_scores(root, prof, &r);
    speed(s, n, &cfg, &r);
    nab_corpus_free(r.all);
    nab_corpus_free(r.half[0]);
    nab_corpus_free(r.half[1]);
    nab_data_free_corpus(s, n);
    return 0;
}
