"""Checks of plugin.py's generation logic on the CPU, without transformers:
a tiny stand-in model with the same call shape (input_ids, attention_mask,
position_ids, past_key_values -> logits, past_key_values) replaces the
Llama. Run: python3 examples/plugins/torch_causal_lm/check_plugin.py
(needs torch). With --real it builds a 2-layer Llama with transformers.
"""

import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import plugin  # noqa: E402


class StandIn(torch.nn.Module):
    """Next token = (last token * 7 + position) % vocab, as logits; the
    cache is the tokens seen so far."""

    def __init__(self, vocab):
        super().__init__()
        self.vocab = vocab
        self.w = torch.nn.Parameter(torch.zeros(4))

    def forward(self, input_ids, attention_mask, position_ids, past_key_values=None, use_cache=True):
        assert attention_mask.shape[1] == (0 if past_key_values is None else past_key_values.shape[1]) + input_ids.shape[1]
        seen = input_ids if past_key_values is None else torch.cat([past_key_values, input_ids], dim=1)
        nxt = (input_ids * 7 + position_ids) % self.vocab
        logits = torch.nn.functional.one_hot(nxt, self.vocab).float()
        return types.SimpleNamespace(logits=logits, past_key_values=seen)


def standin_builder(cfg, device, dtype, attn):
    return StandIn(cfg["vocab"]).to(device)


def main():
    real = "--real" in sys.argv
    m = plugin.TorchCausalLM(builder=plugin.build_llama if real else standin_builder)
    opts = {"device": "cuda" if torch.cuda.is_available() else "cpu", "vocab": 512}
    if real:
        opts.update(layers=2, hidden=128, intermediate=256, heads=4, kv_heads=2, dtype="float32")
    m.load_model(**opts)
    toks = list(m.infer_stream("hello", max_tokens=5))
    assert len(toks) == 5, toks
    text = m.infer("hello", max_tokens=5)
    assert text == "".join(t["text"] for t in toks), (text, toks)
    # Batched greedy answers equal the single ones (left padding and
    # positions are right).
    prompts = ["hello", "a much longer prompt than that", "x"]
    batch = m.infer_batch(prompts, max_tokens=6)
    for p, b in zip(prompts, batch):
        single = m.infer(p, max_tokens=6)
        assert b["text"] == single, (p, b["text"], single)
        assert b["output_tokens"] == 6 and b["prompt_tokens"] == len(p.encode()) + 1
    if not real:
        # The stand-in's rule: the first new token follows the prompt's
        # last byte at its position.
        ids = m.encode("ab")
        want = (ids[-1] * 7 + len(ids) - 1) % 512
        assert toks and m.infer_stream("ab", max_tokens=1).__next__()["token_id"] == want
    sampled = [m.infer("hello", max_tokens=8, temperature=1.0, top_p=0.9, seed=s) for s in (1, 1, 2)]
    assert sampled[0] == sampled[1], sampled
    st = m.stats()
    assert st["parameters"] >= 4, st
    m.unload_model()
    assert m.stats().get("parameters") is None
    print("plugin checks passed (%s)" % ("transformers Llama" if real else "stand-in model"))


if __name__ == "__main__":
    main()
