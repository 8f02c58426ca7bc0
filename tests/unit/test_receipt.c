/*
 * test_receipt.c — the ReceiptSet codec: round trips, the rules across
 * entries (one signer, one addressee, distinct ids, 1..RECEIPT_SET_MAX),
 * and refusal of non-canonical or malformed payloads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylink/asylink.h"
#include "receipt.h"

static void s_fill(receipt *r, size_t n, const char *recipient, const char *sender)
{
    for (size_t i = 0; i < n; i++) {
        memset(&r[i], 0, sizeof r[i]);
        memset(r[i].message_id, (int)(i & 0xff), 16);
        r[i].message_id[0] = (uint8_t)(i >> 8);
        memset(r[i].envelope_digest, (int)(i * 7 + 1), 64);
        snprintf(r[i].recipient, sizeof r[i].recipient, "%s", recipient);
        snprintf(r[i].sender, sizeof r[i].sender, "%s", sender);
        r[i].acked_ms = 1700000000000ull + i;
        r[i].status = RECEIPT_DELIVERED;
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    size_t sizes[] = {1, 2, 300, RECEIPT_SET_MAX};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        receipt *r = calloc(n, sizeof *r), *got = NULL;
        assert_non_null(r);
        s_fill(r, n, "FR", "DE");
        r[n - 1].status = RECEIPT_REJECTED;
        snprintf(r[n - 1].reason, sizeof r[n - 1].reason, "Akte unvollständig");
        uint8_t *buf = NULL;
        size_t len = 0, m = 0;
        assert_int_equal(receipt_set_encode(r, n, &buf, &len), ASYLINK_OK);
        assert_int_equal(receipt_set_decode(buf, len, &got, &m), ASYLINK_OK);
        assert_int_equal(m, n);
        for (size_t i = 0; i < n; i++) {
            assert_memory_equal(got[i].message_id, r[i].message_id, 16);
            assert_memory_equal(got[i].envelope_digest, r[i].envelope_digest, 64);
            assert_string_equal(got[i].recipient, "FR");
            assert_string_equal(got[i].sender, "DE");
            assert_int_equal(got[i].acked_ms, r[i].acked_ms);
            assert_int_equal(got[i].status, r[i].status);
            assert_string_equal(got[i].reason, r[i].reason);
        }
        free(got);
        free(buf);
        free(r);
    }
}

static void test_encode_rules(void **state)
{
    (void)state;
    receipt r[3];
    uint8_t *buf = (uint8_t *)1;
    size_t len = 1;
    s_fill(r, 3, "FR", "DE");
    assert_int_equal(receipt_set_encode(r, 0, &buf, &len), ASYLINK_E_INVALID_ARG);
    assert_null(buf);
    assert_int_equal(receipt_set_encode(r, RECEIPT_SET_MAX + 1, &buf, &len), ASYLINK_E_INVALID_ARG);
    snprintf(r[1].recipient, sizeof r[1].recipient, "IT"); /* two signers */
    assert_int_equal(receipt_set_encode(r, 3, &buf, &len), ASYLINK_E_BAD_FIELD);
    s_fill(r, 3, "FR", "DE");
    snprintf(r[2].sender, sizeof r[2].sender, "AT"); /* two addressees */
    assert_int_equal(receipt_set_encode(r, 3, &buf, &len), ASYLINK_E_BAD_FIELD);
    s_fill(r, 3, "FR", "DE");
    memcpy(r[2].message_id, r[0].message_id, 16); /* the same message twice */
    assert_int_equal(receipt_set_encode(r, 3, &buf, &len), ASYLINK_E_BAD_FIELD);
    s_fill(r, 3, "FR", "DE");
    r[1].status = 7;
    assert_int_equal(receipt_set_encode(r, 3, &buf, &len), ASYLINK_E_BAD_FIELD);
    s_fill(r, 3, "fr lower", "DE");
    assert_int_equal(receipt_set_encode(r, 3, &buf, &len), ASYLINK_E_BAD_NODE_ID);
    s_fill(r, 3, "FR", "DE");
    memcpy(r[0].reason, "\xff\xfe", 3); /* not UTF-8 */
    assert_int_equal(receipt_set_encode(r, 3, &buf, &len), ASYLINK_E_BAD_FIELD);
    assert_null(buf);
}

static void test_decode_refuses(void **state)
{
    (void)state;
    receipt r[2], *got = (receipt *)1;
    size_t n = 9, len = 0;
    uint8_t *buf = NULL;
    s_fill(r, 2, "FR", "DE");
    assert_int_equal(receipt_set_encode(r, 2, &buf, &len), ASYLINK_OK);
    /* every truncation fails and leaves nothing behind, except the cut
       right after the first entry: that is a valid set of one */
    size_t ok_cuts = 0;
    for (size_t cut = 0; cut < len; cut++) {
        int rc = receipt_set_decode(buf, cut, &got, &n);
        if (rc == ASYLINK_OK) {
            assert_int_equal(n, 1);
            assert_int_equal(cut, len / 2);
            assert_memory_equal(got[0].message_id, r[0].message_id, 16);
            free(got);
            ok_cuts++;
            continue;
        }
        assert_null(got);
        assert_int_equal(n, 0);
    }
    assert_int_equal(ok_cuts, 1);
    /* an empty set */
    assert_int_equal(receipt_set_decode((const uint8_t *)"", 0, &got, &n), ASYLINK_E_MALFORMED);
    /* a trailing unknown field is not canonical */
    uint8_t *longer = malloc(len + 2);
    assert_non_null(longer);
    memcpy(longer, buf, len);
    longer[len] = 0x10; /* field 2, varint */
    longer[len + 1] = 0x01;
    assert_int_equal(receipt_set_decode(longer, len + 2, &got, &n), ASYLINK_E_MALFORMED);
    free(longer);
    free(buf);
    /* mixed signers cannot be smuggled in by a hand-made encoding either */
    receipt a, b;
    s_fill(&a, 1, "FR", "DE");
    s_fill(&b, 1, "IT", "DE");
    b.message_id[15] ^= 1;
    uint8_t *ea = NULL, *eb = NULL;
    size_t la = 0, lb = 0;
    assert_int_equal(receipt_set_encode(&a, 1, &ea, &la), ASYLINK_OK);
    assert_int_equal(receipt_set_encode(&b, 1, &eb, &lb), ASYLINK_OK);
    uint8_t *both = malloc(la + lb);
    assert_non_null(both);
    memcpy(both, ea, la); /* concatenated messages merge their repeated fields */
    memcpy(both + la, eb, lb);
    assert_int_equal(receipt_set_decode(both, la + lb, &got, &n), ASYLINK_E_BAD_FIELD);
    assert_null(got);
    free(both);
    free(ea);
    free(eb);
}

/*
 * Decoded sizes far above the input's (empty entries: 2 bytes each on the
 * wire, a whole message decoded) outgrow the decoder's arena: the rest is
 * allocated on its own and freed (ASan and valgrind would see a leak or a
 * bad free), and the set is refused for its entries as before.
 */
static void test_decode_outgrows_arena(void **state)
{
    (void)state;
    size_t n_empty = 900, len = 2 * n_empty;
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    for (size_t i = 0; i < n_empty; i++) {
        buf[2 * i] = 0x0a; /* field 1 (receipts), length-delimited */
        buf[2 * i + 1] = 0x00;
    }
    receipt *got = (receipt *)1;
    size_t n = 9;
    assert_int_equal(receipt_set_decode(buf, len, &got, &n), ASYLINK_E_BAD_FIELD);
    assert_null(got);
    assert_int_equal(n, 0);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encode_rules),
        cmocka_unit_test(test_decode_refuses),
        cmocka_unit_test(test_decode_outgrows_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
