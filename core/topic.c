/*
 * topic.c — topic names and prefix matching (see topic.h).
 */
#include "topic.h"

#include <string.h>

bool topic_valid(const char *topic)
{
    size_t n = topic ? strlen(topic) : 0;
    if (n == 0 || n > TOPIC_MAX || topic[0] == '.' || topic[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = topic[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || (c == '.' && topic[i + 1] != '.');
        if (!ok)
            return false;
    }
    return true;
}

bool topic_under_n(const char *topic, size_t topic_len, const char *prefix, size_t prefix_len)
{
    return prefix_len > 0 && topic_len >= prefix_len && memcmp(topic, prefix, prefix_len) == 0 &&
           (topic_len == prefix_len || topic[prefix_len] == '.');
}

bool topic_under(const char *topic, const char *prefix)
{
    return topic && prefix && topic_under_n(topic, strlen(topic), prefix, strlen(prefix));
}
