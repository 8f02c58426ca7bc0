/*
 * test_metrics.c — the monitoring renderers escape what they did not write:
 * node ids, subscription names and topic prefixes are Prometheus label
 * values in /metrics and HTML text on the status page. Their character
 * sets need no escaping today (certificates and the wire layer restrict
 * them); the renderers do not rely on it. They also show the gauges the
 * router publishes, such as the bytes in transit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

#define S_NODE "X<b>&\"'"
#define S_NAME "s\"u\\b"
#define S_PREFIX "<script>"

/* A metrics whose snapshot holds one node and one feed with hostile names. */
static metrics *s_metrics(void)
{
    metrics *m = metrics_new();
    assert_non_null(m);
    metrics_snapshot snap;
    memset(&snap, 0, sizeof snap);
    snprintf(snap.broker_node_id, sizeof snap.broker_node_id, "BROKER.EU");
    snap.started_ms = 1000;
    snap.taken_ms = 61000;
    snap.nodes = calloc(1, sizeof *snap.nodes);
    snap.feeds = calloc(1, sizeof *snap.feeds);
    assert_non_null(snap.nodes);
    assert_non_null(snap.feeds);
    snprintf(snap.nodes[0].node_id, sizeof snap.nodes[0].node_id, "%s", S_NODE);
    snap.nodes[0].depth = 3;
    snap.n_nodes = 1;
    snprintf(snap.feeds[0].node_id, sizeof snap.feeds[0].node_id, "%s", S_NODE);
    snprintf(snap.feeds[0].name, sizeof snap.feeds[0].name, "%s", S_NAME);
    snprintf(snap.feeds[0].prefix, sizeof snap.feeds[0].prefix, "%s", S_PREFIX);
    snap.n_feeds = 1;
    snap.transit_bytes = 5u * 1024u * 1024u;
    snap.max_transit_bytes = 48u * 1024u * 1024u;
    snap.broker_cert_not_after_ms = snap.taken_ms + 10ull * 86400000; /* ten days left */
    snap.ca_cert_not_after_ms = snap.taken_ms - 5000;                 /* ended 5 s ago */
    metrics_publish(m, &snap);
    return m;
}

static void test_prometheus_labels_escaped(void **state)
{
    (void)state;
    metrics *m = s_metrics();
    char *text = metrics_render_prometheus(m);
    assert_non_null(text);
    assert_non_null(strstr(text, "asylink_queue_depth{node=\"X<b>&\\\"'\"} 3\n"));
    assert_non_null(strstr(text, "asylink_feed_lag_messages{node=\"X<b>&\\\"'\","
                                 "subscription=\"s\\\"u\\\\b\",prefix=\"<script>\"}"));
    assert_null(strstr(text, "node=\"X<b>&\"'\""));
    free(text);
    metrics_destroy(&m);
}

static void test_html_escaped(void **state)
{
    (void)state;
    metrics *m = s_metrics();
    char *html = metrics_render_html(m);
    assert_non_null(html);
    assert_non_null(strstr(html, "<td>X&lt;b&gt;&amp;&quot;&#39;</td>"));
    assert_non_null(strstr(html, "s&quot;u\\b"));
    assert_non_null(strstr(html, "&lt;script&gt;"));
    assert_null(strstr(html, "<script>"));
    assert_null(strstr(html, "X<b>"));
    free(html);
    metrics_destroy(&m);
}

/* The bytes in transit (DESIGN-CHANGES 48) and their bound: a gauge, in the JSON, a tile. */
static void test_transit_bytes(void **state)
{
    (void)state;
    metrics *m = s_metrics();
    char *text = metrics_render_prometheus(m);
    assert_non_null(text);
    assert_non_null(strstr(text, "# TYPE asylink_transit_bytes gauge\nasylink_transit_bytes "
                                 "5242880\n"));
    assert_non_null(strstr(text, "\nasylink_transit_limit_bytes 50331648\n"));
    free(text);
    char *json = metrics_render_json(m);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"transit_bytes\": 5242880"));
    assert_non_null(strstr(json, "\"max_transit_bytes\": 50331648"));
    free(json);
    char *html = metrics_render_html(m);
    assert_non_null(html);
    assert_non_null(strstr(html, "in transit<b>5.0 MiB</b>of 48 MiB"));
    free(html);
    metrics_destroy(&m);
}

/* The broker's own certificate and the CA's: gauges, JSON fields, the page's line. */
static void test_certificate_ends(void **state)
{
    (void)state;
    metrics *m = s_metrics();
    char *text = metrics_render_prometheus(m);
    assert_non_null(text);
    assert_non_null(strstr(text, "# TYPE asylink_broker_cert_expiry_seconds gauge\n"
                                 "asylink_broker_cert_expiry_seconds 864000\n"));
    assert_non_null(strstr(text, "# TYPE asylink_ca_cert_expiry_seconds gauge\n"
                                 "asylink_ca_cert_expiry_seconds -5\n"));
    free(text);
    char *json = metrics_render_json(m);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"broker_cert_not_after_ms\": 864061000"));
    assert_non_null(strstr(json, "\"ca_cert_not_after_ms\": 56000"));
    free(json);
    char *html = metrics_render_html(m);
    assert_non_null(html);
    assert_non_null(strstr(html, "the broker's expires in <b class=\"warn\">10d 0h</b>"));
    assert_non_null(strstr(html, "the CA's in <b class=\"bad\">expired</b>"));
    free(html);
    metrics_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prometheus_labels_escaped),
        cmocka_unit_test(test_html_escaped),
        cmocka_unit_test(test_transit_bytes),
        cmocka_unit_test(test_certificate_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
