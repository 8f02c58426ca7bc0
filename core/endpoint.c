/*
 * endpoint.c — the ZeroMQ endpoints asylink binds and connects to
 * (endpoint.h).
 */
#include "endpoint.h"

#include <string.h>

bool endpoint_valid(const char *ep, bool bind)
{
    if (!ep)
        return false;
    for (const unsigned char *p = (const unsigned char *)ep; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    if (strncmp(ep, "ipc://", 6) == 0)
        return ep[6] != '\0';
    if (strncmp(ep, "tcp://", 6) != 0)
        return false;
    const char *host = ep + 6, *colon = strrchr(host, ':');
    if (!colon || colon == host)
        return false;
    size_t n = (size_t)(colon - host), digits = strspn(colon + 1, "0123456789");
    unsigned long port = 0;
    for (size_t i = 0; i < digits && i < 6; i++)
        port = port * 10 + (unsigned long)(colon[1 + i] - '0');
    bool port_ok = (bind && strcmp(colon + 1, "*") == 0) ||
                   (digits > 0 && digits <= 5 && colon[1 + digits] == '\0' && port <= 65535 &&
                    (bind || port > 0));
    bool star_ok = bind ? n == 1 || !memchr(host, '*', n) : !memchr(host, '*', n);
    return port_ok && star_ok && !memchr(host, ';', n) && !memchr(host, '/', n);
}
