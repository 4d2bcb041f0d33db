/* api_internal: what the public handles hold, shared by the API modules (api.c and the
 * generation / compatibility layers built on it). */
#ifndef BITNET_API_INTERNAL_H
#define BITNET_API_INTERNAL_H

#include <stdatomic.h>

#include "bitnet.h"
#include "forward.h"
#include "model.h"
#include "tokenizer.h"
#include "trace.h"

struct bitnet_model {
    bn_model *m;
    bn_tokenizer *tokenizer;   /* NULL when the file has none and none was given */
    atomic_int n_sessions;     /* sessions alive; the model cannot be closed before they are */
};

struct bitnet_session {
    bitnet_model *model;
    bn_state *state;
    bn_tracer *tracer;         /* owned; NULL when tracing is off */
};

bn_act_quant bn_api_resolve_act_quant(const bn_model *m, bitnet_act_quant q);

#endif
