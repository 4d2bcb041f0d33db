"""Tests of the Python binding (standard unittest) on a generated random-weight model with
the LLaMA-3 vocabulary. Run: BITNET_LIB=build/libbitnet.so /usr/bin/python3 -m unittest
bindings/python/test_bitnet.py (tests/scripts/test_python_binding.sh does this)."""
import os
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bitnet  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.path.join(ROOT, os.environ.get("BITNET_BUILD", "build"), "bitnet")
VOCAB = os.path.join(ROOT, ".cache", "reference", "llama.cpp", "models", "ggml-vocab-llama-bpe.gguf")


def setUpModule():
    global TMP, MODEL_PATH
    TMP = tempfile.TemporaryDirectory()
    MODEL_PATH = os.path.join(TMP.name, "model.gguf")
    subprocess.run([CLI, "gen-model", MODEL_PATH, "--vocab-from", VOCAB, "--ctx", "128"], check=True,
                   stdout=subprocess.DEVNULL)


def tearDownModule():
    TMP.cleanup()


class BindingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = bitnet.Model(MODEL_PATH, num_threads=1)

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def test_version(self):
        self.assertRegex(bitnet.version(), r"^\d+\.\d+\.\d+$")
        self.assertGreaterEqual(bitnet.abi_version(), 1)

    def test_load_error(self):
        with self.assertRaises(bitnet.BitNetError) as cm:
            bitnet.Model(os.path.join(TMP.name, "missing.gguf"))
        self.assertLess(cm.exception.status, 0)
        self.assertIn("missing.gguf", cm.exception.message)

    def test_info(self):
        info = self.m.info()
        self.assertEqual(info["architecture"], "bitnet")
        self.assertEqual(info["vocab_size"], 128256)
        self.assertEqual(info["vocab_size"], self.m.n_vocab)
        self.assertEqual(info["file_size"], os.path.getsize(MODEL_PATH))
        self.assertTrue(self.m.is_loaded)

    def test_tokenize_roundtrip(self):
        text = "Hello world, caf\u00e9!"
        ids = self.m.tokenize(text, add_special=False)
        self.assertGreater(len(ids), 2)
        self.assertEqual(self.m.detokenize(ids), text)
        self.assertEqual(self.m.tokenize(text)[0], 128000)  # BOS

    def test_generate_greedy_is_deterministic_and_matches_stream(self):
        a = self.m.generate("The capital of France is", max_new_tokens=8, greedy=True)
        b = self.m.generate("The capital of France is", max_new_tokens=8, greedy=True)
        self.assertEqual(a, b)
        pieces = list(self.m.stream("The capital of France is", max_new_tokens=8, greedy=True))
        self.assertEqual("".join(pieces), a)

    def test_tokens_and_logits_agree(self):
        ids = self.m.tokenize("Paris is")
        gen = self.m.generate_tokens(ids, max_new_tokens=1, greedy=True, repetition_penalty=1.0)
        self.assertEqual(len(gen), 1)
        rows = self.m.eval_logits(ids)
        self.assertEqual(len(rows), len(ids))
        last = rows[-1]
        self.assertEqual(gen[0], max(range(len(last)), key=last.__getitem__))

    def test_stream_logits_callback(self):
        seen = []

        def on_logits(token, text, logits, ids):
            seen.append((token, ids[0], len(logits)))

        # penalties off: the greedy token is then the top raw logit
        list(self.m.stream("One two", max_new_tokens=4, greedy=True, repetition_penalty=1.0, on_logits=on_logits,
                           logits_top_k=3))
        self.assertTrue(1 <= len(seen) <= 4)
        for token, top, n in seen:
            self.assertEqual(token, top)
            self.assertEqual(n, 3)

    def test_metrics(self):
        self.m.reset_metrics()
        self.assertEqual(self.m.metrics()["tokens_generated"], 0)
        ids = self.m.tokenize("Count me")
        gen = self.m.generate_tokens(ids, max_new_tokens=5, greedy=True)
        m = self.m.metrics()
        self.assertEqual(m["prompt_tokens"], len(ids))
        self.assertEqual(m["tokens_generated"], len(gen))
        self.assertGreater(m["tokens_per_second"], 0)
        self.assertGreater(m["latency_ms"], 0)
        self.assertEqual(m["gpu_utilization"], -1)

    def test_errors(self):
        with self.assertRaises(bitnet.BitNetError) as cm:
            self.m.generate("x" * 2000, max_new_tokens=4)  # longer than the 128-token context
        self.assertEqual(cm.exception.status, bitnet.ERR_CONTEXT_EXCEEDED)
        self.assertFalse(bitnet.is_gpu_available())
        with self.assertRaises(bitnet.BitNetError) as cm:
            bitnet.set_gpu_enabled(True)
        self.assertEqual(cm.exception.status, bitnet.ERR_UNSUPPORTED)
        bitnet.set_gpu_enabled(False)

    def test_free_rules(self):
        other = bitnet.Model(MODEL_PATH, num_threads=1)
        stream = other.stream("Hi", max_new_tokens=4, greedy=True)
        next(stream, None)  # the stream is open now
        with self.assertRaises(bitnet.BitNetError) as cm:
            other.close()
        self.assertEqual(cm.exception.status, bitnet.ERR_INVALID_ARGUMENT)
        stream.close()  # stops the stream
        model_id = other.id
        other.close()
        self.assertFalse(other.is_loaded)
        other.id = model_id
        with self.assertRaises(bitnet.BitNetError) as cm:
            other.generate("x", max_new_tokens=1)
        self.assertEqual(cm.exception.status, bitnet.ERR_INVALID_ID)
        other.id = 0

    def test_threads(self):
        ref = self.m.generate("a b", max_new_tokens=4, greedy=True)
        results = [None] * 3

        def work(i):
            results[i] = self.m.generate("a b", max_new_tokens=4, greedy=True)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [ref] * 3)



class EmbedderTest(unittest.TestCase):
    """bitnet.Embedder against `bitnet embed` (the same library call) on the same model."""

    @classmethod
    def setUpClass(cls):
        cls.e = bitnet.Embedder(MODEL_PATH, num_threads=1)

    @classmethod
    def tearDownClass(cls):
        cls.e.close()

    def cli(self, *args):
        out = subprocess.run([CLI, "embed", "-m", MODEL_PATH, "-t", "1", "-p", "Hello world", *args], check=True,
                             capture_output=True, text=True).stdout
        return [[float(x) for x in line.split()] for line in out.splitlines()]

    def close_to(self, a, b):
        self.assertEqual(len(a), len(b))
        self.assertLess(max(abs(x - y) for x, y in zip(a, b)), 1e-6)

    def test_mean_equals_cli(self):
        v = self.e.embed("Hello world")
        self.assertEqual(len(v), self.e.n_embd)
        self.assertAlmostEqual(sum(x * x for x in v), 1.0, places=5)
        self.close_to(v, self.cli()[0])
        self.assertEqual(self.e.embed("Hello world"), v)  # each text from position 0

    def test_poolings(self):
        rows = self.e.embed("Hello world", pooling="none")
        self.assertEqual(len(rows), len(self.cli("--pooling", "none")))
        for got, want in zip(rows, self.cli("--pooling", "none")):
            self.close_to(got, want)
        self.close_to(self.e.embed("Hello world", pooling="last", normalize=-1), rows[-1])
        self.close_to(self.e.embed("Hello world", pooling="cls", normalize=-1), rows[0])

    def test_bad_pooling(self):
        with self.assertRaises(bitnet.BitNetError) as cm:
            self.e.embed("x", pooling="max")
        self.assertEqual(cm.exception.status, bitnet.ERR_INVALID_ARGUMENT)


if __name__ == "__main__":
    unittest.main()
