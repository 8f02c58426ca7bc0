"""Tests of the Python binding against a real broker (plain unittest).

Environment:
  ASYLINK_LIBRARY   path of libasylink.so
  ASYLINK_TEST_DIR  a directory with DE.ini and FR.ini: node configurations
                    of two member states that may exchange messages through
                    a running broker (tests/integration/07-python-binding.sh
                    makes all of this)

Without ASYLINK_TEST_DIR only the tests that need no broker run.

    ASYLINK_LIBRARY=build/client/libasylink.so ASYLINK_TEST_DIR=/tmp/nodes \\
        python3 -m unittest -v test_asylink
"""

import os
import select
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
        self.assertEqual(asylink.err_name(9999), "UNKNOWN")
        self.assertTrue(asylink.strerror(8))

    def test_open_missing_config(self):
        with self.assertRaises(asylink.AsylinkError) as cm:
            asylink.Client("/nonexistent/asylink-node.ini")
        self.assertEqual(cm.exception.name, "CONFIG")
        self.assertEqual(cm.exception.code, 7)
        self.assertIn("CONFIG", str(cm.exception))


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
        k = self.de.connection()
        self.assertTrue(k.connected)
        self.assertEqual(k.broker, "BROKER.EU")
        self.assertTrue(k.endpoint.startswith("tcp://127.0.0.1:"), k.endpoint)
        self.assertEqual((k.index, k.n_endpoints), (0, 1))
        self.assertGreaterEqual(k.sessions, 1)
        deadline = time.monotonic() + WAIT_MS / 1000
        while self.de.outbox_pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.de.outbox_pending(), 0)
        self.assertTrue(self.logs, "the log callback was never called")

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
