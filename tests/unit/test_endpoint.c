/*
 * test_endpoint.c — the endpoints asylink binds and connects to (endpoint.h).
 */
#include "fixture.h"

#include "endpoint.h"

/* What both a bind and a connection take. */
static void test_both(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "tcp://127.0.0.1:7400",  "tcp://broker.example.eu:7400",   "tcp://[::1]:7400",
        "tcp://localhost:65535", "ipc:///run/asylink/broker.sock",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_true(endpoint_valid(ok[i], true));
        assert_true(endpoint_valid(ok[i], false));
    }
    static const char *const bad[] = {
        "",
        "tcp://",
        "ipc://",
        "http://127.0.0.1:7400",
        "127.0.0.1:7400",
        "tcp://127.0.0.1",
        "tcp://127.0.0.1:",
        "tcp://:7400",
        "tcp://127.0.0.1:65536",
        "tcp://127.0.0.1:123456",
        "tcp://127.0.0.1:-1",
        "tcp://127.0.0.1:asylink",
        "tcp://127.0.0.1:74 00",
        "tcp://10.0.0.1;10.0.0.2:7400",
        "tcp://a/b:7400",
        "tcp://b*:7400",
        "tcp://127.0.0.1:7400\n",
        "ipc:///run/a\x01b",
        "tcp://host\x7f:7400",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(endpoint_valid(bad[i], true));
        assert_false(endpoint_valid(bad[i], false));
    }
}

/* A bind may let the system choose the port or listen everywhere; a connection may not. */
static void test_bind_only(void **state)
{
    (void)state;
    static const char *const bind_only[] = {
        "tcp://127.0.0.1:*",
        "tcp://127.0.0.1:0",
        "tcp://*:7400",
        "tcp://*:*",
    };
    for (size_t i = 0; i < sizeof bind_only / sizeof bind_only[0]; i++) {
        assert_true(endpoint_valid(bind_only[i], true));
        assert_false(endpoint_valid(bind_only[i], false));
    }
    assert_true(endpoint_valid("tcp://eth0:7400", true)); /* an interface name */
    assert_false(endpoint_valid("tcp://**:7400", true));
    assert_false(endpoint_valid(NULL, true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both),
        cmocka_unit_test(test_bind_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
