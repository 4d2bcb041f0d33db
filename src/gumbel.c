/* gumbel: counter-based Gumbel noise (gumbel.h). */
#include "gumbel.h"

#include <math.h>

double bn_gumbel(uint64_t key, int32_t id) {
    double u = (double)(2 * bn_gumbel_bits(key, id) + 1) * (1.0 / 9007199254740992.0);
    return -log(-log(u));
}
