/*
 * node_config.h — the option table of the node configuration file that
 * asylink_client_open_config() reads ([node] broker_endpoint, broker_cert,
 * ...). The table lives in client.c beside the function; it is exported
 * here, inside the project only, so that the manual page
 * asylink-node.ini(5) is generated from the very rows the parser uses
 * (docgen/). Not part of the public API (no ASYLINK_EXPORT).
 */
#ifndef ASYLINK_CLIENT_NODE_CONFIG_H
#define ASYLINK_CLIENT_NODE_CONFIG_H

#include <stddef.h>

#include "config.h"

extern const config_option *const client_node_options;
extern const size_t client_node_options_len;

#endif
