/*
 * rp_phase.c: names of the phases declared in rp_phase.h.
 */
#include <string.h>
#include "rp_phase.h"

static const char *const phase_names[RP_PHASE_COUNT] = {
#define RP_PHASE_NAME(id, name) name,
    RP_PHASES(RP_PHASE_NAME)
#undef RP_PHASE_NAME
};

const char *rp_phase_name(int phase)
{
    if (phase < 0 || phase >= RP_PHASE_COUNT) {
        return NULL;
    }
    return phase_names[phase];
}

int rp_phase_by_name(const char *name)
{
    int i;

    if (name == NULL) {
        return RP_PHASE_NONE;
    }
    for (i = 0; i < RP_PHASE_COUNT; i++) {
        if (strcmp(phase_names[i], name) == 0) {
            return i;
        }
    }
    return RP_PHASE_NONE;
}
