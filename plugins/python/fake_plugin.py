"""A tiny deterministic fake model, used by piobench's Go tests.

A prompt's tokens are its words; it generates max_tokens tokens derived
from the prompt. FAKE_PLUGIN_MODE makes it misbehave: load_error,
exit_in_load, crash_mid_stream, negative, no_stream (no infer_stream, and
a no-op infer, for the overhead benchmark).
"""

import os
import sys
import zlib

import piobench_plugin

MODE = os.environ.get("FAKE_PLUGIN_MODE", "")


def words(prompt, n):
    seed = zlib.crc32(prompt.encode())
    out = []
    for _ in range(n):
        seed = (seed * 1664525 + 1013904223) % (1 << 32)
        out.append("w%d" % (seed % 50))
    return out


class FakeModel:
    name = "fake_plugin"
    notes = ["deterministic fake model"]

    def __init__(self):
        self.loaded = False

    def load_model(self, **options):
        print("fake_plugin: loading with options %r" % (options,))  # goes to stderr
        if MODE == "load_error":
            raise FileNotFoundError("weights.bin not found")
        if MODE == "exit_in_load":
            sys.stderr.write("fake_plugin: giving up\n")
            sys.stderr.flush()
            os._exit(3)
        self.loaded = True

    def unload_model(self):
        self.loaded = False

    def info(self):
        return {"seq_len": 4096}

    def count_tokens(self, text):
        return len(text.split())

    def infer(self, prompt, max_tokens=16, **params):
        if not self.loaded:
            raise RuntimeError("infer before load")
        w = words(prompt, max_tokens if max_tokens > 0 else 16)
        if MODE == "negative":
            return {"text": " ".join(w), "output_tokens": -3}
        return " ".join(w)

    def infer_stream(self, prompt, max_tokens=16, **params):
        if not self.loaded:
            raise RuntimeError("infer before load")
        for i, t in enumerate(words(prompt, max_tokens if max_tokens > 0 else 16)):
            if MODE == "crash_mid_stream" and i == 2:
                sys.stderr.write("fake_plugin: CUDA error: an illegal memory access was encountered\n")
                sys.stderr.flush()
                os._exit(7)
            yield t if i == 0 else " " + t
        if MODE == "negative":
            return {"output_tokens": -3}
        return {"prompt_tokens": len(prompt.split())}

    def infer_batch(self, prompts, max_tokens=16, **params):
        return [" ".join(words(p, max_tokens)) for p in prompts]

    def stats(self):
        return {"weight_bytes": 1 << 20}


class NoopModel:
    """Answers at once: the protocol's own cost."""

    name = "noop"

    def load_model(self):
        pass

    def infer(self, prompt, **params):
        return {"text": "x", "prompt_tokens": 1, "output_tokens": 1}


if __name__ == "__main__":
    piobench_plugin.serve(NoopModel() if MODE == "no_stream" else FakeModel())
