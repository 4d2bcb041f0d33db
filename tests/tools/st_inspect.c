/* st_inspect: opens a safetensors file with the library's reader and lists its tensors
 * ("name dtype [shape] bytes"), or prints the reader's error and exits 1. Used by
 * tests/scripts/test_safetensors_malformed.sh. */
#include <stdio.h>

#include "formats/safetensors.h"
#include "util.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: st_inspect FILE.safetensors\n");
        return 2;
    }
    st_file *f = st_open(argv[1]);
    if (!f) {
        fprintf(stderr, "st_inspect: %s\n", bn_last_error_message());
        return 1;
    }
    for (size_t i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        printf("%s %s [", t->name, st_dtype_name(t->dtype));
        for (uint32_t d = 0; d < t->n_dims; d++) printf("%s%llu", d ? "," : "", (unsigned long long)t->shape[d]);
        printf("] %llu\n", (unsigned long long)t->n_bytes);
    }
    st_close(f);
    return 0;
}
