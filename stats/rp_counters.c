/*
 * rp_counters.c: the table behind rp_counters.h.
 */
#include <stddef.h>
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
