/*
 * peerwire.h — the broker protocol on one ZeroMQ DEALER socket, for
 * programs that speak it without the client library (asylink-peer,
 * bench_broker): CURVE client keys, a command (and envelope) out, a
 * command (and envelope) in, the Hello every session starts with, the
 * answer to a heartbeat. Frames: docs/PROTOCOL.md, codec: core/wire.h.
 *
 * Errors: 0 / -1 with zmq_errno() set, as libzmq does.
 *
 * Threading: a socket belongs to one thread; these functions keep no state.
 */
#ifndef ASYLINK_PEERWIRE_H
#define ASYLINK_PEERWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "keys.h"
#include "wire.h"

/* One message from the broker: its command and the optional envelope frame. */
typedef struct {
    wire_cmd cmd;        /* valid when decode_rc is ASYLINK_OK */
    int decode_rc;       /* ASYLINK_OK, or why the command frame does not decode */
    bool admin_response; /* the frame is an AdminResponse (decode_rc is then MALFORMED) */
    zmq_msg_t env;       /* the second frame, if has_env */
    bool has_env;
} peerwire_in;

/* Makes sock a CURVE client of the server key with keys' box key pair. */
int peerwire_curve(void *sock, const uint8_t server_pk[32], const keys_secret *keys);

/*
 * Sends cmd, then (with_env) the envelope frame and (extra) one more
 * one-byte frame: the first frame with `flags` (0 or ZMQ_DONTWAIT), the
 * rest once it is queued. Bytes are sent as given: hostile callers pass
 * anything.
 */
int peerwire_send_raw(void *sock, int flags, const uint8_t *cmd, size_t cmd_len, const uint8_t *env,
                      size_t env_len, bool with_env, bool extra);

/* Encodes c and sends it, with env as the second frame when env is not NULL. */
int peerwire_send(void *sock, int flags, const wire_cmd *c, const uint8_t *env, size_t env_len);

/*
 * Reads one message if one is there (never waits). Returns 1 with *in
 * filled, 0 if none was ready; either way release *in with
 * peerwire_in_clear(). Frames beyond the second are dropped (the protocol
 * has at most two).
 */
int peerwire_recv(void *sock, peerwire_in *in);
void peerwire_in_clear(peerwire_in *in);

/*
 * Reads messages of a session of protocol version 2: as peerwire_recv(),
 * but a Packed frame (PROTOCOL.md 11.2.1) is split, its items returned one
 * per call (the envelope copied into in->env). A Packed frame that does
 * not check comes back as one message with decode_rc set. State: one
 * reader per socket and thread; zero-initialize, then peerwire_reader_close()
 * when done.
 */
typedef struct peerwire_reader {
    zmq_msg_t frame; /* the Packed frame being walked */
    wire_unpacker u;
    bool active;
} peerwire_reader;

int peerwire_read(void *sock, peerwire_reader *rd, peerwire_in *in);
void peerwire_reader_close(peerwire_reader *rd);

/* Fills *c with a Hello (this protocol version and library version). */
void peerwire_hello(wire_cmd *c, uint64_t request_id, const char *node_id, const char *client_name,
                    uint32_t initial_credit);

/* Answers c if it is a heartbeat ping; does nothing for anything else. */
int peerwire_pong(void *sock, int flags, const wire_cmd *c);

/* A diagnostic line on stderr, "PROGRAM: ..." (the running program's name). */
__attribute__((format(printf, 1, 2))) void peerwire_warn(const char *fmt, ...);

#endif
