/*
 * policy.c — the broker's access policy: loading the INI file into
 * precomputed role masks and sorted prefix rules, and the checks the router
 * runs on every Publish, Subscribe and Directory request.
 *
 * Loading: core/inifile.c reads the file strictly, line by line (the same
 * reader as core/config.c), so every error names file, line and key; its
 * section callback also catches unknown section headers that hold no keys. Values are checked
 * strictly: an unknown role or classification is an error, never ignored, since ignoring a typo in
 * an access policy silently changes who may do what.
 *
 * Checks: direct messages are one table lookup per sender role; topic rules
 * are kept longest prefix first, so the first match is the deciding rule.
 * Nothing is allocated after load.
 */
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "asylink/errors.h"
#include "cert.h"
#include "config.h"
#include "envelope.h"
#include "inifile.h"

/* Highest classification number (enum envelope_class). */
#define S_CLASS_MAX ENVELOPE_PERSONAL

/* The sections of a policy file. */
typedef enum s_section {
    S_SEC_DIRECT,
    S_SEC_CLASSIFICATION,
    S_SEC_PUBLISH,
    S_SEC_SUBSCRIBE,
    S_SEC_LIMITS,
    S_SEC_COUNT
} s_section;

/* Section names, indexed by s_section. */
static const char *const s_section_names[S_SEC_COUNT] = {
    "direct", "classification", "publish", "subscribe", "limits",
};

/* The keys of [limits]. */
enum { S_LIMIT_PERSONAL, S_LIMIT_ALL, S_LIMIT_COUNT };
static const char *const s_limit_names[S_LIMIT_COUNT] = {
    "personal_max_retention",
    "max_retention",
};

/* One [publish] or [subscribe] rule. */
typedef struct policy_rule {
    char prefix[ENVELOPE_TOPIC_MAX + 1]; /* topic prefix, topic_valid() but for {sender} */
    size_t len;                          /* strlen(prefix) */
    uint32_t roles;                      /* CERT_ROLE_BIT mask allowed, 0 = nobody */
    unsigned line;                       /* line of the file that set it */
    size_t sender_at;                    /* [publish]: offset of POLICY_SENDER in prefix,
                                            or SIZE_MAX for a rule about every publisher */
} policy_rule;

/* A growable list of rules; sorted longest prefix first after load. */
typedef struct policy_rules {
    policy_rule *v; /* heap array */
    size_t n;       /* rules in use */
    size_t cap;     /* rules allocated */
} policy_rules;

struct policy {
    /* Recipient roles a sender role may reach directly, per classification;
       0 where the classification is not allowed for that sender role. */
    uint32_t direct[CERT_ROLE_MAX + 1][S_CLASS_MAX + 1];
    policy_rules publish;               /* [publish], longest prefix first */
    policy_rules subscribe;             /* [subscribe], longest prefix first */
    uint64_t personal_max_retention_ms; /* cap for PERSONAL, 0 = none */
    uint64_t max_retention_ms;          /* cap for everything, 0 = none */
};

/* State of one policy_load() run, shared by the handlers. */
typedef struct s_load {
    policy *p;                               /* the policy being built */
    inifile ini;                             /* the reader: line, first error (code, e) */
    config_error e;                          /* the first error */
    uint32_t direct_to[CERT_ROLE_MAX + 1];   /* [direct]: recipients per sender role */
    unsigned direct_line[CERT_ROLE_MAX + 1]; /* line of that key, 0 = absent */
    uint32_t classes[CERT_ROLE_MAX + 1];     /* [classification]: 1u << class bits */
    unsigned class_line[CERT_ROLE_MAX + 1];  /* line of that key, 0 = absent */
    unsigned limit_line[S_LIMIT_COUNT];      /* line of each [limits] key, 0 = absent */
} s_load;

/* ------------------------------------------------------------ value lists -- */

/* True if the n bytes at s spell word exactly. */
static bool s_is_word(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* Role number of the n bytes at s, or 0 if unknown. The CA role is not a node role. */
static int s_role_lookup(const char *s, size_t n)
{
    for (int r = 1; r <= CERT_ROLE_MAX; r++)
        if (r != CERT_ROLE_CA && s_is_word(s, n, cert_role_name(r)))
            return r;
    return 0;
}

/* Classification of the n bytes at s (any case), or 0 if unknown. */
static int s_class_lookup(const char *s, size_t n)
{
    for (int c = ENVELOPE_PUBLIC; c <= S_CLASS_MAX; c++) {
        const char *name = envelope_class_name(c);
        if (strlen(name) == n && strncasecmp(s, name, n) == 0)
            return c;
    }
    return 0;
}

/* Moves *s past spaces and tabs. */
static const char *s_skip_blank(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/*
 * Cuts the next comma-separated item off *p: *item and *n are the item
 * without surrounding blanks, *p moves past its comma. Returns false when
 * the list is used up (after the last item).
 */
static bool s_next_item(const char **p, const char **item, size_t *n)
{
    if (!*p)
        return false;
    const char *s = s_skip_blank(*p);
    const char *comma = strchr(s, ',');
    const char *end = comma ? comma : s + strlen(s);
    *p = comma ? comma + 1 : NULL;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *item = s;
    *n = (size_t)(end - s);
    return true;
}

/* Parses a list of roles (roles = true) or classifications into a bit mask. */
static int s_parse_list(s_load *st, const char *section, const char *key, const char *value,
                        bool roles, uint32_t *mask)
{
    const char *p = value, *item;
    size_t n, count = 0;
    bool none = false;
    char q[CONFIG_QUOTE_MAX * 4 + 8];
    *mask = 0;
    while (s_next_item(&p, &item, &n)) {
        count++;
        if (n == 0) {
            inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->ini.line, section, key,
                         "%s; write \"none\" to allow nothing",
                         count == 1 && !p ? "empty value" : "empty item in the list");
            return -1;
        }
        if (s_is_word(item, n, "none")) {
            none = true;
            continue;
        }
        int v = roles ? s_role_lookup(item, n) : s_class_lookup(item, n);
        if (v == 0) {
            config_quote(q, sizeof q, item, n);
            if (roles)
                inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->ini.line, section, key,
                             "unknown role %s (roles: member_state, agency, analyst, operator, "
                             "broker)",
                             q);
            else
                inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->ini.line, section, key,
                             "unknown classification %s (use PUBLIC, LIMITED, PERSONAL)", q);
            return -1;
        }
        *mask |= roles ? CERT_ROLE_BIT(v) : (1u << v);
    }
    if (none && count > 1) {
        inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->ini.line, section, key,
                     "\"none\" cannot be combined with other names");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- sections -- */

/* Role number of a [direct] or [classification] key, or 0 after an error. */
static int s_role_key(s_load *st, const char *section, const char *key)
{
    char q[CONFIG_QUOTE_MAX * 4 + 8];
    int r = s_role_lookup(key, strlen(key));
    if (r == 0)
        inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->ini.line, section, key,
                     "unknown sender role %s (roles: member_state, agency, analyst, operator, "
                     "broker)",
                     config_quote(q, sizeof q, key, strlen(key)));
    return r;
}

/* Fails if *seen_line is set (a duplicate key), else records this line. */
static int s_once(s_load *st, unsigned *seen_line, const char *section, const char *key)
{
    if (*seen_line) {
        inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->ini.line, section, key,
                     "duplicate key, already set on line %u", *seen_line);
        return -1;
    }
    *seen_line = st->ini.line;
    return 0;
}

/* [direct] <sender role> = <recipient roles> */
static int s_on_direct(s_load *st, const char *key, const char *value)
{
    const char *sec = s_section_names[S_SEC_DIRECT];
    int r = s_role_key(st, sec, key);
    if (r == 0 || s_once(st, &st->direct_line[r], sec, key) != 0)
        return -1;
    return s_parse_list(st, sec, key, value, true, &st->direct_to[r]);
}

/* [classification] <sender role> = <classifications> */
static int s_on_classification(s_load *st, const char *key, const char *value)
{
    const char *sec = s_section_names[S_SEC_CLASSIFICATION];
    int r = s_role_key(st, sec, key);
    if (r == 0 || s_once(st, &st->class_line[r], sec, key) != 0)
        return -1;
    return s_parse_list(st, sec, key, value, false, &st->classes[r]);
}

/* Appends a rule to rules; -1 on out of memory or too many rules. */
static int s_add_rule(s_load *st, policy_rules *rules, const char *sec, const char *key,
                      uint32_t roles)
{
    if (rules->n == POLICY_MAX_TOPIC_RULES) {
        inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->ini.line, sec, key,
                     "more than %d rules in [%s]", POLICY_MAX_TOPIC_RULES, sec);
        return -1;
    }
    if (rules->n == rules->cap) {
        size_t cap = rules->cap ? rules->cap * 2 : 16;
        policy_rule *v = realloc(rules->v, cap * sizeof *v);
        if (!v) {
            inifile_fail(&st->ini, ASYLINK_E_NOMEM, st->ini.line, sec, key, "out of memory");
            return -1;
        }
        rules->v = v;
        rules->cap = cap;
    }
    policy_rule *r = &rules->v[rules->n++];
    r->len = strlen(key);
    memcpy(r->prefix, key, r->len + 1);
    r->roles = roles;
    r->line = st->ini.line;
    return 0;
}

/*
 * Where the label POLICY_SENDER stands in a [publish] key: its offset, SIZE_MAX
 * if there is none, or -1 (as SIZE_MAX - 1) if it is there but not as one
 * whole label, or twice. *shape gets the key with that label as "X", for
 * topic_valid().
 */
static size_t s_sender_label(const char *key, char *shape, size_t len)
{
    const char *at = strstr(key, POLICY_SENDER);
    size_t n = strlen(POLICY_SENDER);
    snprintf(shape, len, "%s", key);
    if (!at)
        return SIZE_MAX;
    size_t off = (size_t)(at - key);
    bool whole = (off == 0 || key[off - 1] == '.') && (at[n] == '\0' || at[n] == '.');
    if (!whole || strstr(at + n, POLICY_SENDER))
        return SIZE_MAX - 1;
    snprintf(shape, len, "%.*sX%s", (int)off, key, at + n);
    return off;
}

/* [publish] or [subscribe] <topic prefix> = <roles> */
static int s_on_topic_rule(s_load *st, s_section which, const char *key, const char *value)
{
    const char *sec = s_section_names[which];
    policy_rules *rules = which == S_SEC_PUBLISH ? &st->p->publish : &st->p->subscribe;
    char q[CONFIG_QUOTE_MAX * 4 + 8], shape[ENVELOPE_TOPIC_MAX + 2];
    uint32_t roles;
    size_t sender_at = s_sender_label(key, shape, sizeof shape);
    if (sender_at != SIZE_MAX && which != S_SEC_PUBLISH) {
        inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->ini.line, sec, key,
                     "%s binds a topic to its publisher: only [publish] rules may use it",
                     POLICY_SENDER);
        return -1;
    }
    if (sender_at == SIZE_MAX - 1) {
        inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->ini.line, sec, key,
                     "%s must be one whole label of the prefix, once (e.g. stats.monthly.%s)",
                     POLICY_SENDER, POLICY_SENDER);
        return -1;
    }
    if (!topic_valid(shape) || strlen(key) > ENVELOPE_TOPIC_MAX) {
        inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->ini.line, sec, key,
                     "invalid topic prefix %s (dotted labels of A-Z a-z 0-9 _ -, at most %d bytes)",
                     config_quote(q, sizeof q, key, strlen(key)), ENVELOPE_TOPIC_MAX);
        return -1;
    }
    for (size_t i = 0; i < rules->n; i++) {
        if (strcmp(rules->v[i].prefix, key) == 0) {
            inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->ini.line, sec, key,
                         "duplicate key, already set on line %u", rules->v[i].line);
            return -1;
        }
    }
    if (s_parse_list(st, sec, key, value, true, &roles) != 0)
        return -1;
    if (s_add_rule(st, rules, sec, key, roles) != 0)
        return -1;
    rules->v[rules->n - 1].sender_at = sender_at;
    return 0;
}

/* [limits] personal_max_retention / max_retention = <duration> */
static int s_on_limit(s_load *st, const char *key, const char *value)
{
    const char *sec = s_section_names[S_SEC_LIMITS];
    char q[CONFIG_QUOTE_MAX * 4 + 8];
    uint64_t ms;
    int i = 0;
    while (i < S_LIMIT_COUNT && strcmp(key, s_limit_names[i]) != 0)
        i++;
    if (i == S_LIMIT_COUNT) {
        inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->ini.line, sec, key,
                     "unknown key (use personal_max_retention or max_retention)");
        return -1;
    }
    if (s_once(st, &st->limit_line[i], sec, key) != 0)
        return -1;
    if (config_parse_duration_ms(value, &ms) != 0) {
        inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->ini.line, sec, key,
                     "expected a duration like 30d (units ms, s, m, h, d; 0 = no cap), got %s",
                     config_quote(q, sizeof q, value, strlen(value)));
        return -1;
    }
    if (i == S_LIMIT_PERSONAL)
        st->p->personal_max_retention_ms = ms;
    else
        st->p->max_retention_ms = ms;
    return 0;
}

/* Index of a section name, or S_SEC_COUNT if unknown. */
static s_section s_section_lookup(const char *name, size_t n)
{
    int i = 0;
    while (i < S_SEC_COUNT && !s_is_word(name, n, s_section_names[i]))
        i++;
    return (s_section)i;
}

/* ---------------------------------------------------------------- reading -- */

/* inifile section handler: fails on a "[name]" line whose name is not a known section. */
static int s_on_section(inifile *f, void *ctx, const char *name)
{
    char clean[CONFIG_QUOTE_MAX * 4 + 1];
    size_t n = strlen(name);
    (void)ctx;
    if (s_section_lookup(name, n) != S_SEC_COUNT)
        return 0;
    config_clean(clean, sizeof clean, name, n < CONFIG_QUOTE_MAX ? n : CONFIG_QUOTE_MAX);
    inifile_fail(f, ASYLINK_E_CONFIG, f->line, "", "",
                 "unknown section [%s] (use [direct], [classification], [publish], "
                 "[subscribe], [limits])",
                 clean);
    return -1;
}

/* inifile key handler: one key = value. 0 to go on, -1 on error. */
static int s_on_key(inifile *f, void *ctx, const char *section, const char *key, const char *value)
{
    s_load *st = ctx;
    int rc = -1;
    switch (s_section_lookup(section, strlen(section))) {
    case S_SEC_DIRECT: rc = s_on_direct(st, key, value); break;
    case S_SEC_CLASSIFICATION: rc = s_on_classification(st, key, value); break;
    case S_SEC_PUBLISH: rc = s_on_topic_rule(st, S_SEC_PUBLISH, key, value); break;
    case S_SEC_SUBSCRIBE: rc = s_on_topic_rule(st, S_SEC_SUBSCRIBE, key, value); break;
    case S_SEC_LIMITS: rc = s_on_limit(st, key, value); break;
    default: inifile_fail(f, ASYLINK_E_CONFIG, f->line, section, key, "unknown section"); break;
    }
    return rc;
}

/* ---------------------------------------------------------------- finish -- */

/* Orders rules longest prefix first (equal prefixes cannot occur). */
static int s_rule_cmp(const void *a, const void *b)
{
    size_t la = ((const policy_rule *)a)->len, lb = ((const policy_rule *)b)->len;
    return la < lb ? 1 : la > lb ? -1 : 0;
}

/* A sender role needs both halves of its direct rule: recipients and classes. */
static int s_check_direct_pairs(s_load *st)
{
    for (int r = 1; r <= CERT_ROLE_MAX; r++) {
        if (st->direct_line[r] && !st->class_line[r]) {
            inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->direct_line[r],
                         s_section_names[S_SEC_DIRECT], cert_role_name(r),
                         "no [classification] key for this role (add one, or \"none\")");
            return -1;
        }
        if (st->class_line[r] && !st->direct_line[r]) {
            inifile_fail(&st->ini, ASYLINK_E_CONFIG, st->class_line[r],
                         s_section_names[S_SEC_CLASSIFICATION], cert_role_name(r),
                         "no [direct] key for this role (add one, or \"none\")");
            return -1;
        }
    }
    return 0;
}

/* Cross-section checks and the precomputed tables, after the whole file. */
static int s_finish(s_load *st)
{
    policy *p = st->p;
    if (s_check_direct_pairs(st) != 0)
        return -1;
    if (p->personal_max_retention_ms && p->max_retention_ms &&
        p->personal_max_retention_ms > p->max_retention_ms) {
        unsigned line = st->limit_line[S_LIMIT_PERSONAL] ? st->limit_line[S_LIMIT_PERSONAL]
                                                         : st->limit_line[S_LIMIT_ALL];
        inifile_fail(&st->ini, ASYLINK_E_CONFIG, line, s_section_names[S_SEC_LIMITS],
                     s_limit_names[S_LIMIT_PERSONAL],
                     "must not be longer than max_retention (0 = no cap)");
        return -1;
    }
    for (int r = 1; r <= CERT_ROLE_MAX; r++)
        for (int c = ENVELOPE_PUBLIC; c <= S_CLASS_MAX; c++)
            p->direct[r][c] = (st->classes[r] & (1u << c)) ? st->direct_to[r] : 0;
    if (p->publish.n)
        qsort(p->publish.v, p->publish.n, sizeof *p->publish.v, s_rule_cmp);
    if (p->subscribe.n)
        qsort(p->subscribe.v, p->subscribe.n, sizeof *p->subscribe.v, s_rule_cmp);
    return 0;
}

/* ---------------------------------------------------------------- public -- */

int policy_load(const char *path, policy **out, char *err, size_t errlen)
{
    s_load st;
    FILE *in = NULL;
    memset(&st, 0, sizeof st);
    inifile_init(&st.ini, path, &st.e);
    if (err && errlen)
        err[0] = '\0';
    if (!path || !out) {
        inifile_fail(&st.ini, ASYLINK_E_INVALID_ARG, 0, "", "", "no policy file given");
        goto cleanup;
    }
    st.p = calloc(1, sizeof *st.p);
    if (!st.p) {
        inifile_fail(&st.ini, ASYLINK_E_NOMEM, 0, "", "", "out of memory");
        goto cleanup;
    }
    st.p->personal_max_retention_ms = POLICY_DEFAULT_PERSONAL_MAX_RETENTION_MS;
    st.p->max_retention_ms = POLICY_DEFAULT_MAX_RETENTION_MS;
    in = fopen(path, "r");
    if (!in) {
        inifile_fail(&st.ini, ASYLINK_E_IO, 0, "", "", "cannot open: %s", strerror(errno));
        goto cleanup;
    }
    if (inifile_read(&st.ini, in, s_on_key, s_on_section, &st) != ASYLINK_OK || s_finish(&st) != 0)
        goto cleanup;
    *out = st.p;
    st.p = NULL;
cleanup:
    if (in)
        fclose(in);
    policy_destroy(&st.p);
    if (st.ini.code != ASYLINK_OK && err && errlen)
        config_error_format(&st.e, err, errlen);
    return st.ini.code;
}

void policy_destroy(policy **self_p)
{
    if (!self_p || !*self_p)
        return;
    policy *p = *self_p;
    free(p->publish.v);
    free(p->subscribe.v);
    free(p);
    *self_p = NULL;
}

int policy_check_direct(const policy *p, uint32_t sender_roles, uint32_t recipient_roles,
                        int classification)
{
    if (!p || classification < ENVELOPE_PUBLIC || classification > S_CLASS_MAX)
        return ASYLINK_E_POLICY;
    for (int r = 1; r <= CERT_ROLE_MAX; r++)
        if ((sender_roles & CERT_ROLE_BIT(r)) && (p->direct[r][classification] & recipient_roles))
            return ASYLINK_OK;
    return ASYLINK_E_POLICY;
}

/* The longest rule matching topic, or NULL. Rules are sorted longest first. */
static const policy_rule *s_longest_match(const policy_rules *rules, const char *topic)
{
    size_t tlen = strlen(topic);
    for (size_t i = 0; i < rules->n; i++)
        if (topic_under_n(topic, tlen, rules->v[i].prefix, rules->v[i].len))
            return &rules->v[i];
    return NULL;
}

/* True if the longest rule matching a valid topic lists one of roles. */
static bool s_allowed(const policy_rules *rules, uint32_t roles, const char *topic)
{
    const policy_rule *r = s_longest_match(rules, topic);
    return r && (r->roles & roles);
}

/*
 * The prefix rule r stands for when sender publishes: r's own, or with
 * {sender} replaced by the sender's node id. Its length, or 0 if it does
 * not fit buf (then it matches no topic).
 */
static size_t s_rule_prefix(const policy_rule *r, const char *sender, char *buf, size_t len)
{
    if (r->sender_at == SIZE_MAX) {
        snprintf(buf, len, "%s", r->prefix);
        return r->len;
    }
    int n = snprintf(buf, len, "%.*s%s%s", (int)r->sender_at, r->prefix, sender,
                     r->prefix + r->sender_at + strlen(POLICY_SENDER));
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

/*
 * Whether topic, under {sender} rule r's prefix for sender, belongs to a
 * longer node id: a known node whose id is sender's followed by more of
 * the topic's labels ("EUAA.ANALYSIS" after "EUAA"), and under r's prefix
 * for that node. Then it is that node's bound topic: r's prefix for it is
 * longer, and the longer prefix wins.
 */
static bool s_bound_to_longer_id(const policy_rule *r, const char *sender, const char *topic,
                                 size_t tlen, policy_node_known_fn known, void *ctx)
{
    size_t slen = strlen(sender);
    const char *rest = topic + r->sender_at + slen; /* the topic holds sender there */
    char id[NODE_ID_MAX + 1], prefix[ENVELOPE_TOPIC_MAX + NODE_ID_MAX + 2];
    for (size_t k = 0; rest[k] == '.';) {
        size_t e = k + 1;
        while (rest[e] && rest[e] != '.')
            e++;
        k = e;
        if (slen + e > NODE_ID_MAX)
            break;
        memcpy(id, sender, slen);
        memcpy(id + slen, rest, e);
        id[slen + e] = 0;
        if (!node_id_valid(id) || !known(ctx, id))
            continue;
        size_t n = s_rule_prefix(r, id, prefix, sizeof prefix);
        if (n && topic_under_n(topic, tlen, prefix, n))
            return true;
    }
    return false;
}

/*
 * The deciding [publish] rule for sender on topic: the longest matching
 * prefix, {sender} replaced; on equal length a rule naming the topic
 * outright wins over a {sender} rule. A {sender} rule reaching another,
 * longer node id's bound topic (s_bound_to_longer_id) does not match.
 * NULL if none matches.
 */
static const policy_rule *s_publish_rule(const policy *p, const char *sender, const char *topic,
                                         policy_node_known_fn known, void *ctx)
{
    const policy_rule *best = NULL;
    size_t best_len = 0, tlen = strlen(topic);
    char prefix[ENVELOPE_TOPIC_MAX + NODE_ID_MAX + 2];
    for (size_t i = 0; i < p->publish.n; i++) {
        const policy_rule *r = &p->publish.v[i];
        if (r->sender_at != SIZE_MAX && !node_id_valid(sender))
            continue;
        size_t n = s_rule_prefix(r, sender, prefix, sizeof prefix);
        if (n == 0 || n < best_len || !topic_under_n(topic, tlen, prefix, n))
            continue;
        if (r->sender_at != SIZE_MAX && known &&
            s_bound_to_longer_id(r, sender, topic, tlen, known, ctx))
            continue;
        if (n > best_len || (best->sender_at != SIZE_MAX && r->sender_at == SIZE_MAX)) {
            best = r;
            best_len = n;
        }
    }
    return best;
}

int policy_check_publish(const policy *p, uint32_t sender_roles, const char *sender,
                         const char *topic, int classification, policy_node_known_fn known,
                         void *ctx)
{
    if (!p || (classification != ENVELOPE_PUBLIC && classification != ENVELOPE_LIMITED) ||
        !topic_valid(topic))
        return ASYLINK_E_POLICY;
    const policy_rule *r = s_publish_rule(p, sender ? sender : "", topic, known, ctx);
    return r && (r->roles & sender_roles) ? ASYLINK_OK : ASYLINK_E_POLICY;
}

bool policy_may_read(const policy *p, uint32_t reader_roles, const char *topic)
{
    return p && topic_valid(topic) && s_allowed(&p->subscribe, reader_roles, topic);
}

int policy_check_subscribe(const policy *p, uint32_t reader_roles, const char *topic_prefix)
{
    if (!p || !topic_valid(topic_prefix) || !s_allowed(&p->subscribe, reader_roles, topic_prefix))
        return ASYLINK_E_POLICY;
    /* Every narrower rule under the prefix must let the reader in as well. */
    size_t plen = strlen(topic_prefix);
    for (size_t i = 0; i < p->subscribe.n && p->subscribe.v[i].len > plen; i++) {
        const policy_rule *r = &p->subscribe.v[i];
        if (topic_under_n(r->prefix, r->len, topic_prefix, plen) && !(r->roles & reader_roles))
            return ASYLINK_E_POLICY;
    }
    return ASYLINK_OK;
}

uint64_t policy_retention_cap(const policy *p, int classification, uint64_t created_ms,
                              uint64_t expires_ms)
{
    uint64_t cap = p ? p->max_retention_ms : 0;
    if (p && classification == ENVELOPE_PERSONAL && p->personal_max_retention_ms &&
        (cap == 0 || p->personal_max_retention_ms < cap))
        cap = p->personal_max_retention_ms;
    if (cap == 0)
        return expires_ms;
    uint64_t limit = created_ms > UINT64_MAX - cap ? UINT64_MAX : created_ms + cap;
    return (expires_ms == 0 || expires_ms > limit) ? limit : expires_ms;
}
