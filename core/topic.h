/*
 * topic.h — feed topic names and the one rule for "under a prefix".
 *
 * A topic is a dotted name of labels of [A-Za-z0-9_-], 1..TOPIC_MAX bytes
 * ("stats.monthly.DE"). A topic prefix (a subscription's, a policy rule's)
 * is itself a valid topic, and matches on whole labels only: "stats" and
 * "stats.monthly.DE" are under "stats"; "statsx" is not, nor is "stats"
 * under "stats.monthly".
 *
 * The empty prefix names no topic, so nothing is under it: a prefix left
 * empty by mistake (a zeroed struct, a missing field) matches nothing
 * rather than everything. Code that means "every topic" says so itself
 * (the broker store takes a NULL prefix as "no filter").
 *
 * Threading: pure functions, thread-safe.
 */
#ifndef ASYLINK_CORE_TOPIC_H
#define ASYLINK_CORE_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#define TOPIC_MAX 255 /* longest topic or prefix, bytes */

/* True if topic is a dotted name of [A-Za-z0-9_-] labels, 1..TOPIC_MAX chars. */
bool topic_valid(const char *topic);

/*
 * True if topic (topic_len bytes) equals prefix (prefix_len bytes) or
 * continues it with '.'. Neither needs a terminating NUL. False when
 * prefix_len is 0. Does not check that either is a valid topic.
 */
bool topic_under_n(const char *topic, size_t topic_len, const char *prefix, size_t prefix_len);

/* topic_under_n() of two NUL-terminated strings; false if either is NULL. */
bool topic_under(const char *topic, const char *prefix);

#endif
