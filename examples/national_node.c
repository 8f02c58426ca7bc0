/*
 * national_node.c — a minimal national asylum system on libasylink.
 *
 * What a Member State's system does with the library, in one file:
 *
 *   1. asylink_client_open_config(): open the node from its configuration
 *      file (node.ini.example shows one). The library connects to the
 *      broker in the background and keeps a durable outbox and inbox in
 *      the node's data directory.
 *   2. asylink_send(): with --to NODE, send one example information request
 *      to that Member State: an asylink.v1.InformationRequest (placeholder
 *      values, no personal data) written as JSON and turned into its
 *      protobuf bytes by asylink_payload_from_json(), sent as PERSONAL, as
 *      that type must be (the library refuses it otherwise). The call
 *      returns once the message is safe in the outbox. When it fails with
 *      IO or STORE_FULL it still gives the id: asylink_sent_state_get()
 *      then says whether the outbox holds the message after all.
 *   3. A poll() loop on asylink_fd(), which is readable while an event or a
 *      message is waiting:
 *        - asylink_next_event(): Accepted (the broker stored what we sent),
 *          Rejected (with the reason), Receipt (a recipient acknowledged
 *          it: signed proof of delivery), connection changes;
 *        - asylink_recv(): each received message exactly once; we print its
 *          sender, content type, classification and size — never its
 *          content: a real payload carries personal data — and
 *          asylink_ack_message() it, which sends the sender a signed receipt.
 *   4. SIGINT or SIGTERM end the loop; asylink_client_close() stops the
 *      library. Whatever was not yet accepted stays in the outbox and is
 *      sent the next time the node starts.
 *
 * Build (installed library):  cc national_node.c $(pkg-config --cflags --libs asylink)
 * In the source tree it is built as examples/national_node.
 *
 * Run two of them against a broker (certs-example/README.md, node.ini.example):
 *   national_node fr.ini                 # FR: waits, prints and acks what arrives
 *   national_node --to FR --once de.ini  # DE: sends, exits once FR's receipt is in
 *
 * Output, one line per thing on stdout:
 *   sent id=<8-4-4-4-12 hex, asylink_id_format()> to=FR content_type=... classification=PERSONAL
 * size=N connected broker=BROKER.EU | disconnected code=NAME reason="..." accepted id=... |
 * rejected id=... code=NAME reason="..." receipt id=... from=FR | delivered id=... (every
 * recipient's receipt is in) received id=... from=DE content_type=... classification=... size=N
 *   acked id=...
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* sigaction, poll, pipe: also with cc -std=c11 */
#endif

#include <asylink/asylink.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_USAGE = 2, EXIT_TIMEOUT = 3 };

static const char s_usage[] =
    "usage: national_node [options] NODE.INI\n"
    "\n"
    "A minimal national node on libasylink: opens the node described by\n"
    "NODE.INI, optionally sends one example information request, then prints,\n"
    "and acknowledges, every message that arrives (never its content) and\n"
    "what happens to what it sent, until SIGINT or SIGTERM.\n"
    "\n"
    "options:\n"
    "  --to NODE             send one example request to NODE (e.g. FR)\n"
    "  --payload-file FILE   send FILE's bytes as they are instead of the example\n"
    "                        request (give --content-type)\n"
    "  --content-type TYPE   content type of what is sent (default\n"
    "                        asylink.v1.InformationRequest; with --payload-file\n"
    "                        application/octet-stream)\n"
    "  --classification C    PUBLIC, LIMITED or PERSONAL (default PERSONAL: a\n"
    "                        real information request carries personal data)\n"
    "  --once                exit once what was sent has every receipt, --expect\n"
    "                        messages have arrived and the outbox is empty\n"
    "  --expect N            with --once: wait for N received messages too (default 0)\n"
    "  --timeout SECONDS     give up after SECONDS (exit status 3); 0 = never (default)\n"
    "  --verbose             print the library's log lines on stderr\n"
    "  --help                print this help\n"
    "\n"
    "exit status: 0 done, 1 an error or a rejected message, 2 bad usage, 3 timeout\n";

/* Command line. */
typedef struct {
    const char *config;       /* node configuration file */
    const char *to;           /* recipient, or NULL: send nothing */
    const char *payload_file; /* payload to send instead of the example */
    const char *content_type; /* NULL: the default for what is sent */
    asylink_classification classification;
    bool once;      /* exit when done (see --once) */
    long expect;    /* messages to receive before --once is done */
    long timeout_s; /* 0 = no limit */
    bool verbose;
} s_args;

/* What the loop is waiting for. */
typedef struct {
    bool sent; /* a message was sent: wait for its receipts */
    uint8_t sent_id[16];
    bool delivered; /* every recipient's receipt is in */
    bool rejected;  /* the broker refused it */
    long received;  /* messages received and acked */
    int status;     /* exit status so far */
} s_state;

static int s_signal_pipe[2] = {-1, -1};

/* SIGINT/SIGTERM: wake the poll() loop through the self-pipe. */
static void s_on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(s_signal_pipe[1], &b, 1) < 0) {
        /* the pipe is full: a wake-up is already pending */
    }
    errno = saved;
}

static int s_install_signals(void)
{
    if (pipe(s_signal_pipe) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(s_signal_pipe[i], F_SETFD, FD_CLOEXEC);
        fcntl(s_signal_pipe[i], F_SETFL, O_NONBLOCK);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        return -1;
    return 0;
}

/* The library's log lines (logfmt, never payloads) go to stderr. */
static void s_log(void *ctx, asylink_log_level level, const char *line)
{
    const s_args *args = ctx;
    if (args->verbose || level <= ASYLINK_LOG_WARN)
        fprintf(stderr, "%s\n", line);
}

static uint64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *s_classification_name(asylink_classification c)
{
    switch (c) {
    case ASYLINK_PUBLIC: return "PUBLIC";
    case ASYLINK_LIMITED: return "LIMITED";
    case ASYLINK_PERSONAL: return "PERSONAL";
    }
    return "UNKNOWN";
}

/* ---- the command line ---- */

static int s_usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "national_node: %s%s%s (see national_node --help)\n", what, arg ? ": " : "",
            arg ? arg : "");
    return EXIT_USAGE;
}

/* A whole non-negative decimal number; false if arg is anything else. */
static bool s_parse_count(const char *arg, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != 0 || v < 0)
        return false;
    *out = v;
    return true;
}

static bool s_parse_classification(const char *arg, asylink_classification *out)
{
    static const asylink_classification all[] = {ASYLINK_PUBLIC, ASYLINK_LIMITED, ASYLINK_PERSONAL};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(arg, s_classification_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    return false;
}

/* Parses argv into args. Returns -1 to go on, else an exit status. */
static int s_parse_args(int argc, char **argv, s_args *args)
{
    memset(args, 0, sizeof *args);
    args->classification = ASYLINK_PERSONAL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes_value = true;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(s_usage, stdout);
            return EXIT_SUCCESS;
        } else if (strcmp(a, "--once") == 0) {
            args->once = true;
            takes_value = false;
        } else if (strcmp(a, "--verbose") == 0) {
            args->verbose = true;
            takes_value = false;
        } else if (a[0] == '-' && a[1] == '-' && !v) {
            return s_usage_error("option needs a value", a);
        } else if (strcmp(a, "--to") == 0) {
            args->to = v;
        } else if (strcmp(a, "--payload-file") == 0) {
            args->payload_file = v;
        } else if (strcmp(a, "--content-type") == 0) {
            args->content_type = v;
        } else if (strcmp(a, "--classification") == 0) {
            if (!s_parse_classification(v, &args->classification))
                return s_usage_error("--classification must be PUBLIC, LIMITED or PERSONAL", v);
        } else if (strcmp(a, "--expect") == 0) {
            if (!s_parse_count(v, &args->expect))
                return s_usage_error("--expect needs a number", v);
        } else if (strcmp(a, "--timeout") == 0) {
            if (!s_parse_count(v, &args->timeout_s))
                return s_usage_error("--timeout needs a number of seconds", v);
        } else if (a[0] == '-') {
            return s_usage_error("unknown option", a);
        } else if (!args->config) {
            args->config = a;
            takes_value = false;
        } else {
            return s_usage_error("more than one configuration file", a);
        }
        if (takes_value)
            i++;
    }
    if (!args->config)
        return s_usage_error("the node configuration file is missing", NULL);
    if (!args->content_type)
        args->content_type =
            args->payload_file ? "application/octet-stream" : "asylink.v1.InformationRequest";
    return -1;
}

/* ---- sending ---- */

/*
 * The example request as JSON (asylink.v1.InformationRequest's field names,
 * proto/asylink/v1/asylum.proto). A real one also names requesting_state,
 * this node's id, which the application knows from its configuration.
 */
static int s_example_json(const char *to, char *buf, size_t size)
{
    uint64_t now = s_now_ms();
    uint64_t deadline = now + 35ull * 24 * 3600 * 1000; /* Dublin III Art. 34: five weeks */
    int n = snprintf(buf, size,
                     "{\"request_id\":\"EXAMPLE-%" PRIu64 "\","
                     "\"requested_state\":\"%s\","
                     "\"legal_basis\":\"LEGAL_BASIS_DUBLIN_III_ART_34\","
                     "\"legal_basis_text\":\"Regulation (EU) 604/2013 Art. 34\","
                     "\"applicant_reference\":\"EXAMPLE-CASE-0001\","
                     "\"questions\":[{\"question_id\":\"Q1\","
                     "\"topic\":\"QUESTION_TOPIC_PREVIOUS_APPLICATION\","
                     "\"text\":\"Was an application lodged, and at what stage is it?\"}],"
                     "\"requested_ms\":%" PRIu64 ",\"reply_deadline_ms\":%" PRIu64 "}",
                     now, to, now, deadline);
    return n > 0 && (size_t)n < size ? n : -1;
}

/* Reads a whole file (at most 64 MiB) into a malloc'd buffer. */
static int s_read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 0, n = 0;
    uint8_t *buf = NULL;
    int rc = 0;
    for (;;) {
        if (n == cap) {
            uint8_t *grown = cap < (64u << 20) ? realloc(buf, cap ? cap * 2 : 65536) : NULL;
            if (!grown) {
                rc = -1;
                break;
            }
            buf = grown;
            cap = cap ? cap * 2 : 65536;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            rc = ferror(f) ? -1 : 0;
            break;
        }
    }
    fclose(f);
    if (rc != 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* The example request's protobuf bytes, converted by the library (freed with asylink_free()). */
static int s_example_payload(const char *to, uint8_t **payload, size_t *len)
{
    char json[1024], err[256];
    if (s_example_json(to, json, sizeof json) < 0)
        return -1;
    int rc = asylink_payload_from_json("asylink.v1.InformationRequest", json, payload, len, err,
                                       sizeof err);
    if (rc != ASYLINK_OK) {
        fprintf(stderr, "national_node: the example request does not convert: %s (%s)\n", err,
                asylink_err_name(rc));
        return -1;
    }
    return 0;
}

/*
 * After a send that failed with IO or STORE_FULL (the id is returned all the
 * same): whether the outbox holds the message (docs/INTEGRATION.md 4).
 */
static void s_report_outbox(asylink_client *c, const uint8_t id[16])
{
    char hex[ASYLINK_ID_TEXT_LEN];
    int state = 0, code = ASYLINK_OK;
    int rc = asylink_sent_state_get(c, id, &state, &code);
    const char *what = "stored: the library sends it"; /* PENDING (or ACCEPTED already) */
    if (rc == ASYLINK_E_NOT_FOUND)
        what = "not stored: send it again, unless an ACCEPTED event names this id meanwhile";
    else if (rc != ASYLINK_OK)
        what = asylink_err_name(rc); /* cannot tell now */
    else if (state == ASYLINK_SENT_REJECTED)
        what = asylink_err_name(code);
    fprintf(stderr, "national_node: id=%s outbox: %s\n", asylink_id_format(id, hex), what);
}

static int s_send(asylink_client *c, const s_args *args, s_state *st)
{
    uint8_t *file = NULL;    /* --payload-file's bytes (free()) */
    uint8_t *example = NULL; /* the example request's bytes (asylink_free()) */
    const void *payload = NULL;
    size_t len = 0;
    if (args->payload_file) {
        if (s_read_file(args->payload_file, &file, &len) != 0) {
            fprintf(stderr, "national_node: cannot read %s: %s\n", args->payload_file,
                    strerror(errno));
            return -1;
        }
        payload = file;
    } else {
        if (s_example_payload(args->to, &example, &len) != 0)
            return -1;
        payload = example;
    }
    const char *recipients[] = {args->to};
    asylink_send_params p;
    asylink_send_params_init(&p);
    p.recipients = recipients;
    p.n_recipients = 1;
    p.content_type = args->content_type;
    p.classification = args->classification;
    p.expires_ms = s_now_ms() + 7ull * 24 * 3600 * 1000; /* nobody delivers it after a week */
    int rc = asylink_send(c, &p, payload, len, st->sent_id);
    free(file);
    asylink_free(example);
    if (rc != ASYLINK_OK) {
        fprintf(stderr, "national_node: cannot send to %s: %s (%s)\n", args->to,
                asylink_strerror(rc), asylink_err_name(rc));
        if (rc == ASYLINK_E_IO || rc == ASYLINK_E_STORE_FULL)
            s_report_outbox(c, st->sent_id);
        return -1;
    }
    char hex[ASYLINK_ID_TEXT_LEN];
    printf("sent id=%s to=%s content_type=%s classification=%s size=%zu\n",
           asylink_id_format(st->sent_id, hex), args->to, args->content_type,
           s_classification_name(args->classification), len);
    st->sent = true;
    return 0;
}

/* ---- the loop ---- */

static void s_handle_event(asylink_client *c, const asylink_event *e, s_state *st)
{
    char hex[ASYLINK_ID_TEXT_LEN];
    const uint8_t *id = asylink_event_message_id(e);
    bool ours = st->sent && memcmp(id, st->sent_id, 16) == 0;
    switch (asylink_event_get_type(e)) {
    case ASYLINK_EVENT_CONNECTED:
        printf("connected broker=%s endpoint=%s\n", asylink_event_node(e),
               asylink_event_endpoint(e));
        break;
    case ASYLINK_EVENT_DISCONNECTED:
        printf("disconnected code=%s reason=\"%s\" endpoint=%s\n",
               asylink_err_name(asylink_event_code(e)), asylink_event_reason(e),
               asylink_event_endpoint(e));
        break;
    case ASYLINK_EVENT_ACCEPTED: printf("accepted id=%s\n", asylink_id_format(id, hex)); break;
    case ASYLINK_EVENT_REJECTED:
        printf("rejected id=%s code=%s reason=\"%s\"\n", asylink_id_format(id, hex),
               asylink_err_name(asylink_event_code(e)), asylink_event_reason(e));
        if (ours) {
            st->rejected = true;
            st->status = EXIT_FAILURE;
        }
        break;
    case ASYLINK_EVENT_RECEIPT:
        printf("receipt id=%s from=%s\n", asylink_id_format(id, hex), asylink_event_node(e));
        /* timeout 0: just asks whether every recipient's receipt is in and says it took
           the message (a refusal, or a receipt whose signer is revoked, is no delivery) */
        if (ours && !st->delivered) {
            int rc = asylink_receipt_wait(c, st->sent_id, 0);
            if (rc == ASYLINK_OK) {
                st->delivered = true;
                printf("delivered id=%s\n", hex);
            } else if (rc == ASYLINK_E_NOT_RECIPIENT || rc == ASYLINK_E_REVOKED) {
                printf("not delivered id=%s code=%s\n", hex, asylink_err_name(rc));
            }
        }
        break;
    case ASYLINK_EVENT_RECEIVE_FAILED:
        printf("receive_failed id=%s from=%s code=%s\n", asylink_id_format(id, hex),
               asylink_event_node(e), asylink_err_name(asylink_event_code(e)));
        break;
    default: /* event types added by later library versions */ break;
    }
}

/* Prints what arrived (never the payload itself) and acknowledges it. */
static int s_handle_message(asylink_client *c, const asylink_message *m, s_state *st)
{
    char hex[ASYLINK_ID_TEXT_LEN];
    size_t len = 0;
    (void)asylink_message_payload(m, &len); /* the application would process it here */
    printf("received id=%s from=%s content_type=%s classification=%s size=%zu\n",
           asylink_id_format(asylink_message_id(m), hex), asylink_message_sender(m),
           asylink_message_content_type(m),
           s_classification_name(asylink_message_classification(m)), len);
    int rc = asylink_ack_message(c, m); /* exactly this message: its sender and id */
    if (rc != ASYLINK_OK) {
        fprintf(stderr, "national_node: cannot ack %s: %s\n", hex, asylink_err_name(rc));
        return -1;
    }
    printf("acked id=%s\n", hex);
    st->received++;
    return 0;
}

/* Takes everything that is waiting: events first, then messages. */
static int s_drain(asylink_client *c, s_state *st)
{
    asylink_event *e = NULL;
    while (asylink_next_event(c, 0, &e) == ASYLINK_OK) {
        s_handle_event(c, e, st);
        asylink_event_free(&e);
    }
    asylink_message *m = NULL;
    int rc;
    while ((rc = asylink_recv(c, 0, &m)) == ASYLINK_OK) {
        int handled = s_handle_message(c, m, st);
        asylink_message_free(&m);
        if (handled != 0)
            return -1;
    }
    if (rc != ASYLINK_E_TIMEOUT) {
        fprintf(stderr, "national_node: receiving failed: %s\n", asylink_strerror(rc));
        return -1;
    }
    return 0;
}

/*
 * --once is done when what we sent has every receipt, --expect messages
 * arrived, and the outbox is empty: the receipts our acks queued have
 * reached the broker (they would otherwise wait for the next start).
 */
static bool s_done(asylink_client *c, const s_args *args, const s_state *st)
{
    if (st->rejected)
        return true;
    if (!args->once || (st->sent && !st->delivered) || st->received < args->expect)
        return false;
    uint64_t pending = 0;
    return asylink_outbox_pending(c, &pending) == ASYLINK_OK && pending == 0;
}

/* poll() on the library's fd and the signal pipe until a signal, --once or --timeout. */
static int s_loop(asylink_client *c, const s_args *args, s_state *st)
{
    uint64_t deadline = args->timeout_s ? s_now_ms() + (uint64_t)args->timeout_s * 1000 : 0;
    while (!s_done(c, args, st)) {
        int wait_ms = -1;
        if (deadline) {
            uint64_t now = s_now_ms();
            if (now >= deadline) {
                fprintf(stderr, "national_node: timed out after %ld s\n", args->timeout_s);
                return EXIT_TIMEOUT;
            }
            wait_ms = (int)(deadline - now);
        }
        struct pollfd fds[2] = {{.fd = asylink_fd(c), .events = POLLIN},
                                {.fd = s_signal_pipe[0], .events = POLLIN}};
        fflush(stdout);
        int n = poll(fds, 2, wait_ms);
        if (n < 0 && errno != EINTR) {
            perror("national_node: poll");
            return EXIT_FAILURE;
        }
        if (n > 0 && fds[1].revents) {
            fprintf(stderr, "national_node: signal received, closing\n");
            return st->status;
        }
        if (n > 0 && fds[0].revents && s_drain(c, st) != 0)
            return EXIT_FAILURE;
    }
    return st->status;
}

int main(int argc, char **argv)
{
    s_args args;
    int status = s_parse_args(argc, argv, &args);
    if (status >= 0)
        return status;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (s_install_signals() != 0) {
        perror("national_node: signals");
        return EXIT_FAILURE;
    }
    asylink_client *c = NULL;
    int rc = asylink_client_open_config(args.config, s_log, &args, &c);
    if (rc != ASYLINK_OK) {
        fprintf(stderr, "national_node: cannot open the node from %s: %s (%s)\n", args.config,
                asylink_strerror(rc), asylink_err_name(rc));
        return EXIT_FAILURE;
    }
    s_state st = {.status = EXIT_SUCCESS};
    if (args.to && s_send(c, &args, &st) != 0)
        status = EXIT_FAILURE;
    else
        status = s_loop(c, &args, &st);
    asylink_client_close(&c);
    return status;
}
