/* minimal: the smallest complete libbitnet program: load a model, generate text, free it.
 * Build: cc minimal.c $(pkg-config --cflags --libs bitnet) -o minimal
 * Run:   ./minimal model.gguf "The capital of France is" */
#include <bitnet.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT\n", argv[0]);
        return 2;
    }
    int model = bitnet_model_load(argv[1]);
    if (model < 0) {
        fprintf(stderr, "load failed: %s\n", bitnet_get_last_error());
        return 1;
    }
    BitNetCInferenceConfig config = bitnet_inference_config_default();
    config.do_sample = 0; /* greedy */
    config.max_new_tokens = 32;
    char output[4096];
    int n = bitnet_inference_with_config(model, argv[2], &config, output, sizeof output);
    if (n < 0) { /* a reply cut to fit the buffer is a success (the last error notes the cut) */
        fprintf(stderr, "inference failed: %s\n", bitnet_get_last_error());
        bitnet_model_free(model);
        return 1;
    }
    printf("%s%s\n", argv[2], output);
    bitnet_model_free(model);
    return 0;
}
