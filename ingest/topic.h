/* topic.h -- topic templates: "sensors/{device}/{sensor}" names where in a
 * topic the device and the sensor are, and doubles as the MQTT filter
 * "sensors/+/+".
 *
 * A template is a topic filter whose levels may also be placeholders:
 * {device} and {sensor} capture that level's text; any other {word}
 * matches one level like '+' and is ignored. '+' and a final '#' keep their
 * MQTT meaning. A placeholder must be a whole level ("a{device}" is
 * refused) and each of {device}, {sensor} may appear once. Matching follows
 * MQTT (section 4.7): levels compare byte for byte, a topic starting with
 * '$' never matches a filter starting with a wildcard, '#' also matches
 * the parent level ("a/#" matches "a"). A captured level must be non-empty.
 *
 * Threads: a struct topic_template is an immutable value after
 * topic_template_parse(); any thread may match with it. */
#ifndef WEIR_INGEST_TOPIC_H
#define WEIR_INGEST_TOPIC_H

#include <stdbool.h> /* For bool. */
#include <stddef.h>  /* For size_t. */

/* ---- Limits ------------------------------------------------------------ */

#define TOPIC_TEMPLATE_MAX 256 /* bytes of a template, NUL excluded */
#define TOPIC_MAX_LEVELS 32    /* levels of a template */

/* ---- Types ------------------------------------------------------------- */

enum topic_level_kind {
    TOPIC_LITERAL = 0, /* Matches its own text. */
    TOPIC_PLUS = 1,    /* '+' or an ignored {word}: any one level. */
    TOPIC_DEVICE = 2,  /* {device}: one level, captured. */
    TOPIC_SENSOR = 3,  /* {sensor}: one level, captured. */
    TOPIC_HASH = 4,    /* '#': the rest, zero or more levels. */
};

struct topic_level {
    unsigned char kind; /* enum topic_level_kind. */
    unsigned short off; /* Offset of a literal's text in filter[]. */
    unsigned short len; /* Its length. */
};

/* A parsed template; a plain value (copy it freely). */
struct topic_template {
    char text[TOPIC_TEMPLATE_MAX + 1];          /* The template as given. */
    char filter[TOPIC_TEMPLATE_MAX + 1];        /* MQTT filter ({x} -> '+'). */
    size_t nlevels;                             /* Entries used in level[]. */
    struct topic_level level[TOPIC_MAX_LEVELS]; /* Levels in order. */
    bool has_device;                            /* A {device} level exists. */
    bool has_sensor;                            /* A {sensor} level exists. */
};

/* What a match captured: slices of the matched topic (borrowed). */
struct topic_match {
    const char *device; /* {device} level, or NULL. */
    size_t device_len;  /* Its length. */
    const char *sensor; /* {sensor} level, or NULL. */
    size_t sensor_len;  /* Its length. */
};

/* ---- Operations -------------------------------------------------------- */

/* Parse text (borrowed, NUL-terminated) into *out. Returns 0, or -EINVAL
 * (empty, too long, too many levels, '#' not last, a wildcard or brace
 * inside a level, an unclosed or repeated placeholder) with a one-line
 * reason in err (errlen bytes; may be NULL). */
int topic_template_parse(const char *text, struct topic_template *out,
                         char *err, size_t errlen);

/* true if topic[0..len) (borrowed) matches t; then *m (may be NULL)
 * receives the captured levels. */
bool topic_template_match(const struct topic_template *t, const char *topic,
                          size_t len, struct topic_match *m);

/* Write the template tpl (borrowed; any text, parsed or not) into buf (cap
 * bytes), replacing each "{name}" whose name is keys[i] by vals[i] (both
 * borrowed, n pairs); other text is copied. Returns the length, like
 * snprintf(). For output topics such as "weir/pred/{task}/{device}". */
size_t topic_render(const char *tpl, const char *const *keys,
                    const char *const *vals, size_t n, char *buf, size_t cap);

#endif /* WEIR_INGEST_TOPIC_H */
