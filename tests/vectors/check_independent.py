#!/usr/bin/env python3
"""check_independent.py — rebuilds the batch, receipt, armor and secret key
file vectors of asylink-v1.json without the C code: a hand-written protobuf
encoder and decoder following PROTOCOL.md 1.1, Python's hashlib.blake2b and
base64, PyNaCl (Debian's python3-nacl) for Ed25519, and libsodium through
ctypes only for Argon2id and secretbox. A second implementation of
PROTOCOL.md sections 4.5, 4.10, 5, 8 and 9 that must agree byte for byte
with the C one (tests/unit/test_vectors.c checks the C side).

For the batches it recomputes every listed envelope's digest, leaf and
path, rebuilds each tree and its root, the signed statement and the
deterministic Ed25519 signature, walks every path; it rebuilds all 1,024
envelopes of batch-1024 from its rule (header, body, proof, signature) and
compares the listed ones byte for byte; and it decodes every refusal
vector with its own checks (canonical form, proof shape, walk, signature)
and expects the listed code.

    tests/vectors/check_independent.py [asylink-v1.json]

Exit status 0 when every vector matches, 1 on a mismatch or when PyNaCl is
missing, 77 (skipped) when libsodium cannot be loaded.
"""
import base64
import ctypes
import ctypes.util
import hashlib
import json
import os
import sys

try:
    from nacl.exceptions import BadSignatureError
    from nacl.signing import SigningKey, VerifyKey
except ImportError:
    # A pyenv or venv interpreter may lack Debian's python3-nacl: use the system one.
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3") and not os.environ.get("ASYLINK_NO_REEXEC"):
        os.environ["ASYLINK_NO_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("check_independent: PyNaCl missing (install python3-nacl, scripts/test.sh install_deps)")
    sys.exit(1)

PATH = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__),
                                                          "asylink-v1.json")


def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])


def field(number, value):
    """One canonical proto3 field: omitted when it is the default (1.1 rule 2)."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value) if value else b""
    return varint(number << 3 | 2) + varint(len(value)) + value if value else b""


def receipt_set(receipts):
    out = b""
    for r in receipts:
        status = {"DELIVERED": 1, "REJECTED": 2}[r["status"]]
        m = (field(1, bytes.fromhex(r["message_id"])) + field(2, bytes.fromhex(r["envelope_digest"])) +
             field(3, r["recipient"].encode()) + field(4, r["sender"].encode()) +
             field(5, r["acked_ms"]) + field(6, status) + field(7, r["reason"].encode()))
        out += varint(1 << 3 | 2) + varint(len(m)) + m  # repeated Receipt receipts = 1
    return out


# ---- batches (PROTOCOL.md 4.5, 4.10) ----

class Malformed(Exception):
    """Bytes that are not a canonical protobuf of the expected message."""


def read_varint(buf, at):
    n = shift = 0
    while True:
        if at >= len(buf) or shift > 63:
            raise Malformed()
        b = buf[at]
        at += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, at


def parse(buf):
    """Fields of one message as [(number, value)]: ints for varints, bytes otherwise."""
    out, at = [], 0
    while at < len(buf):
        key, at = read_varint(buf, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = read_varint(buf, at)
        elif wire == 2:
            n, at = read_varint(buf, at)
            if at + n > len(buf):
                raise Malformed()
            value, at = buf[at:at + n], at + n
        else:
            raise Malformed()
        out.append((number, value))
    return out


def lp(x):
    return len(x).to_bytes(4, "big") + x


def b2b(data, size):
    return hashlib.blake2b(data, digest_size=size).digest()


def u32(n):
    return n.to_bytes(4, "big")


def leaf(salt, index, digest):
    return b2b(b"asylink.batch-leaf.v1" + salt + u32(index) + digest, 32)


def node(salt, left, right):
    return b2b(b"asylink.batch-node.v1" + salt + left + right, 32)


def statement(salt, size, root):
    return b2b(b"asylink.batch.v1" + lp(salt) + u32(size) + root, 64)


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def tree(salt, leaves):
    """RFC 9162 root of leaves, and each leaf's audit path (bottom-up)."""
    if len(leaves) == 1:
        return leaves[0], [[]]
    k = split(len(leaves))
    left, lpaths = tree(salt, leaves[:k])
    right, rpaths = tree(salt, leaves[k:])
    return node(salt, left, right), [p + [right] for p in lpaths] + [p + [left] for p in rpaths]


def directions(size, index):
    """Top-down: True where the sibling is on the right."""
    out = []
    while size > 1:
        k = split(size)
        out.append(index < k)
        if index < k:
            size = k
        else:
            index, size = index - k, size - k
    return out


def envelope_digest(fields):
    h = hashlib.blake2b(digest_size=64)
    h.update(b"asylink.envelope.v1")
    get = lambda n: next((v for f, v in fields if f == n), b"")
    h.update(lp(get(1)) + lp(get(2)))
    for f, v in fields:
        if f == 3:
            kw = dict(parse(v))
            h.update(lp(kw.get(1, b"")) + lp(kw.get(2, b"")))
    return h.digest()


def encode_envelope(fields):
    """The canonical encoding of decoded Envelope fields (1.1)."""
    out = b""
    for number in (1, 2, 3, 4, 5):
        for f, v in fields:
            if f != number:
                continue
            if number == 3:
                kw = parse(v)
                v = b"".join(field(n, x) for n, x in sorted(kw, key=lambda t: t[0]))
                out += varint(3 << 3 | 2) + varint(len(v)) + v
            elif number == 5:
                out += varint(5 << 3 | 2) + varint(len(v)) + v
            else:
                out += field(number, v)
    return out


def encode_proof(salt, size, index, path):
    return (field(1, salt) + field(2, size) + field(3, index) +
            b"".join(varint(4 << 3 | 2) + varint(len(p)) + p for p in path))


def check_envelope(data, sign_pk):
    """Decodes and verifies one envelope as PROTOCOL.md 4.7 and 4.10 say; returns the code name."""
    try:
        fields = parse(data)
        if encode_envelope(fields) != data:
            return "MALFORMED"
        proof_bytes = next((v for f, v in fields if f == 5), None)
        proof = None
        if proof_bytes is not None:
            pf = parse(proof_bytes)
            salt = next((v for f, v in pf if f == 1), b"")
            size = next((v for f, v in pf if f == 2), 0)
            index = next((v for f, v in pf if f == 3), 0)
            path = [v for f, v in pf if f == 4]
            if encode_proof(salt, size, index, path) != proof_bytes or \
                    any(f not in (1, 2, 3, 4) for f, _ in pf):
                return "MALFORMED"
            proof = (salt, size, index, path)
    except Malformed:
        return "MALFORMED"
    signature = next((v for f, v in fields if f == 4), b"")
    digest = envelope_digest(fields)
    signed = digest
    if proof:
        salt, size, index, path = proof
        if len(salt) != 32:
            return "BATCH_SALT"
        if size == 1:
            return "BATCH_SINGLE"
        if size == 0 or size > 1024:
            return "BATCH_SIZE"
        if index >= size:
            return "BATCH_INDEX"
        dirs = directions(size, index)
        if len(path) != len(dirs) or any(len(p) != 32 for p in path):
            return "BATCH_PATH"
        h = leaf(salt, index, digest)
        for j, sibling in enumerate(path):
            if sibling == h:
                return "BATCH_DUPLICATE"
            h = node(salt, h, sibling) if dirs[len(dirs) - 1 - j] else node(salt, sibling, h)
        signed = statement(salt, size, h)
    try:
        VerifyKey(sign_pk).verify(signed, signature)
    except BadSignatureError:
        return "BAD_SIGNATURE"
    return "OK"


def uuid_v7(ms, r):
    return (ms.to_bytes(6, "big") + bytes([0x70 | (r[0] & 0x0F), r[1], 0x80 | (r[2] & 0x3F)]) +
            r[3:10])


def rule_envelopes(b, serial):
    """The unsigned parts of every message of a rule batch (batch-1024): (header, body) pairs."""
    rule, out = b["rule"], []
    for i in range(rule["count"]):
        payload = b"batch message %d" % i
        r = b2b(("%s/%d/uuid_random" % (b["name"], i)).encode(), 10)
        cls = {"PUBLIC": 1, "LIMITED": 2, "PERSONAL": 3}[rule["classification"]]
        header = (field(1, 1) + field(2, uuid_v7(1795000000000, r)) + field(3, b["sender"].encode()) +
                  field(5, rule["topic"].encode()) + field(6, rule["content_type"].encode()) +
                  field(7, cls) + field(8, 1795000000000) + field(12, len(payload)) +
                  field(14, serial))
        out.append((header, payload))
    return out


def check_batches(j, expect):
    keys = {k["node_id"]: k for k in j["keys"]}
    serials = {c["node_id"]: c["serial"] for c in j["certificates"]}
    for b in j["batches"]:
        name, n = b["name"], b["size"]
        seed = bytes.fromhex(keys[b["sender"]]["sign_seed"])
        sign_pk = bytes.fromhex(keys[b["sender"]]["sign_pk"])
        salt = bytes.fromhex(b["salt"])
        listed = {m["index"]: m for m in b["messages"]}
        if "rule" in b:
            parts = rule_envelopes(b, serials[b["sender"]])
            envs = {}
            digests = []
            for header, body in parts:
                digests.append(b2b(b"asylink.envelope.v1" + lp(header) + lp(body), 64))
        else:
            envs = {i: bytes.fromhex(m["envelope"]) for i, m in listed.items()}
            expect(name + " lists every message", sorted(envs), list(range(n)))
            digests = [envelope_digest(parse(envs[i])) for i in range(n)]
        for i, m in listed.items():
            expect("%s/%d digest" % (name, i), digests[i].hex(), m["digest"])
        if n == 1:
            signed = digests[0]
            expect(name + " root", b["root"], "")
        else:
            root, paths = tree(salt, [leaf(salt, i, d) for i, d in enumerate(digests)])
            expect(name + " root", root.hex(), b["root"])
            signed = statement(salt, n, root)
        expect(name + " statement", signed.hex(), b["statement"])
        sig = SigningKey(seed).sign(signed).signature
        expect(name + " signature", sig.hex(), b["signature"])
        for i, m in listed.items():
            if n > 1:
                expect("%s/%d leaf" % (name, i), leaf(salt, i, digests[i]).hex(), m["leaf"])
                expect("%s/%d path" % (name, i), [p.hex() for p in paths[i]], m["path"])
            if "rule" in b:
                header, body = parts[i]
                envs[i] = field(1, header) + field(2, body) + field(4, sig)
                if n > 1:
                    proof = encode_proof(salt, n, i, paths[i])
                    envs[i] += varint(5 << 3 | 2) + varint(len(proof)) + proof
                expect("%s/%d envelope" % (name, i), envs[i].hex(), m["envelope"])
            expect("%s/%d verifies" % (name, i), check_envelope(envs[i], sign_pk), "OK")
    for r in j["batch_refusals"]:
        sender = next(b["sender"] for b in j["batches"] if b["name"] == r["batch"])
        got = check_envelope(bytes.fromhex(r["envelope"]), bytes.fromhex(keys[sender]["sign_pk"]))
        expect("refusal " + r["name"], got, r["result"])
    return len(j["batches"]) + len(j["batch_refusals"])


def armor(label, comments, data):
    text = "".join("# %s\n" % c for c in comments) + "-----BEGIN ASYLINK %s-----\n" % label
    b64 = base64.b64encode(data).decode()
    text += "".join(b64[i:i + 64] + "\n" for i in range(0, len(b64), 64))
    return text + "-----END ASYLINK %s-----\n" % label


def main():
    name = ctypes.util.find_library("sodium")
    try:
        na = ctypes.CDLL(name or "libsodium.so")
    except OSError:
        print("check_independent: libsodium not found, skipped")
        return 77
    if na.sodium_init() < 0:
        return 1
    with open(PATH, encoding="utf-8") as f:
        j = json.load(f)
    bad = []

    def expect(what, got, want):
        if got != want:
            bad.append(what)

    n_batch = check_batches(j, expect)
    envelopes = {e["name"]: e for e in j["envelopes"]}
    for v in j["receipts"]:
        expect(v["name"] + " receipt_set", receipt_set(v["receipts"]).hex(), v["receipt_set"])
        expect(v["name"] + " payload", v["envelope"]["payload"], v["receipt_set"])
        corr = v["receipts"][0]["message_id"] if len(v["receipts"]) == 1 else ""
        expect(v["name"] + " correlation_id", v["envelope"]["correlation_id"], corr)
        for r in v["receipts"]:
            if r["acknowledges"]:
                e = envelopes[r["acknowledges"]]
                expect(v["name"] + " quotes " + e["name"], (r["message_id"], r["envelope_digest"]),
                       (e["message_id"], e["digest"]))
    for v in j["armor"]:
        expect(v["name"], armor(v["label"], v["comments"], bytes.fromhex(v["data"])), v["text"])
    keys = {k["node_id"]: k for k in j["keys"]}
    for v in j["secret_keys"]:
        node = keys[v["node_id"]]
        secret = bytes.fromhex(node["sign_seed"]) + bytes.fromhex(node["box_seed"])
        if v["passphrase"] is None:
            blob = b"ASYLKEY1" + bytes(52) + secret
            expect(v["name"] + " kdf_key", v["kdf_key"], "")
        else:
            salt, nonce = bytes.fromhex(v["salt"]), bytes.fromhex(v["nonce"])
            pw = v["passphrase"].encode("utf-8")
            key = ctypes.create_string_buffer(32)
            rc = na.crypto_pwhash(key, ctypes.c_ulonglong(32), pw, ctypes.c_ulonglong(len(pw)), salt,
                                  ctypes.c_ulonglong(v["opslimit"]),
                                  ctypes.c_size_t(v["memlimit_kib"] * 1024),
                                  ctypes.c_int(2))  # crypto_pwhash_ALG_ARGON2ID13
            expect(v["name"] + " crypto_pwhash", rc, 0)
            expect(v["name"] + " kdf_key", key.raw.hex(), v["kdf_key"])
            box = ctypes.create_string_buffer(80)
            na.crypto_secretbox_easy(box, secret, ctypes.c_ulonglong(64), nonce, key)
            blob = (b"ASYLKEY1" + bytes([1, 0, 0, 0]) + v["opslimit"].to_bytes(4, "big") +
                    v["memlimit_kib"].to_bytes(4, "big") + salt + nonce + box.raw)
        expect(v["name"] + " blob", blob.hex(), v["blob"])
        expect(v["name"] + " file", armor("SECRET KEY", v["comments"], blob), v["file"])
    for what in bad:
        print("check_independent: mismatch in " + what)
    n = len(j["receipts"]) + len(j["armor"]) + len(j["secret_keys"])
    if not bad:
        print("check_independent: %d batch and refusal, %d receipt, armor and key file vectors "
              "match" % (n_batch, n))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
