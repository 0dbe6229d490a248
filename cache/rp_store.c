/*
 * rp_store.c: the few pieces of the store interface that are not per backend.
 */
#include "rp_store.h"

const char *rp_st_rc_name(rp_st_rc_t rc)
{
    switch (rc) {
    case RP_ST_OK:       return "ok";
    case RP_ST_NOTFOUND: return "notfound";
    case RP_ST_EXISTS:   return "exists";
    case RP_ST_ERROR:    return "error";
    case RP_ST_DOWN:     return "down";
    }
    return "unknown";
}
