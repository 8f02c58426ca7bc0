"""asylink — Python binding of libasylink, the asylink client library.

A thin ctypes layer over the C ABI in include/asylink/asylink.h: no
compiled extension, nothing but the Python standard library. Every call
goes to libasylink, which signs, encrypts, stores and delivers; this module
only converts arguments and results and turns error codes into
exceptions.

    import asylink
    with asylink.Client("de.ini") as de:
        mid = de.send(["FR"], "application/json", b'{"request_id": "DE-1"}',
                      classification="PERSONAL")
        de.receipt_wait(mid, 30_000)

    with asylink.Client("fr.ini") as fr:
        m = fr.recv(10_000)          # None on timeout
        if m is not None:
            print(m.id_text, m.payload_dict())   # the payload decoded, as the CLI shows it
            fr.ack(m)

Finding the library (load()): the path given to Client(library=...) or
load(), else the ASYLINK_LIBRARY environment variable, else the
libasylink.so.0 of the same installation as this module (a module in
PREFIX/lib/python3/dist-packages or PREFIX/lib/python3.X/site-packages
looks in PREFIX/lib/<multiarch>, PREFIX/lib and PREFIX/lib64), else
libasylink.so.0 by its soname through the dynamic loader (the system's
library directories, /etc/ld.so.conf.d, LD_LIBRARY_PATH), else
ctypes.util.find_library("asylink"). An installed package needs no
environment variable.

Payloads of asylink's payload types ("asylink.v1.InformationRequest", ...)
convert to and from JSON with the library's own converter, the one the
asylink command line uses: Message.payload_json(), Message.payload_dict(),
payload_to_json(), payload_from_json(); send() and publish() take a dict
for such a type. Message ids print in the one form asylink uses
everywhere (format_id(), Message.id_text): "0190a3f2-7c1e-7b3a-9f00-...".

Threading: like the C client, a Client may be used from several threads;
ctypes releases the GIL during every library call, so a thread blocked in
recv() does not block the others. close() must not race other calls.

Secrets: payloads are copied into Python bytes objects, which cannot be
wiped; the C message (and its decrypted copy) is wiped and freed at once.
"""

import ctypes
import ctypes.util
import json
import os
import sysconfig
from typing import Callable, List, NamedTuple, Optional, Sequence, Union

__all__ = [
    "AsylinkError", "Client", "Event", "Message", "Receipt", "SentState",
    "load", "library_path", "version", "strerror", "err_name",
    "format_id", "parse_id", "payload_types", "payload_to_json", "payload_from_json",
    "RECEIPT_DELIVERED", "RECEIPT_REJECTED",
]

# The library major version this binding was written for (asylink.h ABI),
# and its file name by soname.
_ABI_MAJOR = 0
_SONAME = f"libasylink.so.{_ABI_MAJOR}"

CLASSIFICATIONS = {"PUBLIC": 1, "LIMITED": 2, "PERSONAL": 3}
# payload types that carry personal data: they travel as PERSONAL (asylum.proto)
PERSONAL_TYPES = ("asylink.v1.InformationRequest", "asylink.v1.InformationReply")
_CLASSIFICATION_NAMES = {v: k for k, v in CLASSIFICATIONS.items()}

EVENT_TYPES = {
    1: "ACCEPTED", 2: "REJECTED", 3: "RECEIPT",
    4: "CONNECTED", 5: "DISCONNECTED", 6: "RECEIVE_FAILED",
}

LOG_LEVELS = {0: "error", 1: "warn", 2: "info", 3: "debug"}

# SentState.state (asylink_sent_state).
_SENT_STATES = {1: "PENDING", 2: "ACCEPTED", 3: "REJECTED"}

# Receipt.status (asylink_receipt_status).
RECEIPT_DELIVERED = 1   # the recipient's application took the message
RECEIPT_REJECTED = 2    # the recipient refused it

_OK = 0
_E_IO = 3
_E_TIMEOUT = 8
_E_NOT_FOUND = 5
_E_STORE_FULL = 53
_E_REENTRANT = 70
_E_BAD_FIELD = 13
_JSON_PRETTY = 1  # ASYLINK_JSON_PRETTY
_ID_TEXT_LEN = 37  # ASYLINK_ID_TEXT_LEN

_LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p)


class _SendParams(ctypes.Structure):
    """asylink_send_params. Filled here, not by asylink_send_params_init():
    that function writes sizeof(the library's struct) bytes, which could
    overrun this one if a later library grows it; struct_size tells the
    library which version of the struct it is given."""

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("recipients", ctypes.POINTER(ctypes.c_char_p)),
        ("n_recipients", ctypes.c_size_t),
        ("content_type", ctypes.c_char_p),
        ("classification", ctypes.c_int),
        ("expires_ms", ctypes.c_uint64),
        ("correlation_id", ctypes.c_void_p),
    ]


class _PublishParams(ctypes.Structure):
    """asylink_publish_params, filled here for the same reason as _SendParams."""

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("topic", ctypes.c_char_p),
        ("content_type", ctypes.c_char_p),
        ("classification", ctypes.c_int),
        ("expires_ms", ctypes.c_uint64),
    ]


# Where a new subscription starts (asylink_start).
START_POSITIONS = {"new": 1, "earliest": 2, "sequence": 3, "time": 4}


class _Connection(ctypes.Structure):
    """asylink_connection (a plain output struct, no struct_size)."""

    _fields_ = [
        ("endpoint", ctypes.c_char * 256),
        ("broker", ctypes.c_char * 65),
        ("connected", ctypes.c_int),
        ("running", ctypes.c_int),
        ("since_ms", ctypes.c_uint64),
        ("index", ctypes.c_uint32),
        ("n_endpoints", ctypes.c_uint32),
        ("sessions", ctypes.c_uint64),
    ]


class _ConnectFailure(ctypes.Structure):
    """asylink_connect_failure (a plain output struct, no struct_size)."""

    _fields_ = [
        ("code", ctypes.c_int),
        ("reason", ctypes.c_char * 512),
        ("endpoint", ctypes.c_char * 256),
        ("at_ms", ctypes.c_uint64),
        ("attempts", ctypes.c_uint32),
        ("sessions", ctypes.c_uint64),
        ("connected", ctypes.c_int),
    ]


class _AckKey(ctypes.Structure):
    """asylink_ack_key: what names one received message."""

    _fields_ = [
        ("message_id", ctypes.c_uint8 * 16),
        ("sender", ctypes.c_char_p),
        ("subscription", ctypes.c_char_p),
    ]


class _ReceiptInfo(ctypes.Structure):
    """asylink_receipt_info (a plain output struct, no struct_size)."""

    _fields_ = [
        ("recipient", ctypes.c_char * 65),
        ("signer_revoked", ctypes.c_uint8),  # in what was padding: the layout is unchanged
        ("acked_ms", ctypes.c_uint64),
        ("status", ctypes.c_int),
        ("envelope_digest", ctypes.c_uint8 * 64),
    ]


class AsylinkError(Exception):
    """A libasylink call failed.

    code: the stable asylink_err number; name: its symbolic name, e.g.
    "UNKNOWN_RECIPIENT"; message: asylink_strerror(code); message_id: the
    16-byte id of the message a Client.send() or Client.publish() that
    failed with IO or STORE_FULL made (its outbox commit failed, but the
    message may have reached the broker: an ACCEPTED event may still name
    this id, and sending it again makes a second message), else None."""

    def __init__(self, code: int, name: str, message: str, context: str = "",
                 message_id: Optional[bytes] = None):
        self.code = code
        self.name = name
        self.message = message
        self.context = context
        self.message_id = message_id
        text = f"{name} ({code}): {message}"
        super().__init__(f"{context}: {text}" if context else text)


class Message(NamedTuple):
    """A received, verified and decrypted message."""

    id: bytes                       # 16-byte message id
    sender: str                     # node id of the sender
    recipients: List[str]           # every direct recipient ([] for a feed message)
    content_type: str
    classification: str             # "PUBLIC", "LIMITED" or "PERSONAL"
    created_ms: int                 # Unix ms, set by the sender
    expires_ms: int                 # Unix ms, 0 = never
    correlation_id: Optional[bytes] # 16-byte id of the message this answers, or None
    payload: bytes
    topic: str = ""                 # feed topic, "" for a direct message
    subscription: str = ""          # the subscription a feed message came through, "" if direct

    @property
    def id_text(self) -> str:
        """The message id as asylink prints it everywhere (format_id())."""
        return format_id(self.id)

    def payload_json(self, pretty: bool = False) -> str:
        """The payload as JSON text (payload_to_json() of its content type),
        exactly as `asylink recv --json` shows it. Raises AsylinkError
        NOT_FOUND for a content type that is not an asylink payload type
        (the payload is then the sender's own bytes), MALFORMED if the bytes
        are not a message of that type."""
        return payload_to_json(self.content_type, self.payload, pretty)

    def payload_dict(self) -> dict:
        """The payload decoded into a dict (json.loads of payload_json())."""
        return json.loads(self.payload_json())


class Event(NamedTuple):
    """Something that happened to a sent message or to the connection."""

    type: str                       # "ACCEPTED", "REJECTED", "RECEIPT", "CONNECTED", ...
    message_id: bytes               # 16 bytes (zeros for connection events)
    code: int                       # asylink_err for REJECTED, RECEIVE_FAILED, DISCONNECTED
    code_name: str                  # its name, "OK" when 0
    reason: str
    node: str                       # RECEIPT: the recipient; CONNECTED: the broker
    endpoint: str = ""              # broker address of the session it came through

    @property
    def message_id_text(self) -> str:
        """The message id as asylink prints it everywhere (format_id())."""
        return format_id(self.message_id)


class Connection(NamedTuple):
    """Where the client is connected, or was last (asylink_connection_get)."""

    endpoint: str                   # broker address in use (one of broker_endpoint's)
    broker: str                     # node id from the broker's Welcome, "" before any
    connected: bool
    since_ms: int                   # Unix ms the session opened (or ended)
    index: int                      # position of endpoint in the list, from 0
    n_endpoints: int
    sessions: int                   # sessions opened since the client was opened


class SentState(NamedTuple):
    """What became of a message this node sent (asylink_sent_state_get)."""

    state: str                      # "PENDING", "ACCEPTED" or "REJECTED"
    code: int                       # REJECTED: why (an asylink error code), else 0
    name: str                       # its name: "OK", "POLICY", "PURGED", ...


class ConnectFailure(NamedTuple):
    """Why no session with the broker is open (asylink_connect_failure_get)."""

    code: int                       # 0 when nothing failed since the last session
    name: str                       # its name: "OK", "UNAVAILABLE", "REFUSED", "PROTOCOL", ...
    reason: str                     # in words, naming the broker address and what to do
    endpoint: str                   # the broker address concerned
    at_ms: int                      # when it was found (Unix ms), 0 with "OK"
    attempts: int                   # attempts failed since the last session opened
    sessions: int                   # sessions opened since the client was opened
    connected: bool


class Receipt(NamedTuple):
    """A verified receipt for a sent message."""

    recipient: str
    acked_ms: int
    status: int                     # RECEIPT_DELIVERED or RECEIPT_REJECTED
    envelope_digest: bytes          # 64 bytes
    signer_revoked: bool = False    # its signer's certificate is revoked now: proves nothing


_lib = None


def _declare(lib):
    """Argument and result types of every function used."""
    c_int, c_size_t = ctypes.c_int, ctypes.c_size_t
    c_void_p, c_char_p = ctypes.c_void_p, ctypes.c_char_p
    pp = ctypes.POINTER(c_void_p)
    u8p = ctypes.POINTER(ctypes.c_uint8)
    sigs = {
        "asylink_strerror": (c_char_p, [c_int]),
        "asylink_err_name": (c_char_p, [c_int]),
        "asylink_version": (c_char_p, []),
        "asylink_client_open_config": (c_int, [c_char_p, _LOG_FN, c_void_p, pp]),
        "asylink_client_close": (None, [pp]),
        "asylink_send": (c_int, [c_void_p, ctypes.POINTER(_SendParams), c_void_p, c_size_t, u8p]),
        "asylink_recv": (c_int, [c_void_p, c_int, pp]),
        "asylink_ack": (c_int, [c_void_p, u8p]),
        "asylink_ack_many": (c_int, [c_void_p, u8p, c_size_t]),
        "asylink_ack_keys": (c_int, [c_void_p, ctypes.POINTER(_AckKey), c_size_t]),
        "asylink_message_subscription": (c_char_p, [c_void_p]),
        "asylink_reload_trust": (c_int, [c_void_p]),
        "asylink_purge": (c_int, [c_void_p, u8p, c_char_p, ctypes.POINTER(c_size_t)]),
        "asylink_message_id": (u8p, [c_void_p]),
        "asylink_message_sender": (c_char_p, [c_void_p]),
        "asylink_message_recipient_count": (c_size_t, [c_void_p]),
        "asylink_message_recipient": (c_char_p, [c_void_p, c_size_t]),
        "asylink_message_content_type": (c_char_p, [c_void_p]),
        "asylink_message_classification": (c_int, [c_void_p]),
        "asylink_message_created_ms": (ctypes.c_uint64, [c_void_p]),
        "asylink_message_expires_ms": (ctypes.c_uint64, [c_void_p]),
        "asylink_message_correlation_id": (u8p, [c_void_p]),
        "asylink_message_payload": (c_void_p, [c_void_p, ctypes.POINTER(c_size_t)]),
        "asylink_message_free": (None, [pp]),
        "asylink_next_event": (c_int, [c_void_p, c_int, pp]),
        "asylink_event_get_type": (c_int, [c_void_p]),
        "asylink_event_message_id": (u8p, [c_void_p]),
        "asylink_event_code": (c_int, [c_void_p]),
        "asylink_event_reason": (c_char_p, [c_void_p]),
        "asylink_event_node": (c_char_p, [c_void_p]),
        "asylink_event_endpoint": (c_char_p, [c_void_p]),
        "asylink_connection_get": (c_int, [c_void_p, ctypes.POINTER(_Connection)]),
        "asylink_connect_failure_get": (c_int, [c_void_p, ctypes.POINTER(_ConnectFailure)]),
        "asylink_event_free": (None, [pp]),
        "asylink_receipts": (c_int, [c_void_p, u8p, ctypes.POINTER(_ReceiptInfo), c_size_t,
                                     ctypes.POINTER(c_size_t)]),
        "asylink_receipt_wait": (c_int, [c_void_p, u8p, c_int]),
        "asylink_receipt_export": (c_int, [c_void_p, u8p, c_char_p, ctypes.POINTER(u8p),
                                           ctypes.POINTER(c_size_t)]),
        "asylink_receipt_verify": (c_int, [c_void_p, c_char_p, c_size_t, u8p,
                                           ctypes.POINTER(_ReceiptInfo)]),
        "asylink_free": (None, [c_void_p]),
        "asylink_evidence_export": (c_int, [c_void_p, u8p, c_char_p]),
        "asylink_fd": (c_int, [c_void_p]),
        "asylink_outbox_pending": (c_int, [c_void_p, ctypes.POINTER(ctypes.c_uint64)]),
        "asylink_sent_state_get": (c_int, [c_void_p, u8p, ctypes.POINTER(c_int),
                                           ctypes.POINTER(c_int)]),
        "asylink_connected": (c_int, [c_void_p]),
        "asylink_client_node_id": (c_char_p, [c_void_p]),
        "asylink_publish": (c_int, [c_void_p, ctypes.POINTER(_PublishParams), c_void_p, c_size_t,
                                    u8p]),
        "asylink_subscribe": (c_int, [c_void_p, c_char_p, c_char_p, c_int, ctypes.c_uint64,
                                      c_int]),
        "asylink_unsubscribe": (c_int, [c_void_p, c_char_p, c_int]),
        "asylink_message_topic": (c_char_p, [c_void_p]),
        "asylink_id_format": (c_char_p, [u8p, c_char_p]),
        "asylink_id_parse": (c_int, [c_char_p, u8p]),
        "asylink_payload_type_count": (c_size_t, []),
        "asylink_payload_type_name": (c_char_p, [c_size_t]),
        "asylink_payload_to_json": (c_int, [c_char_p, c_char_p, c_size_t, ctypes.c_uint,
                                            ctypes.POINTER(c_void_p)]),
        "asylink_payload_from_json": (c_int, [c_char_p, c_char_p, ctypes.POINTER(u8p),
                                              ctypes.POINTER(c_size_t), c_char_p, c_size_t]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def _own_installation_candidates() -> List[str]:
    """libasylink.so.0 of the installation this module belongs to.

    A module installed as PREFIX/lib/python3/dist-packages/asylink.py (a
    Debian package) or PREFIX/lib/python3.X/site-packages/asylink.py
    (pip --prefix, make install) names PREFIX/lib/<multiarch>, PREFIX/lib
    and PREFIX/lib64: the library installed with it, also when the whole
    tree was unpacked somewhere else. Debian's pip puts "--prefix PREFIX"
    under PREFIX/local/lib/python3.X/dist-packages: then PREFIX/local's
    directories, and PREFIX's after them. Nothing for other layouts (a
    source tree, a virtual environment)."""
    here = os.path.dirname(os.path.abspath(__file__))
    site, pydir, libdir = (os.path.basename(here), os.path.basename(os.path.dirname(here)),
                           os.path.dirname(os.path.dirname(here)))
    if site not in ("dist-packages", "site-packages") or not pydir.startswith("python3"):
        return []
    if os.path.basename(libdir) not in ("lib", "lib64"):
        return []
    prefix = os.path.dirname(libdir)
    prefixes = [prefix]
    # Debian's pip installs "--prefix PREFIX" into PREFIX/local/lib/python3.X/
    # dist-packages: the library installed with it is in PREFIX/lib. Not for
    # /usr/local itself, whose PREFIX is the system's (the run-time linker's).
    if os.path.basename(prefix) == "local" and os.path.dirname(prefix) not in ("/", "/usr"):
        prefixes.append(os.path.dirname(prefix))
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = []
    for p in prefixes:
        dirs += [os.path.join(p, "lib", multiarch)] if multiarch else []
        dirs += [os.path.join(p, "lib"), os.path.join(p, "lib64")]
    return [os.path.join(d, _SONAME) for d in dirs]


def _candidates(path: Optional[str]) -> List[str]:
    """Where load() looks, in order (see the module's docstring)."""
    if path:
        return [path]
    env = os.environ.get("ASYLINK_LIBRARY")
    if env:
        return [env]
    found = [c for c in _own_installation_candidates() if os.path.exists(c)]
    found.append(_SONAME)  # the dynamic loader's own search, by soname
    by_name = ctypes.util.find_library("asylink")
    if by_name:
        found.append(by_name)
    return found


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _file_of(lib, fallback: str) -> str:
    """The file the dynamic loader really mapped for lib (dladdr)."""
    try:
        dladdr = ctypes.CDLL(None).dladdr
        dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
        info = _DlInfo()
        if dladdr(ctypes.cast(lib.asylink_version, ctypes.c_void_p), ctypes.byref(info)) and \
                info.dli_fname:
            return os.path.realpath(os.fsdecode(info.dli_fname))
    except (AttributeError, OSError):
        pass
    return fallback


_lib_path = None


def load(path: Optional[str] = None):
    """Loads libasylink (once per process) and returns the ctypes handle.

    path, else $ASYLINK_LIBRARY, else the library of this module's own
    installation, else libasylink.so.0 through the dynamic loader, else
    ctypes.util.find_library("asylink"). Raises OSError when it is not
    found or its major version differs from the one this binding speaks."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    errors = []
    for candidate in _candidates(path):
        try:
            lib = ctypes.CDLL(candidate)
        except OSError as e:
            errors.append(str(e))
            continue
        _declare(lib)
        ver = lib.asylink_version().decode()
        if int(ver.split(".")[0]) != _ABI_MAJOR:
            raise OSError(f"{candidate} is libasylink {ver}; this binding needs {_ABI_MAJOR}.x")
        _lib, _lib_path = lib, _file_of(lib, candidate)
        return lib
    raise OSError("libasylink not found: install libasylink0, or for a library in another "
                  "prefix set ASYLINK_LIBRARY to its file (e.g. "
                  "ASYLINK_LIBRARY=/opt/asylink/lib/libasylink.so.0) or add its directory to "
                  "LD_LIBRARY_PATH (bindings/python/README.md, \"Finding the library\"): "
                  + "; ".join(errors))


def library_path() -> str:
    """The file of the loaded libasylink (loading it first)."""
    load()
    return _lib_path


def version() -> str:
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return load().asylink_version().decode()


def strerror(code: int) -> str:
    """asylink_strerror: a short English description of an error code."""
    return load().asylink_strerror(code).decode()


def err_name(code: int) -> str:
    """asylink_err_name: the code's symbolic name, e.g. "BAD_SIGNATURE"."""
    return load().asylink_err_name(code).decode()


def format_id(message_id: bytes) -> str:
    """A 16-byte message id as text, in the one form asylink prints ids
    everywhere (asylink_id_format): 8-4-4-4-12 lowercase hex."""
    out = ctypes.create_string_buffer(_ID_TEXT_LEN)
    return load().asylink_id_format(_id_arg(message_id), out).decode()


def parse_id(text: str) -> bytes:
    """The 16 bytes of an id written as 8-4-4-4-12 hex or 32 hex digits
    (asylink_id_parse). Raises ValueError for anything else."""
    out = (ctypes.c_uint8 * 16)()
    if load().asylink_id_parse(text.encode(), out) != _OK:
        raise ValueError(f"not a message id: {text!r}")
    return bytes(out)


def payload_types() -> List[str]:
    """The payload types the library converts to and from JSON."""
    lib = load()
    return [lib.asylink_payload_type_name(i).decode()
            for i in range(lib.asylink_payload_type_count())]


def payload_to_json(content_type: str, payload: bytes, pretty: bool = False) -> str:
    """The payload (protobuf bytes of an asylink payload type) as JSON text,
    by the library's converter (asylink_payload_to_json): proto field names,
    every field, enums by name. Raises AsylinkError NOT_FOUND (not a payload
    type) or MALFORMED (not a message of that type)."""
    lib = load()
    payload = bytes(payload)
    out = ctypes.c_void_p()
    _check(lib.asylink_payload_to_json(content_type.encode(), payload, len(payload),
                                       _JSON_PRETTY if pretty else 0, ctypes.byref(out)),
           f"payload_to_json {content_type}")
    try:
        return ctypes.string_at(out.value).decode("utf-8")
    finally:
        lib.asylink_free(out)


def payload_from_json(content_type: str, value) -> bytes:
    """The protobuf bytes of an asylink payload type from JSON: text, or a
    dict (dumped with json.dumps first). Input keys may be the proto names
    or their lowerCamelCase. Raises AsylinkError NOT_FOUND, MALFORMED or
    BAD_FIELD; its context names the offending field's path."""
    lib = load()
    text = value if isinstance(value, str) else json.dumps(value)
    out = ctypes.POINTER(ctypes.c_uint8)()
    n = ctypes.c_size_t()
    err = ctypes.create_string_buffer(512)
    rc = lib.asylink_payload_from_json(content_type.encode(), text.encode(), ctypes.byref(out),
                                       ctypes.byref(n), err, len(err))
    if rc != _OK:
        raise _error(rc, f"payload_from_json {content_type}: {_text(err.value)}")
    try:
        return _bytes_at(out, n.value)
    finally:
        lib.asylink_free(out)


def _payload_bytes(content_type: str, payload) -> bytes:
    """send()/publish(): bytes as they are; a dict converted for content_type."""
    if isinstance(payload, dict):
        return payload_from_json(content_type, payload)
    return bytes(payload)


def _error(code: int, context: str = "") -> AsylinkError:
    return AsylinkError(code, err_name(code), strerror(code), context)


def _check_sent(code: int, context: str, message_id) -> None:
    """_check() for asylink_send()/asylink_publish(): after IO or STORE_FULL
    the library wrote the message id (message_id, a uint8_t[16]); the error
    carries it."""
    if code in (_E_IO, _E_STORE_FULL):
        raise AsylinkError(code, err_name(code), strerror(code), context, bytes(message_id))
    _check(code, context)


def _check(code: int, context: str = "") -> None:
    if code != _OK:
        raise _error(code, context)


def _id_arg(message_id: Union[bytes, str]):
    """A 16-byte id (or its text, as format_id() writes it) as a uint8_t * argument."""
    if isinstance(message_id, str):
        message_id = parse_id(message_id)
    if not isinstance(message_id, (bytes, bytearray)) or len(message_id) != 16:
        raise ValueError("a message id is 16 bytes")
    return (ctypes.c_uint8 * 16).from_buffer_copy(message_id)


def _bytes_at(ptr, n: int) -> bytes:
    return ctypes.string_at(ptr, n) if ptr else b""


def _text(b: Optional[bytes]) -> str:
    return b.decode("utf-8", "replace") if b is not None else ""


class Client:
    """One national node's connection to the broker (asylink_client).

    Client(config_path): asylink_client_open_config() on a node
    configuration file ([node] broker_endpoint, broker_cert, node_cert,
    key_file, trust_dir, data_dir, ...). The library connects in the
    background; opening does not wait for the broker.

    log: None, or a callable(level: str, line: str) that receives the
    library's logfmt lines ("error", "warn", "info", "debug"); it is
    called from the library's threads (the I/O thread, its committer) and
    from the calling thread inside a method that logs. It must not call
    the client's methods: there they raise AsylinkError REENTRANT
    (closing too, and the client stays open) instead of deadlocking;
    hand the work to another thread.
    library: path of libasylink.so (see load()).
    """

    def __init__(self, config_path: Union[str, os.PathLike],
                 log: Optional[Callable[[str, str], None]] = None,
                 library: Optional[str] = None):
        self._lib = load(library)
        self._handle = ctypes.c_void_p()
        self._log_cb = _LOG_FN(self._make_log(log)) if log else _LOG_FN()
        path = os.fsencode(config_path)
        _check(self._lib.asylink_client_open_config(path, self._log_cb, None,
                                                    ctypes.byref(self._handle)),
               f"open {os.fsdecode(path)}")

    @staticmethod
    def _make_log(log):
        def forward(_ctx, level, line):
            try:
                log(LOG_LEVELS.get(level, str(level)), _text(line))
            except Exception:  # never let an exception unwind into C
                pass
        return forward

    # ---- lifetime ----

    def close(self) -> None:
        """Stops the I/O thread and frees the client (idempotent). Messages
        not yet accepted stay in the outbox for the next client on the same
        data directory. Inside the log callback it raises AsylinkError
        REENTRANT and the client stays open."""
        if getattr(self, "_handle", None):
            self._lib.asylink_client_close(ctypes.byref(self._handle))
            if self._handle:  # not closed: called inside the log callback
                raise _error(_E_REENTRANT, "close")
        self._handle = None

    @property
    def closed(self) -> bool:
        return not self._handle

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except AsylinkError:  # collected inside a log callback: the library keeps it
            pass

    def _c(self):
        if not self._handle:
            raise ValueError("the client is closed")
        return self._handle

    # ---- sending ----

    def send(self, recipients: Union[str, Sequence[str]], content_type: str,
             payload: Union[bytes, dict],
             classification: Optional[str] = None, expires_ms: int = 0,
             correlation_id: Optional[bytes] = None) -> bytes:
        """Signs and encrypts payload for the recipients and commits it to the
        durable outbox; returns the 16-byte message id. Acceptance by the
        broker arrives later as an ACCEPTED (or REJECTED) event. Raises
        AsylinkError; one with code IO or STORE_FULL (the outbox commit
        failed: the message may have reached the broker all the same)
        carries the message id in its message_id attribute.

        recipients: a node id or a sequence of them; classification:
        "PUBLIC", "LIMITED" or "PERSONAL" (default: "PERSONAL" for the
        personal-data types asylink.v1.InformationRequest and
        InformationReply, which the library refuses as anything else, as
        `asylink send` does; "LIMITED" for the others); expires_ms: absolute Unix ms
        after which nobody delivers it, 0 = never; correlation_id: the
        16-byte id of the message this answers. payload: bytes as they are,
        or a dict for an asylink payload type (content_type), converted by
        payload_from_json()."""
        if isinstance(recipients, str):
            recipients = [recipients]
        if classification is None:
            classification = "PERSONAL" if content_type in PERSONAL_TYPES else "LIMITED"
        if classification not in CLASSIFICATIONS:
            raise ValueError(f"classification must be one of {', '.join(CLASSIFICATIONS)}")
        payload = _payload_bytes(content_type, payload)
        names = (ctypes.c_char_p * max(len(recipients), 1))(*[r.encode() for r in recipients])
        # corr (like names) must stay alive until asylink_send returns
        corr = _id_arg(correlation_id) if correlation_id is not None else None
        p = _SendParams(struct_size=ctypes.sizeof(_SendParams),
                        recipients=ctypes.cast(names, ctypes.POINTER(ctypes.c_char_p)),
                        n_recipients=len(recipients),
                        content_type=content_type.encode(),
                        classification=CLASSIFICATIONS[classification],
                        expires_ms=expires_ms,
                        correlation_id=ctypes.addressof(corr) if corr is not None else None)
        out = (ctypes.c_uint8 * 16)()
        _check_sent(self._lib.asylink_send(self._c(), ctypes.byref(p), payload, len(payload),
                                           out), "send", out)
        return bytes(out)

    def publish(self, topic: str, content_type: str, payload: Union[bytes, dict],
                classification: str = "PUBLIC", expires_ms: int = 0) -> bytes:
        """Signs payload for a feed topic (e.g. "stats.monthly.DE") and commits
        it to the outbox; returns the 16-byte message id. "PUBLIC" is signed
        only; "LIMITED" is encrypted to the topic's readers, which the library
        asks the broker for and checks against its own trust (needs an open
        session: AsylinkError UNAVAILABLE otherwise). "PERSONAL" is never
        allowed on feeds (AsylinkError CLASSIFICATION). Feed messages get no
        receipts. expires_ms: absolute Unix ms, 0 = the broker's retention.
        payload: bytes, or a dict for an asylink payload type (as send()).
        An AsylinkError IO or STORE_FULL carries the message id (as send())."""
        if classification not in CLASSIFICATIONS:
            raise ValueError(f"classification must be one of {', '.join(CLASSIFICATIONS)}")
        payload = _payload_bytes(content_type, payload)
        p = _PublishParams(struct_size=ctypes.sizeof(_PublishParams), topic=topic.encode(),
                           content_type=content_type.encode(),
                           classification=CLASSIFICATIONS[classification],
                           expires_ms=expires_ms)
        out = (ctypes.c_uint8 * 16)()
        _check_sent(self._lib.asylink_publish(self._c(), ctypes.byref(p), payload, len(payload),
                                              out), "publish", out)
        return bytes(out)

    def subscribe(self, prefix: str, name: str, start: str = "earliest", start_value: int = 0,
                  timeout_ms: int = 10_000) -> None:
        """Opens (or resumes) the durable subscription `name` to every topic
        under the dotted prefix; the cursor lives at the broker, so the same
        name later continues after the last acknowledged message, and the
        client subscribes again by itself after reconnecting. start:
        "new", "earliest", "sequence" or "time" (start_value: the sequence or
        Unix ms); it applies only when the cursor is created. Feed messages
        arrive through recv() (Message.topic names the topic); ack() them.
        Raises AsylinkError POLICY (refused), PREFIX_MISMATCH (the node has a
        subscription of that name with another prefix: it is left as it is;
        use its prefix, another name, or unsubscribe(name, delete_cursor=True)
        first), TIMEOUT, UNAVAILABLE (no session within timeout_ms; still
        sent once connected)."""
        if start not in START_POSITIONS:
            raise ValueError(f"start must be one of {', '.join(START_POSITIONS)}")
        _check(self._lib.asylink_subscribe(self._c(), prefix.encode(), name.encode(),
                                           START_POSITIONS[start], start_value, timeout_ms),
               "subscribe")

    def unsubscribe(self, name: str, delete_cursor: bool = False) -> None:
        """Stops the subscription in this client; delete_cursor also forgets
        its cursor at the broker."""
        _check(self._lib.asylink_unsubscribe(self._c(), name.encode(), int(bool(delete_cursor))),
               "unsubscribe")

    def outbox_pending(self) -> int:
        """Messages in the outbox not yet accepted by the broker."""
        n = ctypes.c_uint64()
        _check(self._lib.asylink_outbox_pending(self._c(), ctypes.byref(n)), "outbox_pending")
        return n.value

    def sent_state(self, message_id: Union[bytes, str]) -> Optional[SentState]:
        """What this node's outbox says of a message it sent (send(),
        send_many(), publish()), read from the data directory: state
        "PENDING" (stored, sent until the broker answers: do not send it
        again), "ACCEPTED" (the broker has it) or "REJECTED" (refused for
        good; code and name say why, e.g. POLICY, or PURGED after purge()).
        None when the outbox holds no message with that id: it was never
        stored (its send failed), or its record is older than the node's
        metadata_retention. After a send that failed, None means nothing
        here sends it; but a copy published while its commit ran may still
        reach the broker, which an ACCEPTED event for that id would tell
        (asylink.h, asylink_sent_state_get)."""
        state, code = ctypes.c_int(0), ctypes.c_int(0)
        rc = self._lib.asylink_sent_state_get(self._c(), _id_arg(message_id),
                                              ctypes.byref(state), ctypes.byref(code))
        if rc == _E_NOT_FOUND:
            return None
        _check(rc, "sent_state")
        return SentState(state=_SENT_STATES.get(state.value, str(state.value)), code=code.value,
                         name=err_name(code.value))

    # ---- receiving ----

    def recv(self, timeout_ms: int = -1) -> Optional[Message]:
        """The next received message not yet acknowledged, or None after
        timeout_ms (0 = poll, -1 = forever). Call ack() when done with it:
        until then it is handed over again after a restart."""
        m = ctypes.c_void_p()
        rc = self._lib.asylink_recv(self._c(), timeout_ms, ctypes.byref(m))
        if rc == _E_TIMEOUT:
            return None
        _check(rc, "recv")
        try:
            return self._message(m)
        finally:
            self._lib.asylink_message_free(ctypes.byref(m))

    def _message(self, m) -> Message:
        lib = self._lib
        n = ctypes.c_size_t()
        ptr = lib.asylink_message_payload(m, ctypes.byref(n))
        corr = lib.asylink_message_correlation_id(m)
        cls = lib.asylink_message_classification(m)
        return Message(
            id=_bytes_at(lib.asylink_message_id(m), 16),
            sender=_text(lib.asylink_message_sender(m)),
            recipients=[_text(lib.asylink_message_recipient(m, i))
                        for i in range(lib.asylink_message_recipient_count(m))],
            content_type=_text(lib.asylink_message_content_type(m)),
            classification=_CLASSIFICATION_NAMES.get(cls, str(cls)),
            created_ms=lib.asylink_message_created_ms(m),
            expires_ms=lib.asylink_message_expires_ms(m),
            correlation_id=_bytes_at(corr, 16) if corr else None,
            payload=_bytes_at(ptr, n.value),
            topic=_text(lib.asylink_message_topic(m)),
            subscription=_text(lib.asylink_message_subscription(m)),
        )

    def ack(self, message: Union[Message, bytes]) -> None:
        """Done with a received message: never handed over again, and its
        sender gets a signed receipt. Acking twice is fine.

        message: the Message recv() returned (acknowledges exactly it: its
        sender, id and subscription), or its 16-byte id alone, which raises
        AsylinkError AMBIGUOUS while the id names several unacknowledged
        messages (two senders used it, or a feed message came through
        several subscriptions)."""
        if isinstance(message, Message):
            self._ack_keys([message], "ack")
        else:
            _check(self._lib.asylink_ack(self._c(), _id_arg(message)), "ack")

    def purge(self, message_id: bytes, sender: Optional[str] = None) -> int:
        """Erases this node's own copies of a message (asylink_purge()): the
        one it sent (never sent if the broker has not accepted it yet) when
        sender is None or this node, and the ones it received from sender
        (any sender if None), never handed over again. Returns how many
        copies' content was erased now (0 when purged before); raises
        AsylinkError NOT_FOUND if the node never had that message."""
        n = ctypes.c_size_t(0)
        _check(self._lib.asylink_purge(self._c(), _id_arg(message_id),
                                       sender.encode() if sender else None, ctypes.byref(n)),
               "purge")
        return n.value

    def _ack_keys(self, messages: Sequence[Message], what: str) -> None:
        keys = (_AckKey * max(len(messages), 1))()
        for k, m in zip(keys, messages):
            k.message_id = (ctypes.c_uint8 * 16).from_buffer_copy(_id_arg(m.id))
            k.sender = m.sender.encode()
            k.subscription = m.subscription.encode()
        _check(self._lib.asylink_ack_keys(self._c(), keys, len(messages)), what)

    def reload_trust(self) -> None:
        """Reloads the trust directory now (the client also does this by
        itself within about 5 s of a change). Raises STALE for a
        revocation list older than the one in use."""
        _check(self._lib.asylink_reload_trust(self._c()), "reload_trust")

    def ack_many(self, messages: Sequence[Union[Message, bytes]]) -> None:
        """Acknowledges up to 1,000 received messages at once, all or none:
        one disk commit and one signed receipt set per sender. Give either
        Messages (exact) or 16-byte ids (each must name one unacknowledged
        message, else AsylinkError AMBIGUOUS), not a mix."""
        items = list(messages)
        if items and all(isinstance(m, Message) for m in items):
            self._ack_keys(items, "ack_many")
            return
        if any(isinstance(m, Message) for m in items):
            raise ValueError("ack_many takes Messages or message ids, not both")
        ids = items
        for mid in ids:
            if not isinstance(mid, (bytes, bytearray)) or len(mid) != 16:
                raise ValueError("a message id is 16 bytes")
        buf = (ctypes.c_uint8 * (16 * max(len(ids), 1))).from_buffer_copy(
            b"".join(bytes(m) for m in ids) or bytes(16))
        _check(self._lib.asylink_ack_many(self._c(), buf, len(ids)), "ack_many")

    # ---- events and receipts ----

    def next_event(self, timeout_ms: int = -1) -> Optional[Event]:
        """The next event, or None after timeout_ms (0 = poll, -1 = forever)."""
        e = ctypes.c_void_p()
        rc = self._lib.asylink_next_event(self._c(), timeout_ms, ctypes.byref(e))
        if rc == _E_TIMEOUT:
            return None
        _check(rc, "next_event")
        lib = self._lib
        try:
            t = lib.asylink_event_get_type(e)
            code = lib.asylink_event_code(e)
            return Event(type=EVENT_TYPES.get(t, str(t)),
                         message_id=_bytes_at(lib.asylink_event_message_id(e), 16),
                         code=code, code_name=err_name(code),
                         reason=_text(lib.asylink_event_reason(e)),
                         node=_text(lib.asylink_event_node(e)),
                         endpoint=_text(lib.asylink_event_endpoint(e)))
        finally:
            lib.asylink_event_free(ctypes.byref(e))

    def receipt_wait(self, message_id: bytes, timeout_ms: int = -1) -> bool:
        """Waits until every recipient of a sent message has sent a receipt
        saying it took the message: True when they all have, False after
        timeout_ms (-1 = forever). Raises AsylinkError NOT_RECIPIENT as soon
        as a recipient's receipt refuses the message (status REJECTED),
        REVOKED when a receipt's signer's certificate is revoked since, and
        NOT_FOUND for an id this client did not send."""
        rc = self._lib.asylink_receipt_wait(self._c(), _id_arg(message_id), timeout_ms)
        if rc == _E_TIMEOUT:
            return False
        _check(rc, "receipt_wait")
        return True

    def receipts(self, message_id: bytes) -> List[Receipt]:
        """The verified receipts held for a sent message."""
        idarg = _id_arg(message_id)
        n = ctypes.c_size_t()
        size = 16
        while True:  # *n is the number held, which may exceed the buffer
            buf = (_ReceiptInfo * size)()
            _check(self._lib.asylink_receipts(self._c(), idarg, buf, size, ctypes.byref(n)),
                   "receipts")
            if n.value <= size:
                break
            size = n.value
        return [Receipt(recipient=_text(r.recipient), acked_ms=r.acked_ms, status=r.status,
                        envelope_digest=bytes(r.envelope_digest),
                        signer_revoked=bool(r.signer_revoked))
                for r in buf[:min(n.value, len(buf))]]

    def receipt_export(self, message_id: bytes, recipient: str) -> bytes:
        """The signed receipt envelope recipient sent for a message this client
        sent, as evidence to keep (bytes; check it later with
        receipt_verify()). Raises AsylinkError NOT_FOUND when there is none."""
        env = ctypes.POINTER(ctypes.c_uint8)()
        n = ctypes.c_size_t()
        _check(self._lib.asylink_receipt_export(self._c(), _id_arg(message_id),
                                                recipient.encode(), ctypes.byref(env),
                                                ctypes.byref(n)), "receipt_export")
        try:
            return _bytes_at(env, n.value)
        finally:
            self._lib.asylink_free(env)  # the library's buffer, the library's allocator

    def receipt_verify(self, evidence: bytes, message_id: Optional[bytes] = None) -> Receipt:
        """Checks evidence from receipt_export() against this client's trust
        and outbox and returns the receipt it holds for message_id (None:
        the first one). Raises AsylinkError (BAD_SIGNATURE, TAMPERED,
        NOT_FOUND, ...) when it does not prove that."""
        evidence = bytes(evidence)
        info = _ReceiptInfo()
        idarg = _id_arg(message_id) if message_id is not None else None
        _check(self._lib.asylink_receipt_verify(self._c(), evidence, len(evidence), idarg,
                                                ctypes.byref(info)), "receipt_verify")
        return Receipt(recipient=_text(info.recipient), acked_ms=info.acked_ms,
                       status=info.status, envelope_digest=bytes(info.envelope_digest))

    def evidence_export(self, message_id: bytes, path: str) -> None:
        """asylink_evidence_export(): writes the evidence bundle of a message
        this node sent to path (a new file, mode 0600, never overwritten):
        envelope, signed receipts with their keys, certificates, CA,
        revocation list and a signed manifest, for `asylink evidence verify`."""
        _check(self._lib.asylink_evidence_export(self._c(), _id_arg(message_id),
                                                  os.fsencode(path)), "evidence_export")

    # ---- integration with event loops ----

    def fileno(self) -> int:
        """asylink_fd(): readable while recv() or next_event() has something
        to return, for select/selectors/asyncio. Owned by the client: do not
        read, write or close it."""
        return self._lib.asylink_fd(self._c())

    def connected(self) -> bool:
        """True while a session with the broker is open."""
        return bool(self._lib.asylink_connected(self._c()))

    @property
    def node_id(self) -> str:
        """This client's own node id, from its certificate (e.g. "DE")."""
        return self._lib.asylink_client_node_id(self._c()).decode()

    def connection(self) -> Connection:
        """Which broker address the client is on (see broker_endpoint with
        several addresses), and since when."""
        k = _Connection()
        _check(self._lib.asylink_connection_get(self._c(), ctypes.byref(k)), "connection")
        return Connection(endpoint=_text(k.endpoint), broker=_text(k.broker),
                          connected=bool(k.connected), since_ms=k.since_ms, index=k.index,
                          n_endpoints=k.n_endpoints, sessions=k.sessions)

    def connect_failure(self) -> ConnectFailure:
        """Why no session with the broker is open: cannot reach it
        (UNAVAILABLE), it refused this node (REFUSED), the CURVE handshake
        failed (PROTOCOL), ...; name "OK" when nothing failed since the last
        session opened."""
        f = _ConnectFailure()
        _check(self._lib.asylink_connect_failure_get(self._c(), ctypes.byref(f)),
               "connect_failure")
        return ConnectFailure(code=f.code, name=err_name(f.code), reason=_text(f.reason),
                              endpoint=_text(f.endpoint), at_ms=f.at_ms, attempts=f.attempts,
                              sessions=f.sessions, connected=bool(f.connected))
