#!/usr/bin/env python3
"""An independent checker of asylink evidence bundles (docs/PROTOCOL.md 14).

Written from the format's description alone, with the standard library and
PyNaCl, sharing no code with asylink, so that a test can show the format is
documented well enough to check a bundle without asylink:

    evidence_check.py BUNDLE.zip CA.cert [REVOKED.crl]

Prints "VALID: ..." and exits 0 when every check holds, else prints
"INVALID: <member>: <what is wrong>" and exits 1 (2 for bad arguments).
"""
import base64
import hashlib
import json
import sys
import zipfile

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import VerifyKey


class Invalid(Exception):
    def __init__(self, member, text):
        super().__init__(f"{member}: {text}")


# ---- protobuf wire format (proto3, only what asylink uses) ----

def varint(buf, i):
    value, shift = 0, 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def fields(buf):
    """{field number: [values]}: ints for varints, bytes for length-delimited."""
    out, i = {}, 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field")
            value, i = bytes(buf[i:i + n]), i + n
        else:
            raise ValueError(f"wire type {wire} is not used by asylink")
        out.setdefault(number, []).append(value)
    return out


def one(f, n, default):
    return f.get(n, [default])[-1]


def text(f, n):
    return one(f, n, b"").decode("utf-8")


# ---- signatures and structures ----

def lp(b):
    return len(b).to_bytes(4, "big") + b


def digest(domain, *parts):
    h = hashlib.blake2b(digest_size=64)
    h.update(domain.encode())
    for p in parts:
        h.update(lp(p))
    return h.digest()


# ---- batch proofs (PROTOCOL.md 4.10) ----

def b2b(data, size):
    return hashlib.blake2b(data, digest_size=size).digest()


def split(n):
    """RFC 9162: the largest power of two below n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def signed_statement(env, member):
    """What the signature covers: the digest, or the batch root statement."""
    proof = env["batch"]
    if proof is None:
        return env["digest"]
    p = fields(proof)
    salt, size, index = one(p, 1, b""), one(p, 2, 0), one(p, 3, 0)
    path = p.get(4, [])
    if len(salt) != 32 or not 2 <= size <= 1024 or index >= size:
        raise Invalid(member, "malformed batch proof")
    sides, n, i = [], size, index  # top-down: True where the sibling is on the right
    while n > 1:
        k = split(n)
        sides.append(i < k)
        n, i = (k, i) if i < k else (n - k, i - k)
    if len(path) != len(sides) or any(len(x) != 32 for x in path):
        raise Invalid(member, "batch proof path of the wrong length")
    h = b2b(b"asylink.batch-leaf.v1" + salt + index.to_bytes(4, "big") + env["digest"], 32)
    for sibling, right in zip(path, reversed(sides)):
        pair = h + sibling if right else sibling + h
        h = b2b(b"asylink.batch-node.v1" + salt + pair, 32)
    return b2b(b"asylink.batch.v1" + lp(salt) + size.to_bytes(4, "big") + h, 64)


def ed25519_ok(pk, message, signature):
    try:
        VerifyKey(pk).verify(message, signature)
        return True
    except (BadSignatureError, ValueError):
        return False


def unarmor(data, label):
    lines = data.decode("utf-8").split("\n")
    begin, end = f"-----BEGIN ASYLINK {label}-----", f"-----END ASYLINK {label}-----"
    stripped = [line.rstrip() for line in lines]
    start, stop = stripped.index(begin), stripped.index(end)
    return base64.b64decode("".join(stripped[start + 1:stop]), validate=True)


def certificate(raw):
    outer = fields(raw)
    body, sig = one(outer, 1, b""), one(outer, 2, b"")
    b = fields(body)
    return {"body": body, "signature": sig, "serial": one(b, 2, 0), "node": text(b, 3),
            "sign_pk": one(b, 6, b""), "not_before": one(b, 8, 0), "not_after": one(b, 9, 0),
            "issuer": text(b, 10), "issuer_pk": one(b, 11, b"")}


def issued_by(c, ca):
    return (c["issuer"] == ca["node"] and c["issuer_pk"] == ca["sign_pk"] and
            ed25519_ok(ca["sign_pk"], digest("asylink.certificate.v1", c["body"]), c["signature"]))


def revocations(raw, ca):
    outer = fields(raw)
    body, sig = one(outer, 1, b""), one(outer, 2, b"")
    if not ed25519_ok(ca["sign_pk"], digest("asylink.revocation-list.v1", body), sig):
        raise Invalid("revoked.crl", "not signed by the CA")
    return {one(fields(e), 1, 0) for e in fields(body).get(5, [])}


def envelope(raw):
    f = fields(raw)
    header, body = one(f, 1, b""), one(f, 2, b"")
    keys = [fields(k) for k in f.get(3, [])]
    h = fields(header)
    d = digest("asylink.envelope.v1", header, body,
               *[p for k in keys for p in (one(k, 1, b""), one(k, 2, b""))])
    return {"header": header, "body": body, "signature": one(f, 4, b""), "digest": d,
            "batch": one(f, 5, None),
            "id": one(h, 2, b""), "sender": text(h, 3),
            "recipients": [r.decode() for r in h.get(4, [])], "content_type": text(h, 6),
            "classification": one(h, 7, 0), "created": one(h, 8, 0),
            "encryption": one(h, 11, 0), "serial": one(h, 14, 0),
            "commitment": one(h, 15, b"")}


def uuid(b):
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


# ---- the bundle ----

def signer(certs, node, serial, at, revoked, ca, member):
    c = certs.get((node, serial))
    if c is None:
        raise Invalid(member, f"no certificate of {node} serial {serial}")
    if not (c["not_before"] <= at < c["not_after"] and ca["not_before"] <= at < ca["not_after"]):
        raise Invalid(member, f"certificate of {node} serial {serial} not valid then")
    if serial in revoked:
        raise Invalid(member, f"certificate of {node} serial {serial} is revoked")
    return c


def check(path, ca_path, crl_path):
    ca = certificate(unarmor(open(ca_path, "rb").read(), "CERTIFICATE"))
    revoked = revocations(unarmor(open(crl_path, "rb").read(), "REVOCATION LIST"), ca) \
        if crl_path else set()
    z = zipfile.ZipFile(path)
    names = z.namelist()
    if len(names) != len(set(names)):
        raise Invalid("bundle", "a member name appears twice")
    files = {n: z.read(n) for n in names}  # zipfile checks every CRC-32
    manifest_bytes = files.pop("manifest.json")
    signature = files.pop("manifest.sig")
    m = json.loads(manifest_bytes)
    if m["format"] != "asylink-evidence-1":
        raise Invalid("manifest.json", "unknown format")
    listed = {e["name"]: e for e in m["members"]}
    for name in set(files) - set(listed):
        raise Invalid(name, "not listed in the manifest")
    for name, e in listed.items():
        if name not in files:
            raise Invalid(name, "listed but missing")
        if len(files[name]) != e["size"] or hashlib.sha256(files[name]).hexdigest() != e["sha256"]:
            raise Invalid(name, "SHA-256 differs from the manifest")
    if unarmor(files["certs/ca.cert"], "CERTIFICATE") != unarmor(open(ca_path, "rb").read(),
                                                                  "CERTIFICATE"):
        bundle_ca = certificate(unarmor(files["certs/ca.cert"], "CERTIFICATE"))
        if (bundle_ca["node"], bundle_ca["sign_pk"]) != (ca["node"], ca["sign_pk"]):
            raise Invalid("certs/ca.cert", "not the trusted CA")
    if "revoked.crl" in files:
        revoked |= revocations(unarmor(files["revoked.crl"], "REVOCATION LIST"), ca)
    certs = {}
    for name, e in listed.items():
        if e["type"] == "certificate":
            c = certificate(unarmor(files[name], "CERTIFICATE"))
            if (c["node"], c["serial"]) != (e["node"], e["serial"]) or not issued_by(c, ca):
                raise Invalid(name, "not a certificate issued by the CA")
            certs[(c["node"], c["serial"])] = c

    if m["exported_by"] != m["sender"]:
        raise Invalid("manifest.json", "not exported by the sender")
    exporter = signer(certs, m["exported_by"], m["exporter_serial"], m["exported_ms"], revoked,
                      ca, "manifest.sig")
    if not ed25519_ok(exporter["sign_pk"],
                      digest("asylink.evidence-manifest.v1", manifest_bytes), signature):
        raise Invalid("manifest.sig", "the manifest's signature does not verify")

    env = envelope(files["message/envelope.bin"])
    c = signer(certs, env["sender"], env["serial"], env["created"], revoked, ca,
               "message/envelope.bin")
    if not ed25519_ok(c["sign_pk"], signed_statement(env, "message/envelope.bin"), env["signature"]):
        raise Invalid("message/envelope.bin", "the sender's signature does not verify")
    claims = {"message_id": uuid(env["id"]), "sender": env["sender"],
              "recipients": env["recipients"], "content_type": env["content_type"],
              "classification": ["", "PUBLIC", "LIMITED", "PERSONAL"][env["classification"]],
              "created_ms": env["created"], "envelope_digest": env["digest"].hex()}
    for key, value in claims.items():
        if m[key] != value:
            raise Invalid("manifest.json", f"{key} differs from the signed envelope")
    if not env["recipients"]:
        raise Invalid("message/envelope.bin", "a feed message has no receipts")

    acked = {}
    for node in env["recipients"]:
        name = f"receipts/{node}.bin"
        if name not in files:
            raise Invalid("bundle", f"no receipt from {node}")
        r = envelope(files[name])
        if r["sender"] != node or r["recipients"] != [env["sender"]] or \
                r["content_type"] != "asylink.v1.ReceiptSet":
            raise Invalid(name, "not a receipt from that recipient to the sender")
        rc = signer(certs, node, r["serial"], r["created"], revoked, ca, name)
        if not ed25519_ok(rc["sign_pk"], signed_statement(r, name), r["signature"]):
            raise Invalid(name, "the recipient's signature does not verify")
        if r["encryption"] == 0:  # PROTOCOL.md 5: a receipt travels encrypted to the sender
            raise Invalid(name, "signed only, not encrypted to the sender: not a receipt")
        key = files[f"receipts/{node}.key"]
        commitment = hashlib.blake2b(b"asylink.key-commitment.v1" + key, digest_size=32).digest()
        if commitment != r["commitment"]:
            raise Invalid(f"receipts/{node}.key", "not the key the receipt commits to")
        try:
            plain = crypto_aead_xchacha20poly1305_ietf_decrypt(r["body"][24:], r["header"],
                                                               r["body"][:24], key)
        except CryptoError:
            raise Invalid(name, "does not decrypt with its key") from None
        entries = [fields(x) for x in fields(plain).get(1, [])]
        mine = [x for x in entries if one(x, 1, b"") == env["id"]]
        if len(mine) != 1:
            raise Invalid(name, "does not name the message")
        x = mine[0]
        if (text(x, 3), text(x, 4)) != (node, env["sender"]) or one(x, 2, b"") != env["digest"]:
            raise Invalid(name, "does not quote exactly this envelope")
        if one(x, 6, 0) != 1:
            raise Invalid(name, "status is not delivered")
        acked[node] = one(x, 5, 0)
    for name, e in listed.items():
        if e["type"] in ("receipt", "receipt_key") and e["node"] not in env["recipients"]:
            raise Invalid(name, "a receipt from a node that is not a recipient")
    return env, acked


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    try:
        env, acked = check(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else None)
    except Invalid as e:
        print(f"INVALID: {e}")
        return 1
    except (KeyError, ValueError, IndexError, TypeError, zipfile.BadZipFile) as e:
        print(f"INVALID: bundle: malformed ({type(e).__name__}: {e})")
        return 1
    who = ", ".join(f"{n} acknowledged at {ms}" for n, ms in acked.items())
    print(f"VALID: {env['sender']} sent {uuid(env['id'])} at {env['created']}; {who}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
