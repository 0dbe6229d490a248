/*
 * rp_counters.c: the table behind rp_counters.h.
 */
#include <stddef.h>
#include <string.h>
#include "rp_counters.h"

const rp_counter_info_t rp_counter_info[RP_CTR_COUNT] = {
#define RP_CTR_INFO(id, sec, json, prom, label, help) \
    { RP_SEC_##sec, json, prom, label, help },
    RP_COUNTERS(RP_CTR_INFO)
#undef RP_CTR_INFO
};

const char *rp_cache_result_name(int result)
{
    switch (result) {
    case RP_CACHE_HIT:
        return "hit";
    case RP_CACHE_MISS:
        return "miss";
    case RP_CACHE_STALE:
        return "stale";
    case RP_CACHE_BYPASS:
        return "bypass";
    default:
        return "";
    }
}

const rp_xcache_info_t rp_xcache_info[RP_XCACHE_COUNT] = {
#define RP_XC_INFO(id, result, value, help) \
    { RP_CACHE_##result, value, help },
    RP_XCACHE_VALUES(RP_XC_INFO)
#undef RP_XC_INFO
};

int rp_xcache_of(const char *value)
{
    int k;

    if (value == NULL || *value == '\0') {
        return -1;
    }
    for (k = 0; k < RP_XC_OTHER; k++) {
        if (strcmp(value, rp_xcache_info[k].value) == 0) {
            return k;
        }
    }
    return RP_XC_OTHER;
}
