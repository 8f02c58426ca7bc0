#!/usr/bin/env python3
"""check_independent.py — rebuilds the receipt, armor and secret key file
vectors of asylink-v1.json without the C code: a hand-written protobuf
encoder following PROTOCOL.md 1.1, Python's base64, and libsodium through
ctypes only for Argon2id and secretbox. A second implementation of
PROTOCOL.md sections 5, 8 and 9 that must agree byte for byte with the C
one (tests/unit/test_vectors.c checks the C side).

    tests/vectors/check_independent.py [asylink-v1.json]

Exit status 0 when every vector matches, 1 on a mismatch, 77 (skipped)
when libsodium cannot be loaded.
"""
import base64
import ctypes
import ctypes.util
import json
import os
import sys

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
        print("check_independent: %d receipt, armor and key file vectors match" % n)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
