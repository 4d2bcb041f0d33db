/* streaming: prints generated text as it is produced (pull style, no threads), then the
 * measured performance metrics. Also shows the logits callback (top 3 candidates per token
 * on stderr with -v).
 * Build: cc streaming.c $(pkg-config --cflags --libs bitnet) -o streaming
 * Run:   ./streaming model.gguf "Once upon a time" [-v] */
#include <bitnet.h>
#include <stdio.h>
#include <string.h>

static int show_top3(int32_t token, const char *text, size_t len, const float *logits, const int32_t *ids, int n,
                     void *user_data) {
    fprintf(stderr, "[token %d:", (int)token);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d=%.2f", (int)ids[i], logits[i]);
    fprintf(stderr, "]\n");
    return 0; /* non-zero would stop the stream */
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT [-v]\n", argv[0]);
        return 2;
    }
    int model = bitnet_model_load(argv[1]);
    if (model < 0) {
        fprintf(stderr, "load failed: %s\n", bitnet_get_last_error());
        return 1;
    }
    BitNetCInferenceConfig config = bitnet_inference_config_default();
    config.max_new_tokens = 64;
    config.temperature = 0.8f;
    config.seed = 1;
    BitNetCStreamConfig sc = bitnet_stream_config_default();
    if (argc > 3 && !strcmp(argv[3], "-v")) {
        sc.logits_callback = show_top3;
        sc.logits_top_k = 3;
    }
    int stream = bitnet_start_streaming(model, argv[2], &config, &sc);
    if (stream < 0) {
        fprintf(stderr, "start failed: %s\n", bitnet_get_last_error());
        bitnet_model_free(model);
        return 1;
    }
    printf("%s", argv[2]);
    char piece[256];
    int n;
    while ((n = bitnet_stream_next_token(stream, piece, sizeof piece)) > 0) {
        fputs(piece, stdout);
        fflush(stdout);
    }
    printf("\n");
    if (n < 0) fprintf(stderr, "stream failed: %s\n", bitnet_get_last_error());
    bitnet_stop_streaming(stream); /* records the metrics */
    BitNetCPerformanceMetrics m;
    if (bitnet_get_performance_metrics(model, &m) == 0)
        fprintf(stderr, "%u prompt tokens, %u generated, %.1f tokens/s, first token after %.1f ms, %.1f MiB\n", m.prompt_tokens,
                m.tokens_generated, m.tokens_per_second, m.time_to_first_token_ms, m.memory_usage_mb);
    bitnet_model_free(model);
    return n < 0;
}
