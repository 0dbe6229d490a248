/*
 * rp_counters.c: the tables behind rp_counters.h (the gauges' values are
 * read in rp_figures.c).
 */
#include <stddef.h>
#include <string.h>
#include "rp_counters.h"

const rp_counter_info_t rp_counter_info[RP_CTR_COUNT] = {
#define RP_CTR_INFO(id, sec, json, prom, label, skey, help) \
    { RP_SEC_##sec, json, prom, label, skey, help },
    RP_COUNTERS(RP_CTR_INFO)
#undef RP_CTR_INFO
};

const rp_gauge_info_t rp_gauge_info[RP_GAUGE_COUNT] = {
#define RP_GAUGE_INFO(id, sec, json, akey, skey, prom, shown, kind, value, \
                      help) \
    { RP_SEC_##sec, json, akey, skey, prom, RP_SHOWN_##shown, \
      RP_KIND_##kind, help },
    RP_GAUGES(RP_GAUGE_INFO)
#undef RP_GAUGE_INFO
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
