"""Tests of the Python binding against a real broker (plain unittest).

Environment:
  ASYLINK_LIBRARY   path of libasylink.so
  ASYLINK_TEST_DIR  a directory with DE.ini and FR.ini: node configurations
                    of two member states that may exchange messages through
                    a running broker (tests/integration/30-python-binding.sh
                    makes all of this)

Without ASYLINK_TEST_DIR only the tests that need no broker run.

    ASYLINK_LIBRARY=build/client/libasylink.so ASYLINK_TEST_DIR=/tmp/nodes \\
        python3 -m unittest -v test_asylink
"""

import json
import os
import select
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import unittest
import zipfile

import asylink

TEST_DIR = os.environ.get("ASYLINK_TEST_DIR")
WAIT_MS = 20_000  # every wait is bounded


def node_config(node):
    return os.path.join(TEST_DIR, f"{node}.ini")


class LibraryTest(unittest.TestCase):
    """What needs no broker."""

    def test_version(self):
        self.assertRegex(asylink.version(), r"^0\.\d+\.\d+$")

    def test_error_names(self):
        self.assertEqual(asylink.err_name(0), "OK")
        self.assertEqual(asylink.err_name(51), "UNKNOWN_RECIPIENT")
        self.assertEqual(asylink.err_name(70), "REENTRANT")
        self.assertEqual(asylink.err_name(9999), "UNKNOWN")
        self.assertTrue(asylink.strerror(8))

    def test_open_missing_config(self):
        with self.assertRaises(asylink.AsylinkError) as cm:
            asylink.Client("/nonexistent/asylink-node.ini")
        self.assertEqual(cm.exception.name, "CONFIG")
        self.assertEqual(cm.exception.code, 7)
        self.assertIn("CONFIG", str(cm.exception))


class IdsAndJsonTest(unittest.TestCase):
    """Ids as text and payloads as JSON: the library's own converters, no broker."""

    ID = bytes.fromhex("0190a3f27c1e7b3a9f002c5d8e4b1a77")
    STATS = {"reportingCountry": "DE", "period": {"year": 2026, "month": 10},
             "rows": [{"citizenship": "SY", "applications_total": 5120,
                       "decisions": {"refugee_status": 1200, "total": 4000}}],
             "compiled_ms": "1793491200000"}

    def test_format_and_parse_id(self):
        self.assertEqual(asylink.format_id(self.ID), "0190a3f2-7c1e-7b3a-9f00-2c5d8e4b1a77")
        self.assertEqual(asylink.parse_id("0190a3f2-7c1e-7b3a-9f00-2c5d8e4b1a77"), self.ID)
        self.assertEqual(asylink.parse_id("0190A3F27C1E7B3A9F002C5D8E4B1A77"), self.ID)
        for bad in ("", "0190a3f2-7c1e-7b3a-9f00-2c5d8e4b1a7", " " + asylink.format_id(self.ID),
                    "0190a3f27-c1e-7b3a-9f00-2c5d8e4b1a77"):
            with self.assertRaises(ValueError):
                asylink.parse_id(bad)
        # The standard library's UUID text is the same form.
        import uuid
        self.assertEqual(asylink.format_id(self.ID), str(uuid.UUID(bytes=self.ID)))

    def test_payload_types(self):
        types = asylink.payload_types()
        self.assertIn("asylink.v1.InformationRequest", types)
        self.assertIn("asylink.v1.MonthlyStatistics", types)
        self.assertNotIn("asylink.v1.AdminResponse", types)

    def test_payload_round_trip(self):
        pb = asylink.payload_from_json("asylink.v1.MonthlyStatistics", self.STATS)
        self.assertIsInstance(pb, bytes)
        text = asylink.payload_to_json("asylink.v1.MonthlyStatistics", pb)
        self.assertNotIn("\n", text)
        d = json.loads(text)
        self.assertEqual(d["reporting_country"], "DE")          # proto names on output
        self.assertEqual(d["rows"][0]["decisions"]["total"], 4000)
        self.assertEqual(d["compiled_ms"], 1793491200000)       # 64-bit as a number
        self.assertEqual(d["rows"][0]["first_time_applicants"], 0)  # defaults listed
        pretty = asylink.payload_to_json("asylink.v1.MonthlyStatistics", pb, pretty=True)
        self.assertIn('\n  "reporting_country": "DE"', pretty)
        self.assertEqual(json.loads(pretty), d)
        self.assertEqual(asylink.payload_from_json("asylink.v1.MonthlyStatistics", text), pb)

    def test_payload_errors_name_the_field(self):
        bad = {"rows": [{}, {"decisions": {"total": "many"}}]}
        with self.assertRaises(asylink.AsylinkError) as cm:
            asylink.payload_from_json("asylink.v1.MonthlyStatistics", bad)
        self.assertEqual(cm.exception.name, "BAD_FIELD")
        self.assertIn("rows[1].decisions.total", str(cm.exception))
        with self.assertRaises(asylink.AsylinkError) as cm:
            asylink.payload_to_json("text/plain", b"hello")
        self.assertEqual(cm.exception.name, "NOT_FOUND")
        with self.assertRaises(asylink.AsylinkError) as cm:
            asylink.payload_to_json("asylink.v1.MonthlyStatistics", b"\xff" * 10)
        self.assertEqual(cm.exception.name, "MALFORMED")


@unittest.skipUnless(os.environ.get("ASYLINK_LIBRARY"), "needs ASYLINK_LIBRARY to copy")
class FindLibraryTest(unittest.TestCase):
    """An installed tree needs no environment variable: the module finds the
    libasylink.so.0 of its own installation, wherever the tree was unpacked."""

    def run_python(self, sys_path, code):
        env = {k: v for k, v in os.environ.items()
               if k not in ("ASYLINK_LIBRARY", "LD_LIBRARY_PATH", "PYTHONPATH")}
        return subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {sys_path!r}); {code}"],
                              env=env, capture_output=True, text=True, timeout=60)

    def test_module_finds_the_library_of_its_installation(self):
        with tempfile.TemporaryDirectory() as root:
            multiarch = sysconfig.get_config_var("MULTIARCH") or ""
            libdir = os.path.join(root, "usr", "lib", multiarch)
            site = os.path.join(root, "usr", "lib", "python3", "dist-packages")
            os.makedirs(libdir)
            os.makedirs(site)
            shutil.copy(os.environ["ASYLINK_LIBRARY"], os.path.join(libdir, "libasylink.so.0"))
            shutil.copy(asylink.__file__, site)
            r = self.run_python(site, "import asylink; print(asylink.library_path()); "
                                      "print(asylink.version())")
            self.assertEqual(r.returncode, 0, r.stderr)
            path, version = r.stdout.split()
            self.assertEqual(path, os.path.realpath(os.path.join(libdir, "libasylink.so.0")))
            self.assertEqual(version, asylink.version())

    def test_explicit_library_wins(self):
        self.assertEqual(asylink.library_path(),
                         os.path.realpath(os.environ["ASYLINK_LIBRARY"]))

    def test_missing_library_says_what_to_do(self):
        with tempfile.TemporaryDirectory() as empty:
            shutil.copy(asylink.__file__, empty)
            r = self.run_python(empty, "import asylink; asylink.load()")
            if r.returncode == 0:
                self.skipTest("a libasylink.so.0 is installed on this system")
            self.assertIn("libasylink not found", r.stderr)
            # what to do in a venv with the library under another prefix
            self.assertIn("set ASYLINK_LIBRARY to its file", r.stderr)


@unittest.skipUnless(TEST_DIR, "ASYLINK_TEST_DIR is not set (needs a broker)")
def offline_config(name, trust_dir=None):
    """DE's configuration with its own data directory (TEST_DIR/node-DE-name),
    trust_dir if given, and a broker address where nothing listens:
    (config path, port)."""
    import socket

    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(node_config("DE")) as f:
        text = f.read()
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "broker_endpoint":
            line = f"broker_endpoint = tcp://127.0.0.1:{port}"
        elif key == "data_dir":
            line = "data_dir = " + os.path.join(TEST_DIR, f"node-DE-{name}")
        elif key == "trust_dir" and trust_dir:
            line = f"trust_dir = {trust_dir}"
        lines.append(line)
    path = os.path.join(TEST_DIR, f"DE-{name}.ini")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, port


class UnreachableTest(unittest.TestCase):
    """A broker address where nothing listens: the client says so."""

    def test_cannot_reach(self):
        path, port = offline_config("unreachable")
        c = asylink.Client(path)
        try:
            deadline = time.monotonic() + WAIT_MS / 1000
            f = c.connect_failure()
            while f.name == "OK" and time.monotonic() < deadline:
                time.sleep(0.05)
                f = c.connect_failure()
            self.assertEqual(f.name, "UNAVAILABLE")
            self.assertIn(f"cannot reach broker at tcp://127.0.0.1:{port}", f.reason)
            self.assertEqual(f.endpoint, f"tcp://127.0.0.1:{port}")
            self.assertEqual((f.sessions, f.connected), (0, False))
            self.assertGreater(f.at_ms, 0)
        finally:
            c.close()


@unittest.skipUnless(TEST_DIR, "ASYLINK_TEST_DIR is not set (needs the node configurations)")
class FailedCommitTest(unittest.TestCase):
    """A send() or publish() whose outbox commit fails raises, and the error
    carries the message id the library wrote (DESIGN-CHANGES 59, 64). The
    commit is made to fail as a full disk would: a file size limit
    (RLIMIT_FSIZE) at the store's current size, with SIGXFSZ ignored, makes
    LMDB's write of new pages fail with EFBIG (STORE_FULL)."""

    def setUp(self):
        path, _ = offline_config("full")
        self.path = path
        self.data = os.path.join(TEST_DIR, "node-DE-full", "data.mdb")
        self.c = asylink.Client(path)
        self.first = self.c.send("FR", "application/octet-stream", b"fits")

    def tearDown(self):
        self.c.close()

    def failing(self, call):
        """The AsylinkError of call() made under the size limit."""
        import resource
        import signal

        old_sig = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        old_lim = resource.getrlimit(resource.RLIMIT_FSIZE)
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(self.data), old_lim[1]))
            with self.assertRaises(asylink.AsylinkError) as cm:
                call()
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, old_lim)
            signal.signal(signal.SIGXFSZ, old_sig)
        return cm.exception

    def check_id(self, err):
        self.assertIn(err.name, ("STORE_FULL", "IO"))
        self.assertIsInstance(err.message_id, bytes)
        self.assertEqual(len(err.message_id), 16)
        self.assertNotIn(err.message_id, (bytes(16), self.first))
        self.assertEqual(asylink.parse_id(asylink.format_id(err.message_id)), err.message_id)

    def test_send_error_carries_the_message_id(self):
        big = os.urandom(512 * 1024)  # new pages at the end of data.mdb
        err = self.failing(lambda: self.c.send("FR", "application/octet-stream", big))
        self.check_id(err)
        # never stored (and, with no session, never published): nothing here sends it
        self.assertIsNone(self.c.sent_state(err.message_id))
        again = self.c.send("FR", "application/octet-stream", b"fits again")
        self.assertNotEqual(again, err.message_id)  # the store works again
        self.assertEqual(self.c.sent_state(again), ("PENDING", 0, "OK"))

    def test_sent_state_offline(self):
        """With no broker: PENDING; purged before any broker accepted it,
        REJECTED with PURGED; the same after a reopen (the data directory's)."""
        self.assertEqual(self.c.sent_state(self.first), ("PENDING", 0, "OK"))
        self.assertEqual(self.c.sent_state(asylink.format_id(self.first)).state, "PENDING")
        self.assertEqual(self.c.purge(self.first), 1)
        purged = self.c.sent_state(self.first)
        self.assertEqual((purged.state, purged.name), ("REJECTED", "PURGED"))
        self.c.close()
        self.c = asylink.Client(self.path)
        self.assertEqual(self.c.sent_state(self.first), purged)
        self.assertIsNone(self.c.sent_state(bytes(16)))
        with self.assertRaises(ValueError):
            self.c.sent_state(b"short")

    def test_publish_error_carries_the_message_id(self):
        big = os.urandom(512 * 1024)
        err = self.failing(
            lambda: self.c.publish("stats.monthly.DE", "application/octet-stream", big))
        self.check_id(err)

    def test_other_errors_carry_no_id(self):
        with self.assertRaises(asylink.AsylinkError) as cm:
            self.c.send("ZZ", "application/json", b"{}")
        self.assertIsNone(cm.exception.message_id)


@unittest.skipUnless(TEST_DIR, "ASYLINK_TEST_DIR is not set (needs the node configurations)")
class TrustLimitTest(unittest.TestCase):
    """A revocation list over its limit at reload: refused TOO_LARGE, and the
    log line names the file, its size and the limit (DESIGN-CHANGES 64)."""

    def test_reload_names_the_oversized_list(self):
        with open(node_config("DE")) as f:
            trust = [l.split("=", 1)[1].strip() for l in f if l.startswith("trust_dir")][0]
        copy = os.path.join(TEST_DIR, "trust-DE-limit")
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(trust, copy)
        path, _ = offline_config("limit", trust_dir=copy)
        logs = []
        c = asylink.Client(path, log=lambda lvl, line: logs.append(line))
        try:
            crl = os.path.join(copy, "revoked.crl")
            os.truncate(crl, 40_000_000)  # sparse: no disk used
            with self.assertRaises(asylink.AsylinkError) as cm:
                c.reload_trust()
            self.assertEqual(cm.exception.name, "TOO_LARGE")
            want = (f"{crl}: 40000000 bytes, more than the limit of 33558528 bytes (32.0 MiB) "
                    "for a revocation list")
            self.assertTrue(any("trust directory not reloaded" in l and want in l for l in logs),
                            logs)
        finally:
            c.close()
            shutil.rmtree(copy, ignore_errors=True)


@unittest.skipUnless(TEST_DIR, "ASYLINK_TEST_DIR is not set (needs a broker)")
class ExchangeTest(unittest.TestCase):
    """DE and FR through the broker."""

    def setUp(self):
        self.logs = []
        self.de = asylink.Client(node_config("DE"), log=lambda lvl, line: self.logs.append(line))
        self.fr = asylink.Client(node_config("FR"))

    def tearDown(self):
        self.de.close()
        self.fr.close()

    def wait_event(self, client, type_, message_id):
        """The first event of type_ for message_id (others are skipped)."""
        deadline = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < deadline:
            e = client.next_event(500)
            if e is None:
                continue
            if e.type == "REJECTED" and e.message_id == message_id:
                self.fail(f"rejected: {e.code_name} {e.reason}")
            if e.type == type_ and e.message_id == message_id:
                return e
        self.fail(f"no {type_} event for {message_id.hex()}")

    def recv_id(self, client, message_id):
        """Receives until message_id arrives; acks anything else (left over)."""
        deadline = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < deadline:
            m = client.recv(500)
            if m is None:
                continue
            if m.id == message_id:
                return m
            client.ack(m.id)
        self.fail(f"message {message_id.hex()} never arrived")

    def test_purge(self):
        mid = self.de.send("FR", "application/json", b'{"erase": "me"}', classification="PERSONAL")
        self.wait_event(self.de, "ACCEPTED", mid)
        m = self.recv_id(self.fr, mid)
        self.assertEqual(self.fr.purge(mid, "DE"), 1)
        self.assertEqual(self.fr.purge(mid), 0)  # purged before: nothing left to erase
        with self.assertRaises(asylink.AsylinkError) as err:
            self.fr.ack(m)
        self.assertEqual(err.exception.name, "PURGED")
        self.assertIsNone(self.fr.recv(300), "a purged message must not be handed over")
        with self.assertRaises(asylink.AsylinkError) as err:
            self.fr.purge(bytes(16))
        self.assertEqual(err.exception.name, "NOT_FOUND")

    def test_sent_state(self):
        mid = self.de.send("FR", "text/plain", b"what became of it")
        self.wait_event(self.de, "ACCEPTED", mid)
        self.assertEqual(self.de.sent_state(mid), asylink.SentState("ACCEPTED", 0, "OK"))
        self.assertIsNone(self.de.sent_state(bytes(16)))  # never sent by DE
        self.assertIsNone(self.fr.sent_state(mid))  # FR received it: not FR's to answer
        self.fr.ack(self.recv_id(self.fr, mid))

    def test_send_receive_ack_receipt(self):
        payload = b'{"request_id": "DE-PY-1"}\x00\xff binary too'
        before = int(time.time() * 1000)
        mid = self.de.send("FR", "application/json", payload, classification="PERSONAL",
                           expires_ms=before + 3_600_000)
        self.assertEqual(len(mid), 16)
        self.wait_event(self.de, "ACCEPTED", mid)

        # fileno() becomes readable once the message is in FR's inbox.
        r, _, _ = select.select([self.fr.fileno()], [], [], WAIT_MS / 1000)
        self.assertEqual(r, [self.fr.fileno()], "asylink_fd never became readable")
        m = self.recv_id(self.fr, mid)
        self.assertEqual(m.sender, "DE")
        self.assertEqual(m.recipients, ["FR"])
        self.assertEqual(m.topic, "")
        self.assertEqual(m.content_type, "application/json")
        self.assertEqual(m.classification, "PERSONAL")
        self.assertEqual(m.payload, payload)
        self.assertIsNone(m.correlation_id)
        self.assertGreaterEqual(m.created_ms, before - 5_000)
        self.assertEqual(m.expires_ms, before + 3_600_000)

        self.fr.ack(m.id)
        self.fr.ack(m.id)  # acking twice is fine
        self.assertIsNone(self.fr.recv(300), "a message acked must not come back")

        self.assertTrue(self.de.receipt_wait(mid, WAIT_MS), "no receipt from FR")
        receipts = self.de.receipts(mid)
        self.assertEqual([r.recipient for r in receipts], ["FR"])
        self.assertEqual(receipts[0].status, asylink.RECEIPT_DELIVERED)
        self.assertEqual(len(receipts[0].envelope_digest), 64)
        evidence = self.de.receipt_export(mid, "FR")
        proved = self.de.receipt_verify(evidence, mid)
        self.assertEqual(proved, receipts[0])
        with self.assertRaises(asylink.AsylinkError) as err:
            self.de.receipt_verify(evidence[:-1] + bytes([evidence[-1] ^ 1]))
        self.assertNotEqual(err.exception.name, "OK")
        with self.assertRaises(asylink.AsylinkError) as err:
            self.de.receipt_export(mid, "IT")
        self.assertEqual(err.exception.name, "NOT_FOUND")
        bundle = os.path.join(TEST_DIR, f"case-{mid.hex()}.zip")
        self.de.evidence_export(mid, bundle)
        self.assertEqual(os.stat(bundle).st_mode & 0o777, 0o600)
        with zipfile.ZipFile(bundle) as z:
            self.assertIn("receipts/FR.bin", z.namelist())
            self.assertIsNone(z.testzip())
        with self.assertRaises(asylink.AsylinkError) as cm:
            self.de.evidence_export(mid, bundle)  # never overwritten
        self.assertEqual(cm.exception.name, "EXISTS")
        self.assertTrue(self.de.connected())
        self.assertEqual(self.de.node_id, "DE")
        k = self.de.connection()
        self.assertTrue(k.connected)
        self.assertEqual(k.broker, "BROKER.EU")
        self.assertTrue(k.endpoint.startswith("tcp://127.0.0.1:"), k.endpoint)
        self.assertEqual((k.index, k.n_endpoints), (0, 1))
        self.assertGreaterEqual(k.sessions, 1)
        f = self.de.connect_failure()
        self.assertEqual((f.name, f.reason, f.attempts), ("OK", "", 0))
        self.assertTrue(f.connected)
        self.assertGreaterEqual(f.sessions, 1)
        deadline = time.monotonic() + WAIT_MS / 1000
        while self.de.outbox_pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.de.outbox_pending(), 0)
        self.assertTrue(self.logs, "the log callback was never called")

    def test_json_payload_and_id_text(self):
        request = {"request_id": "DE-PY-JSON-1", "requesting_state": "DE",
                   "requested_state": "FR", "legal_basis": "LEGAL_BASIS_DUBLIN_III_ART_34",
                   "applicant": {"family_name": "Doe", "birth_year": 1990},
                   "questions": [{"question_id": "Q1", "text": "Stage of the application?"}]}
        with self.assertRaises(asylink.AsylinkError) as cm:  # personal data: PERSONAL only
            self.de.send("FR", "asylink.v1.InformationRequest", request,
                         classification="LIMITED")
        self.assertEqual(cm.exception.name, "CLASSIFICATION")
        mid = self.de.send("FR", "asylink.v1.InformationRequest", request)  # PERSONAL by default
        e = self.wait_event(self.de, "ACCEPTED", mid)
        self.assertEqual(e.message_id_text, asylink.format_id(mid))
        m = self.recv_id(self.fr, mid)
        self.assertEqual(m.id_text, asylink.format_id(mid))
        self.assertRegex(m.id_text, r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                    r"[0-9a-f]{12}$")
        self.assertEqual(m.classification, "PERSONAL")
        d = m.payload_dict()
        self.assertEqual(d["request_id"], "DE-PY-JSON-1")
        self.assertEqual(d["legal_basis"], "LEGAL_BASIS_DUBLIN_III_ART_34")
        self.assertEqual(d["applicant"]["birth_year"], 1990)
        self.assertEqual(d["questions"][0]["text"], "Stage of the application?")
        self.assertEqual(json.loads(m.payload_json(pretty=True)), d)
        self.fr.ack(m.id_text)  # ids as text are taken too
        self.assertTrue(self.de.receipt_wait(m.id_text, WAIT_MS))

    def test_reply_carries_correlation_id(self):
        ask = self.de.send(["FR"], "asylink.test.Question", b"q", classification="LIMITED")
        q = self.recv_id(self.fr, ask)
        self.fr.ack(q.id)
        answer = self.fr.send(q.sender, "asylink.test.Answer", b"a", correlation_id=q.id)
        a = self.recv_id(self.de, answer)
        self.assertEqual(a.correlation_id, ask)
        self.assertEqual(a.sender, "FR")
        self.assertEqual(a.classification, "LIMITED")
        self.de.ack(a.id)
        self.assertTrue(self.fr.receipt_wait(answer, WAIT_MS))

    def test_ack_many_sends_one_receipt_set(self):
        sent = [self.de.send("FR", "asylink.test.Note", b"n%d" % i) for i in range(5)]
        got = [self.recv_id(self.fr, mid).id for mid in sent]
        self.fr.ack_many(got + got[:1])  # a repeated id is fine
        for mid in sent:
            self.assertTrue(self.de.receipt_wait(mid, WAIT_MS))
            self.assertEqual([r.recipient for r in self.de.receipts(mid)], ["FR"])
        self.assertIsNone(self.fr.recv(300), "acked messages must not come back")
        with self.assertRaises(asylink.AsylinkError) as cm:
            self.fr.ack_many([bytes(16)])
        self.assertEqual(cm.exception.name, "NOT_FOUND")

    def test_reload_trust(self):
        self.de.reload_trust()  # an unchanged directory reloads fine
        mid = self.de.send("FR", "asylink.test.Note", b"after reload")
        self.assertEqual(self.recv_id(self.fr, mid).payload, b"after reload")
        self.fr.ack(mid)

    def test_unacked_message_comes_back_after_reopen(self):
        mid = self.de.send("FR", "asylink.test.Note", b"again", classification="PUBLIC")
        self.recv_id(self.fr, mid)
        self.fr.close()
        self.fr = asylink.Client(node_config("FR"))
        m = self.recv_id(self.fr, mid)
        self.assertEqual(m.payload, b"again")
        self.fr.ack(mid)

    def test_errors_carry_names(self):
        with self.assertRaises(asylink.AsylinkError) as cm:
            self.de.send("ZZ", "application/json", b"{}")
        self.assertEqual(cm.exception.name, "UNKNOWN_RECIPIENT")
        with self.assertRaises(asylink.AsylinkError) as cm:
            self.de.send("not a node", "application/json", b"{}")
        self.assertEqual(cm.exception.name, "BAD_NODE_ID")
        with self.assertRaises(asylink.AsylinkError) as cm:
            self.fr.ack(bytes(16))
        self.assertEqual(cm.exception.name, "NOT_FOUND")
        with self.assertRaises(asylink.AsylinkError) as cm:
            self.de.receipt_wait(bytes(16), 100)
        self.assertEqual(cm.exception.name, "NOT_FOUND")
        with self.assertRaises(ValueError):
            self.de.send("FR", "application/json", b"{}", classification="SECRET")
        with self.assertRaises(ValueError):
            self.fr.ack(b"short")

    def test_feed_publish_subscribe(self):
        # DE (member_state) may publish under stats.monthly; FR may read stats.
        name = f"py-stats-{os.getpid()}"
        self.fr.subscribe("stats", name, start="earliest", timeout_ms=WAIT_MS)
        mid = self.de.publish("stats.monthly.DE", "asylink.test.Statistics", b"public figures")
        self.wait_event(self.de, "ACCEPTED", mid)
        m = self.recv_id(self.fr, mid)
        self.assertEqual(m.topic, "stats.monthly.DE")
        self.assertEqual(m.recipients, [])
        self.assertEqual(m.classification, "PUBLIC")
        self.assertEqual(m.payload, b"public figures")
        self.fr.ack(m.id)  # no receipt for feed messages, just done

        deadline = time.monotonic() + WAIT_MS / 1000
        while not self.de.connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        lim = self.de.publish("stats.monthly.DE", "asylink.test.Statistics", b"limited figures",
                              classification="LIMITED")
        m = self.recv_id(self.fr, lim)
        self.assertEqual(m.classification, "LIMITED")
        self.assertEqual(m.payload, b"limited figures")
        self.fr.ack(m.id)
        self.fr.unsubscribe(name, delete_cursor=True)

        with self.assertRaises(asylink.AsylinkError) as cm:
            self.de.publish("stats.monthly.DE", "asylink.test.Statistics", b"x",
                            classification="PERSONAL")
        self.assertEqual(cm.exception.name, "CLASSIFICATION")
        with self.assertRaises(ValueError):
            self.fr.subscribe("stats", name, start="yesterday")

    def test_feed_two_subscriptions(self):
        # Two subscriptions of FR over one topic: each gets the message, and
        # each copy is acknowledged on its own (by the Message, not the id).
        names = [f"py-twice-{os.getpid()}-{k}" for k in ("a", "b")]
        for name in names:
            self.fr.subscribe("stats.monthly", name, start="new", timeout_ms=WAIT_MS)
        mid = self.de.publish("stats.monthly.DE", "asylink.test.Statistics", b"twice")
        self.wait_event(self.de, "ACCEPTED", mid)
        copies = []
        deadline = time.monotonic() + WAIT_MS / 1000
        while len(copies) < 2 and time.monotonic() < deadline:
            m = self.fr.recv(500)
            if m is None:
                continue
            if m.id == mid and m.subscription in names:
                copies.append(m)
            else:
                self.fr.ack(m)  # left over from another test
        self.assertEqual(sorted(m.subscription for m in copies), sorted(names))
        self.assertEqual({m.payload for m in copies}, {b"twice"})
        with self.assertRaises(asylink.AsylinkError) as cm:
            self.fr.ack(mid)  # the id alone names both copies
        self.assertEqual(cm.exception.name, "AMBIGUOUS")
        self.fr.ack(copies[0])
        self.fr.ack(mid)  # now it names one: copies[1]
        self.fr.ack_many(copies)  # both done already: fine
        with self.assertRaises(ValueError):
            self.fr.ack_many([copies[0], mid])
        self.assertIsNone(self.fr.recv(300), "acked copies must not come back")
        for name in names:
            self.fr.unsubscribe(name, delete_cursor=True)

    def test_log_callback_cannot_call_back(self):
        """Client methods called inside the log callback (on the library's
        threads, or on this one inside a method that logs) raise REENTRANT
        at once, close() too, and the client keeps working from here."""
        self.de.close()
        got, holder = [], []

        def log(_level, _line):
            if not holder:
                return
            c = holder[0]
            for name, call in (("send", lambda: c.send("FR", "text/plain", b"x")),
                               ("ack", lambda: c.ack(bytes(16))),
                               ("recv", lambda: c.recv(1000)),
                               ("next_event", lambda: c.next_event(1000)),
                               ("outbox_pending", c.outbox_pending),
                               ("sent_state", lambda: c.sent_state(bytes(16))),
                               ("close", c.close)):
                try:
                    call()
                    got.append((name, "OK"))
                except asylink.AsylinkError as e:
                    got.append((name, e.name))

        self.de = asylink.Client(node_config("DE"), log=log)
        holder.append(self.de)
        with self.assertRaises(asylink.AsylinkError) as cm:  # logged here, inside send()
            self.de.send("XX", "text/plain", b"x")
        self.assertEqual(cm.exception.name, "UNKNOWN_RECIPIENT")
        self.assertTrue(got, "the log callback was never called")
        self.assertEqual({rc for _, rc in got}, {"REENTRANT"}, got)
        self.assertFalse(self.de.closed)
        mid = self.de.send("FR", "text/plain", b"after the callback")
        self.wait_event(self.de, "ACCEPTED", mid)
        self.recv_id(self.fr, mid)
        deadline = time.monotonic() + WAIT_MS / 1000
        while not self.de.connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        n = len(got)
        self.de.close()  # the I/O thread logs the session's end meanwhile
        self.assertTrue(self.de.closed)
        self.assertGreater(len(got), n)
        self.assertEqual({rc for _, rc in got}, {"REENTRANT"}, got)

    def test_second_client_on_same_data_dir_is_refused(self):
        with self.assertRaises(asylink.AsylinkError) as cm:
            asylink.Client(node_config("DE"))
        self.assertEqual(cm.exception.name, "EXISTS")

    def test_context_manager_closes(self):
        self.fr.close()
        self.assertTrue(self.fr.closed)
        with asylink.Client(node_config("FR")) as c:
            self.assertFalse(c.closed)
            self.assertGreaterEqual(c.fileno(), 0)
        self.assertTrue(c.closed)
        with self.assertRaises(ValueError):
            c.recv(0)


if __name__ == "__main__":
    unittest.main()
