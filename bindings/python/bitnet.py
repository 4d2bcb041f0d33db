"""bitnet: Python binding of libbitnet (ctypes, standard library only).

    import bitnet
    with bitnet.Model("model.gguf") as m:
        print(m.generate("The capital of France is", max_new_tokens=16, greedy=True))
        for piece in m.stream("Once upon a time", max_new_tokens=32):
            print(piece, end="", flush=True)
    with bitnet.Embedder("model.gguf") as e:
        vector = e.embed("Hello world")  # n_embd floats of length 1 (mean pooling)

The library is found through $BITNET_LIB, then build/libbitnet.so of this source tree, then
the system's library path. Errors raise BitNetError (status code and the library's message).
"""
import ctypes
import ctypes.util
import os

_c_int, _c_uint32, _c_uint64, _c_float = ctypes.c_int, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_float
_c_char_p, _c_void_p, _c_size_t = ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t

# Status codes (include/bitnet.h, bitnet_status)
OK, ERR_INVALID_ARGUMENT, ERR_NOT_FOUND, ERR_LOAD_FAILED, ERR_INFERENCE_FAILED = 0, -1, -2, -3, -4
ERR_OUT_OF_MEMORY, ERR_INVALID_ID, ERR_CONTEXT_EXCEEDED, ERR_UNSUPPORTED = -5, -6, -7, -8
ERR_BUFFER_TOO_SMALL, ERR_INTERNAL = -9, -10


class BitNetError(Exception):
    """A libbitnet call failed: .status is the negative status code, .message its text."""

    def __init__(self, status, message):
        super().__init__("%s (status %d)" % (message, status))
        self.status, self.message = status, message


class InferenceConfig(ctypes.Structure):
    _fields_ = [("max_length", _c_uint32), ("max_new_tokens", _c_uint32), ("temperature", _c_float),
                ("top_k", _c_uint32), ("top_p", _c_float), ("repetition_penalty", _c_float),
                ("frequency_penalty", _c_float), ("presence_penalty", _c_float), ("seed", _c_uint64),
                ("do_sample", _c_uint32), ("backend_preference", _c_uint32), ("enable_streaming", _c_uint32),
                ("stream_buffer_size", _c_uint32)]


class ModelConfig(ctypes.Structure):
    _fields_ = [("model_path", _c_char_p), ("model_format", _c_uint32), ("vocab_size", _c_uint32),
                ("hidden_size", _c_uint32), ("num_layers", _c_uint32), ("num_heads", _c_uint32),
                ("intermediate_size", _c_uint32), ("max_position_embeddings", _c_uint32),
                ("quantization_type", _c_uint32), ("block_size", _c_uint32), ("precision", _c_float),
                ("num_threads", _c_uint32), ("use_gpu", _c_uint32), ("batch_size", _c_uint32),
                ("memory_limit", _c_uint64)]


class ModelInfo(ctypes.Structure):
    _fields_ = [("name", _c_char_p), ("version", _c_char_p), ("architecture", _c_char_p),
                ("vocab_size", _c_uint32), ("context_length", _c_uint32), ("hidden_size", _c_uint32),
                ("num_layers", _c_uint32), ("num_heads", _c_uint32), ("intermediate_size", _c_uint32),
                ("quantization_type", _c_uint32), ("file_size", _c_uint64), ("memory_usage", _c_uint64),
                ("is_gpu_loaded", _c_uint32)]


class PerformanceMetrics(ctypes.Structure):
    _fields_ = [("tokens_per_second", _c_float), ("latency_ms", _c_float), ("memory_usage_mb", _c_float),
                ("gpu_utilization", _c_float), ("total_inference_time_ms", _c_float),
                ("time_to_first_token_ms", _c_float), ("tokens_generated", _c_uint32), ("prompt_tokens", _c_uint32)]


STREAM_CALLBACK = ctypes.CFUNCTYPE(_c_int, _c_char_p, _c_void_p)
LOGITS_CALLBACK = ctypes.CFUNCTYPE(_c_int, ctypes.c_int32, ctypes.POINTER(ctypes.c_char), _c_size_t,
                                   ctypes.POINTER(_c_float), ctypes.POINTER(ctypes.c_int32), _c_int, _c_void_p)


class StreamConfig(ctypes.Structure):
    _fields_ = [("callback", STREAM_CALLBACK), ("user_data", _c_void_p), ("buffer_size", _c_uint32),
                ("yield_interval", _c_uint32), ("enable_backpressure", _c_uint32), ("timeout_ms", _c_uint32),
                ("logits_callback", LOGITS_CALLBACK), ("logits_top_k", _c_uint32)]


def _find_library():
    env = os.environ.get("BITNET_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    local = os.path.join(here, "..", "..", "build", "libbitnet.so")
    if os.path.exists(local):
        return local
    found = ctypes.util.find_library("bitnet")
    if not found:
        raise OSError("libbitnet not found: set BITNET_LIB to the path of libbitnet.so")
    return found


class SessionParams(ctypes.Structure):  # bitnet_session_params
    _fields_ = [("struct_size", _c_size_t), ("n_ctx", ctypes.c_int64), ("n_threads", _c_int), ("n_batch", _c_int),
                ("act_quant", _c_int), ("trace_dir", _c_char_p), ("seq_id", _c_int), ("kv_type_k", _c_int),
                ("kv_type_v", _c_int)]


class ModelDesc(ctypes.Structure):  # bitnet_model_desc
    _fields_ = [("struct_size", _c_size_t), ("architecture", ctypes.c_char * 32)] + \
        [(name, ctypes.c_int64) for name in ("n_vocab", "n_ctx_train", "n_embd", "n_layer", "n_ff", "n_head", "n_head_kv",
                                             "head_dim")] + \
        [("weight_type", ctypes.c_char * 16), ("lm_head_type", ctypes.c_char * 16), ("tied_lm_head", _c_int),
         ("weight_bytes", _c_uint64), ("has_tokenizer", _c_int), ("bos_id", ctypes.c_int32), ("eos_id", ctypes.c_int32),
         ("eot_id", ctypes.c_int32), ("lm_head", _c_int), ("lm_head_copy_bytes", _c_uint64)]


POOLING_NONE = 3  # bitnet_pooling

_lib = ctypes.CDLL(_find_library())
_I32P, _FP = ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(_c_float)
_SIGNATURES = {
    "bitnet_version": (_c_char_p, []), "bitnet_abi_version": (_c_int, []),
    "bitnet_get_last_error": (_c_char_p, []), "bitnet_clear_last_error": (None, []),
    "bitnet_inference_config_default": (InferenceConfig, []), "bitnet_config_default": (ModelConfig, []),
    "bitnet_stream_config_default": (StreamConfig, []),
    "bitnet_model_load_with_config": (_c_int, [_c_char_p, ctypes.POINTER(ModelConfig)]),
    "bitnet_model_free": (_c_int, [_c_int]), "bitnet_model_is_loaded": (_c_int, [_c_int]),
    "bitnet_model_get_info": (_c_int, [_c_int, ctypes.POINTER(ModelInfo)]),
    "bitnet_model_n_vocab": (_c_int, [_c_int]),
    "bitnet_inference_with_config": (_c_int, [_c_int, _c_char_p, ctypes.POINTER(InferenceConfig), ctypes.c_char_p, _c_size_t]),
    "bitnet_start_streaming": (_c_int, [_c_int, _c_char_p, ctypes.POINTER(InferenceConfig), ctypes.POINTER(StreamConfig)]),
    "bitnet_stream_next_token": (_c_int, [_c_int, ctypes.c_char_p, _c_size_t]),
    "bitnet_stop_streaming": (_c_int, [_c_int]),
    "bitnet_get_performance_metrics": (_c_int, [_c_int, ctypes.POINTER(PerformanceMetrics)]),
    "bitnet_reset_performance_metrics": (_c_int, [_c_int]),
    "bitnet_is_gpu_available": (_c_int, []), "bitnet_set_gpu_enabled": (_c_int, [_c_int]),
    "bitnet_set_num_threads": (_c_int, [_c_uint32]), "bitnet_get_num_threads": (_c_uint32, []),
    "bitnet_tokenize": (_c_int, [_c_int, _c_char_p, _c_int, _I32P, _c_int]),
    "bitnet_detokenize": (_c_int, [_c_int, _I32P, _c_int, ctypes.c_char_p, _c_size_t]),
    "bitnet_inference_tokens": (_c_int, [_c_int, _I32P, _c_int, ctypes.POINTER(InferenceConfig), _I32P, _c_int,
                                         ctypes.POINTER(_c_int)]),
    "bitnet_eval_logits": (_c_int, [_c_int, _I32P, _c_int, _FP]),
    # the core API, for Embedder
    "bitnet_model_open": (_c_int, [_c_char_p, _c_void_p, ctypes.POINTER(_c_void_p)]),
    "bitnet_model_close": (_c_int, [_c_void_p]),
    "bitnet_model_describe": (_c_int, [_c_void_p, ctypes.POINTER(ModelDesc)]),
    "bitnet_model_tokenize": (_c_int, [_c_void_p, _c_char_p, _c_size_t, _c_int, _c_int, _I32P, _c_int]),
    "bitnet_session_default_params": (SessionParams, []),
    "bitnet_session_create": (_c_int, [_c_void_p, ctypes.POINTER(SessionParams), ctypes.POINTER(_c_void_p)]),
    "bitnet_session_free": (None, [_c_void_p]), "bitnet_session_reset": (_c_int, [_c_void_p]),
    "bitnet_pooling_from_name": (_c_int, [_c_char_p, ctypes.POINTER(_c_int)]),
    "bitnet_session_embed": (_c_int, [_c_void_p, _I32P, _c_int, _c_int, _FP]),
    "bitnet_embedding_normalize": (_c_int, [_FP, ctypes.c_int64, _c_int]),
}
for _name, (_res, _args) in _SIGNATURES.items():
    _fn = getattr(_lib, _name)
    _fn.restype, _fn.argtypes = _res, _args


def _check(rc):
    if rc < 0:
        raise BitNetError(rc, (_lib.bitnet_get_last_error() or b"").decode("utf-8", "replace"))
    return rc


def version():
    return _lib.bitnet_version().decode()


def abi_version():
    return _lib.bitnet_abi_version()


def is_gpu_available():
    return bool(_lib.bitnet_is_gpu_available())


def set_gpu_enabled(enable):
    _check(_lib.bitnet_set_gpu_enabled(1 if enable else 0))


def set_num_threads(n):
    _check(_lib.bitnet_set_num_threads(n))


def get_num_threads():
    return _lib.bitnet_get_num_threads()


def _config(max_new_tokens, greedy, temperature, top_k, top_p, repetition_penalty, seed):
    c = _lib.bitnet_inference_config_default()
    c.max_new_tokens = max_new_tokens
    c.do_sample = 0 if greedy else 1
    if temperature is not None:
        c.temperature = temperature
    if top_k is not None:
        c.top_k = top_k
    if top_p is not None:
        c.top_p = top_p
    if repetition_penalty is not None:
        c.repetition_penalty = repetition_penalty
    if seed is not None:
        c.seed = seed
    return c


def _ids(tokens):
    arr = (ctypes.c_int32 * max(1, len(tokens)))(*tokens)
    return arr


class Model:
    """A model loaded through the id-based API; usable from several threads at once."""

    def __init__(self, path, num_threads=0, context=0):
        cfg = _lib.bitnet_config_default()
        cfg.num_threads, cfg.max_position_embeddings = num_threads, context
        self.id = _check(_lib.bitnet_model_load_with_config(os.fsencode(path), ctypes.byref(cfg)))

    def close(self):
        if self.id > 0:
            _check(_lib.bitnet_model_free(self.id))
            self.id = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def is_loaded(self):
        return bool(_lib.bitnet_model_is_loaded(self.id))

    @property
    def n_vocab(self):
        return _check(_lib.bitnet_model_n_vocab(self.id))

    def info(self):
        i = ModelInfo()
        _check(_lib.bitnet_model_get_info(self.id, ctypes.byref(i)))
        out = {name: getattr(i, name) for name, _ in ModelInfo._fields_}
        for key in ("name", "version", "architecture"):
            out[key] = (out[key] or b"").decode("utf-8", "replace")
        return out

    def tokenize(self, text, add_special=True):
        data = text.encode("utf-8")
        n = _check(_lib.bitnet_tokenize(self.id, data, int(add_special), None, 0))
        buf = (ctypes.c_int32 * max(1, n))()
        n = _check(_lib.bitnet_tokenize(self.id, data, int(add_special), buf, n))
        return list(buf[:n])

    def detokenize(self, tokens):
        ids = _ids(tokens)
        n = _check(_lib.bitnet_detokenize(self.id, ids, len(tokens), None, 0))
        buf = ctypes.create_string_buffer(n + 1)
        _check(_lib.bitnet_detokenize(self.id, ids, len(tokens), buf, n + 1))
        return buf.raw[:n].decode("utf-8", "replace")

    def generate(self, prompt, max_new_tokens=128, greedy=False, temperature=None, top_k=None, top_p=None,
                 repetition_penalty=None, seed=None):
        """Generated text (without the prompt)."""
        c = _config(max_new_tokens, greedy, temperature, top_k, top_p, repetition_penalty, seed)
        cap = 64 * max(16, max_new_tokens)
        while True:
            buf = ctypes.create_string_buffer(cap)
            n = _check(_lib.bitnet_inference_with_config(self.id, prompt.encode("utf-8"), ctypes.byref(c), buf, cap))
            # A reply cut to fit is a success; the last error then notes the cut.
            if b"output truncated" not in (_lib.bitnet_get_last_error() or b""):
                return buf.raw[:n].decode("utf-8", "replace")
            cap *= 4  # same config and seed: the rerun gives the same text

    def generate_tokens(self, tokens, max_new_tokens=128, greedy=False, temperature=None, top_k=None, top_p=None,
                        repetition_penalty=None, seed=None):
        c = _config(max_new_tokens, greedy, temperature, top_k, top_p, repetition_penalty, seed)
        out = (ctypes.c_int32 * max(1, max_new_tokens))()
        n = _c_int(0)
        _check(_lib.bitnet_inference_tokens(self.id, _ids(tokens), len(tokens), ctypes.byref(c), out,
                                            max_new_tokens, ctypes.byref(n)))
        return list(out[:n.value])

    def eval_logits(self, tokens):
        """Logits of every position: a list of len(tokens) rows of n_vocab floats."""
        v = self.n_vocab
        buf = (_c_float * (len(tokens) * v))()
        _check(_lib.bitnet_eval_logits(self.id, _ids(tokens), len(tokens), buf))
        return [buf[i * v:(i + 1) * v] for i in range(len(tokens))]

    def stream(self, prompt, max_new_tokens=128, greedy=False, temperature=None, top_k=None, top_p=None,
               repetition_penalty=None, seed=None, on_logits=None, logits_top_k=0):
        """Yields pieces of generated text as they are produced. on_logits(token, text, logits, ids)
        is called per token (ids is None when logits_top_k is 0: logits are then all n_vocab)."""
        c = _config(max_new_tokens, greedy, temperature, top_k, top_p, repetition_penalty, seed)
        sc = _lib.bitnet_stream_config_default()
        if on_logits is not None:
            def trampoline(token, text, text_len, logits, ids, n, user_data):
                try:
                    piece = ctypes.string_at(text, text_len).decode("utf-8", "replace")
                    stop = on_logits(token, piece, logits[:n], ids[:n] if ids else None)
                    return 1 if stop else 0
                except Exception:  # never unwind through C
                    return 1
            sc.logits_callback = LOGITS_CALLBACK(trampoline)
            sc.logits_top_k = logits_top_k
        sid = _check(_lib.bitnet_start_streaming(self.id, prompt.encode("utf-8"), ctypes.byref(c), ctypes.byref(sc)))
        buf = ctypes.create_string_buffer(1024)
        try:
            while True:
                n = _check(_lib.bitnet_stream_next_token(sid, buf, len(buf)))
                if n == 0:
                    return
                yield buf.raw[:n].decode("utf-8", "replace")
        finally:
            _lib.bitnet_stop_streaming(sid)

    def metrics(self):
        m = PerformanceMetrics()
        _check(_lib.bitnet_get_performance_metrics(self.id, ctypes.byref(m)))
        return {name: getattr(m, name) for name, _ in PerformanceMetrics._fields_}

    def reset_metrics(self):
        _check(_lib.bitnet_reset_performance_metrics(self.id))


class Embedder:
    """Text embeddings (the core API's bitnet_session_embed): the model's final hidden states,
    pooled ("mean", "last", "cls", or "none" for one vector per token) and, when pooled, scaled
    as llama.cpp's --embd-normalize (2: length 1; -1: as computed). One text at a time (calls
    from several threads are serialized by the session)."""

    def __init__(self, path, num_threads=0, context=0):
        self._model, self._session = _c_void_p(), _c_void_p()
        _check(_lib.bitnet_model_open(os.fsencode(path), None, ctypes.byref(self._model)))
        try:
            sp = _lib.bitnet_session_default_params()
            sp.n_threads, sp.n_ctx = num_threads, context
            _check(_lib.bitnet_session_create(self._model, ctypes.byref(sp), ctypes.byref(self._session)))
            d = ModelDesc()
            d.struct_size = ctypes.sizeof(d)
            _check(_lib.bitnet_model_describe(self._model, ctypes.byref(d)))
            self.n_embd = d.n_embd
        except BitNetError:
            self.close()
            raise

    def close(self):
        if self._session:
            _lib.bitnet_session_free(self._session)
            self._session = _c_void_p()
        if self._model:
            _check(_lib.bitnet_model_close(self._model))
            self._model = _c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _tokens(self, text):
        data = text.encode("utf-8")
        n = _check(_lib.bitnet_model_tokenize(self._model, data, len(data), 1, 1, None, 0))
        buf = (ctypes.c_int32 * max(1, n))()
        return buf, _check(_lib.bitnet_model_tokenize(self._model, data, len(data), 1, 1, buf, n))

    def embed(self, text, pooling="mean", normalize=2):
        """A list of n_embd floats (a list of such rows, one per token, with pooling "none")."""
        kind = _c_int(0)
        _check(_lib.bitnet_pooling_from_name(pooling.encode("utf-8"), ctypes.byref(kind)))
        ids, n = self._tokens(text)
        rows = n if kind.value == POOLING_NONE else 1
        out = (_c_float * (rows * self.n_embd))()
        _check(_lib.bitnet_session_reset(self._session))  # the text's own embedding, from position 0
        _check(_lib.bitnet_session_embed(self._session, ids, n, kind, out))
        if kind.value == POOLING_NONE:
            return [out[r * self.n_embd:(r + 1) * self.n_embd] for r in range(rows)]
        _check(_lib.bitnet_embedding_normalize(out, self.n_embd, normalize))
        return out[:]
