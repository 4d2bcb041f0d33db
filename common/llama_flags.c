/* llama_flags: the table of llama.cpp's options shared by the CLI and the server (see llama_flags.h). */
#include "llama_flags.h"

#include <string.h>

#define CPU_ONLY "this engine runs on the CPU (no GPU offload)"
#define NO_DOWNLOAD "models are not downloaded at run time (make download, or huggingface-cli; see the README)"
#define NO_DRAFT_MODEL "draft models are not supported (--lookup N: speculative decoding by prompt lookup)"

static const llama_flag flags[] = {
    /* inert, with a note */
    {"--n-gpu-layers", "-ngl", true, false, CPU_ONLY},
    {"--gpu-layers", NULL, true, false, CPU_ONLY},
    {"--device", "-dev", true, false, "this engine runs on the CPU"},
    {"--split-mode", "-sm", true, false, "this engine runs on the CPU"},
    {"--main-gpu", "-mg", true, false, "this engine runs on the CPU"},
    {"--tensor-split", "-ts", true, false, "this engine runs on the CPU"},
    {"--no-kv-offload", "-nkvo", false, false, CPU_ONLY},
    {"--kv-offload", "-kvo", false, false, CPU_ONLY},
    {"--no-op-offload", NULL, false, false, CPU_ONLY},
    {"--no-host", NULL, false, false, CPU_ONLY},
    {"--threads-batch", "-tb", true, false, "prompts run on the -t threads too"},
    {"--numa", NULL, true, false, "threads are not placed by NUMA node"},
    {"--cpu-mask", "-C", true, false, "threads are not pinned to CPUs"},
    {"--cpu-range", "-Cr", true, false, "threads are not pinned to CPUs"},
    {"--cpu-strict", NULL, true, false, "threads are not pinned to CPUs"},
    {"--prio", NULL, true, false, "threads run at the process's priority"},
    {"--poll", NULL, true, false, "idle threads wait on a condition variable"},
    {"--mlock", NULL, false, false, "the model's pages are not locked in memory"},
    {"--no-mmap", NULL, false, false, "the model file is always memory-mapped"},
    {"--no-repack", "-nr", false, false, "ternary weights are always repacked for the CPU's kernels"},
    {"--check-tensors", NULL, false, false, "tensor sizes and types are checked when loading, their values are not"},
    /* inert, silently: what this engine does anyway */
    {"--mmap", NULL, false, false, NULL},
    {"--repack", NULL, false, false, NULL},
    {"--warmup", NULL, false, false, NULL},
    {"--no-warmup", NULL, false, false, NULL},
    {"--offline", NULL, false, false, NULL}, /* nothing is downloaded at run time */
    /* refused */
    {"--lora", NULL, true, true, "LoRA adapters are not supported"},
    {"--lora-scaled", NULL, true, true, "LoRA adapters are not supported"},
    {"--mmproj", NULL, true, true, "multimodal models are not supported"},
    {"--mmproj-url", "-mmu", true, true, "multimodal models are not supported"},
    {"--hf-repo", "-hf", true, true, NO_DOWNLOAD},
    {"--model-url", "-mu", true, true, NO_DOWNLOAD},
    {"--hf-file", "-hff", true, true, NO_DOWNLOAD},
    {"--hf-token", "-hft", true, true, NO_DOWNLOAD},
    {"--model-draft", "-md", true, true, NO_DRAFT_MODEL},
    {"--rope-scaling", NULL, true, true, "RoPE settings come from the model file"},
    {"--rope-scale", NULL, true, true, "RoPE settings come from the model file"},
    {"--rope-freq-base", NULL, true, true, "RoPE settings come from the model file"},
    {"--rope-freq-scale", NULL, true, true, "RoPE settings come from the model file"},
    {"--override-kv", NULL, true, true, "the model file's metadata is used as stored"},
    {"--override-tensor", "-ot", true, true, "tensors are placed by this engine (there is one device, the CPU)"},
    {"--control-vector", NULL, true, true, "control vectors are not supported"},
    {"--control-vector-scaled", NULL, true, true, "control vectors are not supported"},
};

const llama_flag *llama_flag_find(const char *arg) {
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
        if (!strcmp(arg, flags[k].name) || (flags[k].alias && !strcmp(arg, flags[k].alias))) return &flags[k];
    return NULL;
}

bool llama_switch_word(const char *s) {
    static const char *const words[] = {"on", "enabled", "true", "1", "off", "disabled", "false", "0", "auto", "-1"};
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
        if (!strcmp(s, words[k])) return true;
    return false;
}
