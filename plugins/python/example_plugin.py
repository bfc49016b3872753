"""An example piobench plugin: a word-level bigram model, trained at load
time on a built-in text, standing in for any Python model.

Run it with:

    piobench run --driver proc --command "python3 plugins/python/example_plugin.py" --suite performance

Shape of a plugin: a class with load_model() and infer(prompt, **params),
optionally infer_stream() (a generator of tokens, for time to first token
and per-token latency), infer_batch(), unload_model(), stats() and info(),
handed to piobench_plugin.serve().
"""

import collections
import random
import time

import piobench_plugin

TEXT = """
the benchmark measures the model and the model answers the prompt with tokens
tokens arrive one after another and the benchmark stamps each token on arrival
a plugin is a process that speaks the protocol over its stdin and its stdout
""".split()


class BigramModel:
    name = "example_bigram"
    notes = ["toy bigram model trained on a few lines of text"]

    def __init__(self):
        self.table = None

    def load_model(self, delay_s=0.0):
        time.sleep(float(delay_s))  # stands in for reading weights
        table = collections.defaultdict(list)
        for a, b in zip(TEXT, TEXT[1:]):
            table[a].append(b)
        self.table = dict(table)

    def unload_model(self):
        self.table = None

    def info(self):
        return {"vocabulary": len(set(TEXT)), "seq_len": 2048}

    def count_tokens(self, text):
        return len(text.split())

    def _next(self, word, rng, temperature):
        choices = self.table.get(word) or TEXT
        if temperature <= 0:
            return collections.Counter(choices).most_common(1)[0][0]
        return rng.choice(choices)

    def infer_stream(self, prompt, max_tokens=16, temperature=0.0, seed=0, **_):
        if self.table is None:
            raise RuntimeError("model not loaded")
        rng = random.Random(seed)
        word = (prompt.split() or ["the"])[-1]
        for i in range(max_tokens):
            word = self._next(word, rng, temperature)
            time.sleep(0.001)  # a token's worth of work
            yield word if i == 0 else " " + word

    def infer(self, prompt, **params):
        return "".join(self.infer_stream(prompt, **params))


if __name__ == "__main__":
    piobench_plugin.serve(BigramModel())
