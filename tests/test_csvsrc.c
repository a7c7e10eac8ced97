/* test_csvsrc.c -- the CSV data-set reader: the shipped data sets read every
 * row with the documented maps; quoting, line ends, time formats, column
 * maps, bad rows and limits.
 *
 * Expected counts come from the data sets' SOURCE.md files or are counted
 * here independently (lines of the file with fgets), never from csvsrc's
 * own output. Threads: single-threaded. */
#include "ingest/csvsrc.h"
#include "tests/harness.h"

#include <errno.h>
#include <math.h>
#include <time.h>

#define DATA "/work/shared/data"

static const char *data_dir(void)
{
    const char *d = getenv("WEIR_DATA");
    return d ? d : DATA;
}

static void data_path(char *buf, size_t len, const char *rel)
{
    snprintf(buf, len, "%s/%s", data_dir(), rel);
}

static const char *write_file(const char *name, const char *text, size_t len)
{
    static char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
    f = fopen(path, "wb");
    ASSERT(f != NULL);
    ASSERT_EQ(fwrite(text, 1, len, f), len);
    ASSERT_EQ(fclose(f), 0);
    return path;
}

static const char *write_str(const char *name, const char *text)
{
    return write_file(name, text, strlen(text));
}

static struct csvsrc *open_map(const char *path, const char *spec)
{
    struct csvsrc_map map;
    struct csvsrc *s = NULL;
    char err[256];

    csvsrc_map_init(&map);
    ASSERT_EQ(csvsrc_map_parse(&map, spec, err, sizeof(err)), 0);
    if (csvsrc_open(&s, path, &map, err, sizeof(err)) != 0) {
        fprintf(stderr, "open: %s\n", err);
        ASSERT(0);
    }
    return s;
}

/* Independent count: lines that are not empty, minus the header. */
static size_t count_lines(const char *path)
{
    char line[4096];
    size_t n = 0;
    FILE *f = fopen(path, "r");

    ASSERT(f != NULL);
    while (fgets(line, sizeof(line), f))
        if (line[0] != '\n' && line[0] != '\r')
            n++;
    fclose(f);
    return n - 1;
}

static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {0};

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm) * 1000;
}

/* ---- Shipped data sets ------------------------------------------------- */

static void check_occupancy(const char *rel, uint64_t rows)
{
    char path[512];
    struct csvsrc *s;
    struct csvsrc_row r;
    struct csvsrc_stats st;
    uint64_t occupied = 0;
    int rc;

    data_path(path, sizeof(path), rel);
    s = open_map(path, "ts=date;labels=Occupancy");
    ASSERT_EQ(csvsrc_columns(s), 8);
    ASSERT_STREQ(csvsrc_column_name(s, 0), "_row_id");
    ASSERT_EQ(csvsrc_column_role(s, 0), CSVSRC_ROLE_IGNORED);
    ASSERT_EQ(csvsrc_column_role(s, 1), CSVSRC_ROLE_TS);
    ASSERT_EQ(csvsrc_values(s), 6);
    while ((rc = csvsrc_next(s, &r)) == 1) {
        ASSERT_EQ(r.n, 6);
        ASSERT_STREQ(r.v[0].name, "Temperature");
        ASSERT_STREQ(r.v[4].name, "HumidityRatio");
        ASSERT_STREQ(r.v[5].name, "Occupancy");
        ASSERT(r.v[5].is_label && !r.v[0].is_label);
        ASSERT(r.v[5].value == 0.0 || r.v[5].value == 1.0);
        occupied += r.v[5].value == 1.0;
        ASSERT(r.v[0].value > 15 && r.v[0].value < 30);
    }
    ASSERT_EQ(rc, 0);
    csvsrc_stats(s, &st);
    ASSERT_EQ(st.rows_ok, rows);
    ASSERT_EQ(st.rows, rows);
    ASSERT_EQ(st.ts_backwards, 0); /* SOURCE.md: no out-of-order times */
    ASSERT(occupied > 0 && occupied < rows);
    csvsrc_free(s);
}

static void occupancy_reads_every_row(void)
{
    check_occupancy("occupancy/datatest.txt", 2665);
    check_occupancy("occupancy/datatraining.txt", 8143);
    check_occupancy("occupancy/datatest2.txt", 9752);
}

static void occupancy_first_row_values(void)
{
    char path[512];
    struct csvsrc *s;
    struct csvsrc_row r;

    data_path(path, sizeof(path), "occupancy/datatest.txt");
    s = open_map(path, "ts=date;labels=Occupancy;device=room1");
    ASSERT_EQ(csvsrc_next(s, &r), 1);
    /* "140","2015-02-02 14:19:00",23.7,26.272,585.2,749.2,0.0047...,1 */
    ASSERT_EQ(r.ts_ms, utc_ms(2015, 2, 2, 14, 19, 0));
    ASSERT_STREQ(r.device, "room1");
    ASSERT(r.v[0].value == 23.7 && r.v[1].value == 26.272);
    ASSERT(r.v[2].value == 585.2 && r.v[3].value == 749.2);
    ASSERT(r.v[5].value == 1.0);
    ASSERT_EQ(r.line, 2);
    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT_EQ(r.ts_ms, utc_ms(2015, 2, 2, 14, 19, 59));
    ASSERT_EQ(r.line, 3);
    csvsrc_free(s);
}

static void elec2_classes_and_rows(void)
{
    char norm[512], plain[512];
    struct csvsrc *a, *b, *c;
    struct csvsrc_row ra, rb, rc_;
    struct csvsrc_stats st;
    uint64_t up = 0;
    int x, y, z;

    data_path(norm, sizeof(norm), "elec2/elecNormNew.csv");
    data_path(plain, sizeof(plain), "elec2/elec.csv");
    a = open_map(norm, "ts=none;ts_start=1996-05-07;ts_step=1800000;"
                       "labels=class;classes=DOWN,UP");
    b = open_map(plain, "ts=none;labels=class");
    c = open_map(norm, "labels=class"); /* auto: date is not a time */
    ASSERT_EQ(csvsrc_values(a), 9);     /* date,day,period,...,class */
    ASSERT_EQ(csvsrc_values(b), 7);
    ASSERT_EQ(csvsrc_values(c), 9);
    ASSERT_STREQ(csvsrc_class_name(a, 8, 1.0), "UP");
    ASSERT_STREQ(csvsrc_class_name(a, 8, 0.0), "DOWN");
    ASSERT(csvsrc_class_name(a, 8, 2.0) == NULL);
    ASSERT(csvsrc_class_name(b, 6, 1.0) == NULL); /* numeric label */
    for (;;) {
        x = csvsrc_next(a, &ra);
        y = csvsrc_next(b, &rb);
        z = csvsrc_next(c, &rc_);
        ASSERT_EQ(x, y);
        ASSERT_EQ(x, z);
        if (x != 1)
            break;
        /* SOURCE.md: elec.csv is elecNormNew minus date/day, UP->1. */
        ASSERT(ra.v[8].value == rb.v[6].value);
        for (int k = 0; k < 6; k++) /* elec.csv prints more digits */
            ASSERT_NEAR(ra.v[2 + k].value, rb.v[k].value, 1e-12);
        /* First-appearance codes: the first row is UP, so UP->0. */
        ASSERT(rc_.v[8].value == 1.0 - ra.v[8].value);
        ASSERT_EQ(ra.ts_ms,
                  utc_ms(1996, 5, 7, 0, 0, 0) + (int64_t)ra.index * 1800000);
        up += ra.v[8].value == 1.0;
    }
    ASSERT_EQ(x, 0);
    csvsrc_stats(a, &st);
    ASSERT_EQ(st.rows_ok, 45312); /* SOURCE.md */
    ASSERT_EQ(up, 19237);         /* SOURCE.md: UP 19,237 */
    ASSERT_STREQ(csvsrc_class_name(c, 8, 0.0), "UP");
    csvsrc_free(a);
    csvsrc_free(b);
    csvsrc_free(c);
}

static void nab_reads_every_row(void)
{
    static const char *const files[] = {
        "nab/data/realKnownCause/machine_temperature_system_failure.csv",
        "nab/data/realKnownCause/nyc_taxi.csv",
        "nab/data/artificialWithAnomaly/art_daily_jumpsup.csv",
    };
    for (size_t i = 0; i < 3; i++) {
        char path[512];
        struct csvsrc *s;
        struct csvsrc_row r;
        struct csvsrc_stats st;
        int rc;

        data_path(path, sizeof(path), files[i]);
        s = open_map(path, "ts=timestamp");
        ASSERT_EQ(csvsrc_values(s), 1);
        while ((rc = csvsrc_next(s, &r)) == 1)
            ASSERT(r.n == 1 && r.v[0].present && isfinite(r.v[0].value));
        ASSERT_EQ(rc, 0);
        csvsrc_stats(s, &st);
        ASSERT_EQ(st.rows_ok, count_lines(path));
        ASSERT_EQ(st.rows, st.rows_ok);
        /* SOURCE.md: one backwards jump in machine_temperature. */
        ASSERT_EQ(st.ts_backwards, i == 0 ? 1 : 0);
        csvsrc_free(s);
    }
}

static void nab_default_device_and_ts(void)
{
    char path[512];
    struct csvsrc *s;
    struct csvsrc_row r;

    data_path(path, sizeof(path), "nab/data/realKnownCause/nyc_taxi.csv");
    s = open_map(path, ""); /* everything auto */
    ASSERT_EQ(csvsrc_column_role(s, 0), CSVSRC_ROLE_TS);
    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT_STREQ(r.device, "nyc_taxi");
    ASSERT_STREQ(r.v[0].name, "value");
    ASSERT_EQ(r.ts_ms, utc_ms(2014, 7, 1, 0, 0, 0));
    ASSERT(r.v[0].value == 10844);
    csvsrc_free(s);
}

/* ---- Parsing ----------------------------------------------------------- */

static void quoting_crlf_bom_and_missing(void)
{
    const char *p = write_str(
        "q.csv", "\xef\xbb\xbf"
                 "time,\"a,b\",c,note\r\n"
                 "1700000000,\"1.5\",2,\"x, \"\"quoted\"\"\nacross lines\"\r\n"
                 "1700000001,,3,plain\r\n"
                 "\r\n"
                 "1700000002,4,5,last");
    struct csvsrc *s = open_map(p, "");
    struct csvsrc_row r;
    struct csvsrc_stats st;

    ASSERT_STREQ(csvsrc_column_name(s, 1), "a,b");
    ASSERT_EQ(csvsrc_column_role(s, 3), CSVSRC_ROLE_IGNORED); /* text */
    ASSERT_EQ(csvsrc_values(s), 2);
    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT_EQ(r.ts_ms, 1700000000000LL);
    ASSERT(r.v[0].present && r.v[0].value == 1.5 && r.v[1].value == 2);
    ASSERT_EQ(r.line, 3); /* the quoted newline: the row ends on line 3 */
    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT(!r.v[0].present && r.v[1].value == 3);
    ASSERT_EQ(r.line, 4);
    ASSERT_EQ(csvsrc_next(s, &r), 1); /* no final newline */
    ASSERT_EQ(r.ts_ms, 1700000002000LL);
    ASSERT(r.v[0].value == 4 && r.v[1].value == 5);
    ASSERT_EQ(r.line, 6);
    ASSERT_EQ(csvsrc_next(s, &r), 0);
    ASSERT_EQ(csvsrc_next(s, &r), 0);
    csvsrc_stats(s, &st);
    ASSERT_EQ(st.rows_ok, 3);
    ASSERT_EQ(st.missing, 1);
    csvsrc_free(s);
}

static void bad_rows_are_counted_with_reason(void)
{
    const char *p = write_str("bad.csv", "ts,dev,x,y\n"
                                         "2024-01-01T00:00:00Z,d1,1,2\n"
                                         "2024-01-01T00:00:01Z,d1,1\n"
                                         "2024-01-01T00:00:02Z,d1,abc,2\n"
                                         "yesterday,d1,1,2\n"
                                         "2024-01-01T00:00:03Z,d/1,1,2\n"
                                         "2024-01-01T00:00:04Z,d2,5,6,7\n"
                                         "2024-01-01T00:00:05Z,d2,5,6\n");
    struct csvsrc *s = open_map(p, "device_col=dev");
    struct csvsrc_row r;
    struct csvsrc_stats st;

    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT_STREQ(r.device, "d1");
    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT_STREQ(r.device, "d2");
    ASSERT_EQ(r.line, 8);
    ASSERT_EQ(r.index, 1);
    ASSERT_EQ(csvsrc_next(s, &r), 0);
    csvsrc_stats(s, &st);
    ASSERT_EQ(st.rows, 7);
    ASSERT_EQ(st.rows_ok, 2);
    ASSERT_EQ(st.bad[CSVSRC_BAD_FIELD_COUNT], 2);
    ASSERT_EQ(st.bad[CSVSRC_BAD_NUMBER], 1);
    ASSERT_EQ(st.bad[CSVSRC_BAD_TIMESTAMP], 1);
    ASSERT_EQ(st.bad[CSVSRC_BAD_DEVICE], 1);
    ASSERT(strstr(st.first_bad, "bad.csv:3: field_count") != NULL);
    csvsrc_free(s);

    s = open_map(p, "device_col=dev;strict=yes");
    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT_EQ(csvsrc_next(s, &r), -EBADMSG);
    ASSERT(strstr(csvsrc_error(s), "bad.csv:3:") != NULL);
    csvsrc_free(s);
}

static void classes_given_and_unknown(void)
{
    const char *p = write_str("cls.csv", "x,state\n1,on\n2,off\n3,ON\n4,on\n");
    struct csvsrc *s = open_map(p, "ts=none;labels=state;classes=off,on");
    struct csvsrc *t;
    struct csvsrc_row r;
    struct csvsrc_stats st;

    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT(r.v[1].value == 1.0 && r.v[1].is_label);
    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT(r.v[1].value == 0.0);
    ASSERT_EQ(csvsrc_next(s, &r), 1); /* "ON" is not "on": skipped */
    ASSERT(r.v[0].value == 4 && r.v[1].value == 1.0);
    ASSERT_EQ(csvsrc_next(s, &r), 0);
    csvsrc_stats(s, &st);
    ASSERT_EQ(st.bad[CSVSRC_BAD_CLASS], 1);
    csvsrc_free(s);

    t = open_map(p, "ts=none;labels=state"); /* first appearance */
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(csvsrc_next(t, &r), 1);
    ASSERT_STREQ(csvsrc_class_name(t, 1, 0.0), "on");
    ASSERT_STREQ(csvsrc_class_name(t, 1, 1.0), "off");
    ASSERT_STREQ(csvsrc_class_name(t, 1, 2.0), "ON");
    ASSERT(r.v[1].value == 0.0);
    csvsrc_free(t);
}

static void time_formats(void)
{
    int64_t t;
    const int64_t base = utc_ms(2015, 2, 2, 14, 19, 0);

    ASSERT_EQ(csvsrc_parse_time("2015-02-02 14:19:00", "", &t), 0);
    ASSERT_EQ(t, base);
    ASSERT_EQ(csvsrc_parse_time("2015-02-02T14:19:00Z", "auto", &t), 0);
    ASSERT_EQ(t, base);
    ASSERT_EQ(csvsrc_parse_time("2015-02-02T15:19:00.250+01:00", "", &t), 0);
    ASSERT_EQ(t, base + 250);
    ASSERT_EQ(csvsrc_parse_time("2015-02-02T09:19-0500", "iso8601", &t), 0);
    ASSERT_EQ(t, base);
    ASSERT_EQ(csvsrc_parse_time("2015-02-02", "", &t), 0);
    ASSERT_EQ(t, utc_ms(2015, 2, 2, 0, 0, 0));
    ASSERT_EQ(csvsrc_parse_time("1422886740", "", &t), 0);
    ASSERT_EQ(t, base);
    ASSERT_EQ(csvsrc_parse_time("1422886740000", "", &t), 0);
    ASSERT_EQ(t, base);
    ASSERT_EQ(csvsrc_parse_time("1422886740.5", "epoch_s", &t), 0);
    ASSERT_EQ(t, base + 500);
    ASSERT_EQ(csvsrc_parse_time("02/02/2015 14:19", "%d/%m/%Y %H:%M", &t), 0);
    ASSERT_EQ(t, base);
    ASSERT_EQ(csvsrc_parse_time("2016-02-29 00:00:00", "", &t), 0);
    ASSERT_EQ(t, utc_ms(2016, 2, 29, 0, 0, 0));
    ASSERT_EQ(csvsrc_parse_time("1969-12-31 23:59:59", "", &t), 0);
    ASSERT_EQ(t, -1000);
    ASSERT_EQ(csvsrc_parse_time("2015-02-29 00:00:00", "", &t), -EINVAL);
    ASSERT_EQ(csvsrc_parse_time("2015-13-01", "", &t), -EINVAL);
    ASSERT_EQ(csvsrc_parse_time("2015-02-02 25:00", "", &t), -EINVAL);
    ASSERT_EQ(csvsrc_parse_time("2015-02-02T14:19:00X", "", &t), -EINVAL);
    ASSERT_EQ(csvsrc_parse_time("12345", "", &t), -EINVAL); /* too small */
    ASSERT_EQ(csvsrc_parse_time("nan", "epoch_s", &t), -EINVAL);
    ASSERT_EQ(csvsrc_parse_time("", "", &t), -EINVAL);
    ASSERT_EQ(csvsrc_parse_time("14:19 02/02/2015", "%d/%m/%Y %H:%M", &t),
              -EINVAL);
}

static void map_errors_are_one_line(void)
{
    struct csvsrc_map map;
    struct csvsrc *s = NULL;
    char err[256];
    const char *p = write_str("m.csv", "time,a,b\n1700000000,1,2\n");

    csvsrc_map_init(&map);
    ASSERT_EQ(csvsrc_map_parse(&map, "sensor=a", err, sizeof(err)), -EINVAL);
    ASSERT(strstr(err, "unknown key 'sensor'") != NULL);
    ASSERT_EQ(csvsrc_map_parse(&map, "labels", err, sizeof(err)), -EINVAL);
    ASSERT_EQ(csvsrc_map_parse(&map, "header=maybe", err, sizeof(err)),
              -EINVAL);
    ASSERT_EQ(csvsrc_map_parse(&map, "ts_step=0", err, sizeof(err)), -EINVAL);
    ASSERT_EQ(csvsrc_map_parse(&map, "delim=ab", err, sizeof(err)), -EINVAL);

    csvsrc_map_init(&map);
    ASSERT_EQ(csvsrc_map_parse(&map, "sensors=a,zz", err, sizeof(err)), 0);
    ASSERT_EQ(csvsrc_open(&s, p, &map, err, sizeof(err)), -EINVAL);
    ASSERT(s == NULL);
    ASSERT(strstr(err, "'zz'") != NULL && strchr(err, '\n') == NULL);

    csvsrc_map_init(&map);
    ASSERT_EQ(csvsrc_map_parse(&map, "labels=a;sensors=a", err, sizeof(err)),
              0);
    ASSERT_EQ(csvsrc_open(&s, p, &map, err, sizeof(err)), -EINVAL);
    ASSERT(strstr(err, "used twice") != NULL);

    csvsrc_map_init(&map);
    ASSERT_EQ(csvsrc_map_parse(&map, "ts=a", err, sizeof(err)), 0);
    ASSERT_EQ(csvsrc_open(&s, p, &map, err, sizeof(err)), -EINVAL);
    ASSERT(strstr(err, "not a timestamp") != NULL);

    csvsrc_map_init(&map);
    ASSERT_EQ(csvsrc_map_parse(&map, "device=a/b", err, sizeof(err)), 0);
    ASSERT_EQ(csvsrc_open(&s, p, &map, err, sizeof(err)), -EINVAL);

    csvsrc_map_init(&map);
    ASSERT_EQ(csvsrc_open(&s, "/nonexistent/x.csv", &map, err, sizeof(err)),
              -ENOENT);
    ASSERT(strstr(err, "/nonexistent/x.csv") != NULL);
    ASSERT_EQ(csvsrc_open(&s, test_tmpdir(), &map, err, sizeof(err)), -EISDIR);
    p = write_str("empty.csv", "");
    ASSERT_EQ(csvsrc_open(&s, p, &map, err, sizeof(err)), -ENODATA);
    ASSERT(s == NULL);
}

static void header_only_and_no_header(void)
{
    const char *p = write_str("h.csv", "time,a\n");
    struct csvsrc *s = open_map(p, "");
    struct csvsrc_row r;

    ASSERT_EQ(csvsrc_next(s, &r), 0);
    csvsrc_free(s);

    p = write_str("nh.tsv", "5\t6\t7\n8\t9\t10\n");
    s = open_map(p, "header=no;delim=tab;ts=none;labels=#2");
    ASSERT_EQ(csvsrc_values(s), 3);
    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT_STREQ(r.v[0].name, "#0");
    ASSERT(r.v[0].value == 5 && r.v[1].value == 6 && r.v[2].value == 7);
    ASSERT(r.v[2].is_label);
    ASSERT_EQ(r.ts_ms, 0);
    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT_EQ(r.ts_ms, 1000);
    ASSERT_EQ(csvsrc_next(s, &r), 0);
    csvsrc_free(s);

    p = write_str("semi.csv", "x;y\n1,5;2\n");
    s = open_map(p, "delim=semicolon;sensors=y;skip=x");
    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT(r.n == 1 && r.v[0].value == 2);
    csvsrc_free(s);
}

static void unterminated_quote_is_bounded(void)
{
    size_t n = CSVSRC_MAX_ROW_BYTES + 200000;
    char *big = malloc(n);
    struct csvsrc *s;
    struct csvsrc_row r;
    struct csvsrc_map map;
    char err[256];
    const char *p;

    ASSERT(big != NULL);
    memset(big, 'x', n);
    memcpy(big, "a,b\n1,2\n3,\"", 11);
    for (size_t i = 100; i < n; i += 100)
        big[i] = '\n'; /* many lines inside the open quote */
    p = write_file("open.csv", big, n);
    s = open_map(p, "ts=none");
    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT_EQ(csvsrc_next(s, &r), -EFBIG);
    ASSERT(strstr(csvsrc_error(s), "open.csv:") != NULL);
    csvsrc_free(s);
    /* The same in the first data row fails at open. */
    memcpy(big, "a,b\n1,\"", 7);
    p = write_file("open1.csv", big, n);
    free(big);
    csvsrc_map_init(&map);
    ASSERT_EQ(csvsrc_open(&s, p, &map, err, sizeof(err)), -EFBIG);
    ASSERT(strstr(err, "open1.csv:") != NULL);
}

static void too_many_columns_is_a_bad_row(void)
{
    size_t n = (CSVSRC_MAX_COLS + 10) * 2 + 64;
    char *text = calloc(1, n);
    struct csvsrc *s;
    struct csvsrc_row r;
    struct csvsrc_stats st;
    size_t k;

    ASSERT(text != NULL);
    k = (size_t)snprintf(text, n, "a,b\n1,2\n");
    for (size_t i = 0; i < CSVSRC_MAX_COLS + 10; i++)
        text[k++] = '1', text[k++] = ',';
    text[k - 1] = '\n';
    k += (size_t)snprintf(text + k, n - k, "3,4\n");
    s = open_map(write_file("wide.csv", text, k), "ts=none");
    free(text);
    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT_EQ(csvsrc_next(s, &r), 1);
    ASSERT(r.v[0].value == 3);
    ASSERT_EQ(csvsrc_next(s, &r), 0);
    csvsrc_stats(s, &st);
    ASSERT_EQ(st.bad[CSVSRC_BAD_TOO_LONG], 1);
    csvsrc_free(s);
}

static const struct test tests[] = {
    {"occupancy_reads_every_row", occupancy_reads_every_row},
    {"occupancy_first_row_values", occupancy_first_row_values},
    {"elec2_classes_and_rows", elec2_classes_and_rows},
    {"nab_reads_every_row", nab_reads_every_row},
    {"nab_default_device_and_ts", nab_default_device_and_ts},
    {"quoting_crlf_bom_and_missing", quoting_crlf_bom_and_missing},
    {"bad_rows_are_counted_with_reason", bad_rows_are_counted_with_reason},
    {"classes_given_and_unknown", classes_given_and_unknown},
    {"time_formats", time_formats},
    {"map_errors_are_one_line", map_errors_are_one_line},
    {"header_only_and_no_header", header_only_and_no_header},
    {"unterminated_quote_is_bounded", unterminated_quote_is_bounded},
    {"too_many_columns_is_a_bad_row", too_many_columns_is_a_bad_row},
    {NULL, NULL}};

int main(int argc, char **argv)
{
    return test_main(argc, argv, tests);
}
