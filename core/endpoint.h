/*
 * endpoint.h — the ZeroMQ endpoints asylink binds and connects to.
 *
 * An endpoint is ipc://PATH or tcp://HOST:PORT; no control character
 * anywhere, and in HOST no ';' (ZeroMQ's "source;destination" form) and no
 * '/'. A bind (the broker's endpoint and admin_endpoint) takes PORT * or
 * 0..65535 (ZeroMQ binds no service name; * and 0 pick a free port) and
 * HOST * (every interface), an address ([::1] for IPv6) or an interface
 * name. A connection (the admin commands' --admin, a node's
 * broker_endpoint) takes PORT 1..65535 and no '*' in HOST. The client
 * library checks its address lists itself (client/connection.c), with a
 * message for each rule.
 *
 * Threading: pure functions, thread-safe.
 */
#ifndef ASYLINK_CORE_ENDPOINT_H
#define ASYLINK_CORE_ENDPOINT_H

#include <stdbool.h>

/* True if ep (NUL-terminated; NULL: false) is an endpoint to bind (bind), or to connect to. */
bool endpoint_valid(const char *ep, bool bind);

#endif
