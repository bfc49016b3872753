"""A piobench plugin: a Hugging Face transformers causal LM with random
weights, generating on CUDA with streaming.

The model is built from a configuration (Llama architecture, about 1.1
billion parameters in bfloat16 by default), so nothing is downloaded; its
text is meaningless, its cost is real. Tokens are bytes (ids 3..258), so no
tokenizer files are needed either.

    piobench run --driver proc --command "python3 examples/plugins/torch_causal_lm/plugin.py" \\
        --suite performance --plugin-option layers=22

Load options (--plugin-option KEY=VALUE): layers, hidden, intermediate,
heads, kv_heads, vocab, seq_len, dtype (bfloat16, float16, float32),
device (cuda, cpu), seed, attn (sdpa, eager).
"""

import gc
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "plugins", "python"))

import piobench_plugin  # noqa: E402

import torch  # noqa: E402

PAD, BOS, EOS, OFFSET = 0, 1, 2, 3


def build_llama(cfg, device, dtype, attn):
    """A LlamaForCausalLM with random weights, made on the device."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(
        vocab_size=cfg["vocab"],
        hidden_size=cfg["hidden"],
        intermediate_size=cfg["intermediate"],
        num_hidden_layers=cfg["layers"],
        num_attention_heads=cfg["heads"],
        num_key_value_heads=cfg["kv_heads"],
        max_position_embeddings=cfg["seq_len"],
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        pad_token_id=PAD,
        bos_token_id=BOS,
        eos_token_id=EOS,
    )
    config._attn_implementation = attn
    with torch.device(device):
        try:
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        except TypeError:
            model = AutoModelForCausalLM.from_config(config, torch_dtype=dtype)
    return model.to(device=device, dtype=dtype).eval()


class TorchCausalLM:
    name = "torch_causal_lm"
    notes = ["weights are random (built from a config, nothing downloaded): speed and memory are real, text is not"]

    defaults = dict(layers=22, hidden=2048, intermediate=5632, heads=32, kv_heads=4, vocab=32000, seq_len=4096,
                    dtype="bfloat16", device="cuda", seed=0, attn="sdpa")

    def __init__(self, builder=build_llama):
        self.builder = builder
        self.model = None
        self.cfg = dict(self.defaults)
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self.context_bytes_at_load = None

    # -- loading ---------------------------------------------------------

    def load_model(self, **options):
        cfg = dict(self.defaults)
        for k, v in options.items():
            if k not in cfg:
                raise ValueError("unknown option %r (known: %s)" % (k, ", ".join(sorted(cfg))))
            cfg[k] = type(cfg[k])(v)
        self.cfg = cfg
        self.device = torch.device(cfg["device"])
        self.dtype = getattr(torch, cfg["dtype"])
        torch.manual_seed(cfg["seed"])
        if self.device.type == "cuda":
            torch.cuda.init()
        self.model = self.builder(cfg, self.device, self.dtype, cfg["attn"])
        self._sync()
        if self.device.type == "cuda":
            free, total = torch.cuda.mem_get_info()
            self.context_bytes_at_load = (total - free) - torch.cuda.memory_reserved()
        print("torch_causal_lm: %d parameters, %s on %s" % (self.parameters(), cfg["dtype"], self.device), file=sys.stderr)

    def unload_model(self):
        self.model = None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def parameters(self):
        return sum(p.numel() for p in self.model.parameters()) if self.model is not None else 0

    def info(self):
        return {
            "architecture": "llama (transformers, random weights)",
            "layers": self.cfg["layers"],
            "hidden": self.cfg["hidden"],
            "dtype": self.cfg["dtype"],
            "seq_len": self.cfg["seq_len"],
            "torch": torch.__version__,
        }

    def stats(self):
        st = {}
        if self.model is not None:
            st["weight_bytes"] = sum(p.numel() * p.element_size() for p in self.model.parameters())
            st["parameters"] = self.parameters()
        if self.device.type == "cuda":
            free, total = torch.cuda.mem_get_info()
            used = total - free
            # The device holds this process alone, so what it uses beyond
            # the allocator's pool is the CUDA context (and libraries).
            st["cuda_device_used_bytes"] = used
            st["cuda_context_bytes"] = used - torch.cuda.memory_reserved()
            if self.context_bytes_at_load is not None:
                st["cuda_context_bytes_at_load"] = self.context_bytes_at_load
        return st

    # -- tokens ----------------------------------------------------------

    def encode(self, text):
        return [BOS] + [b + OFFSET for b in text.encode("utf-8")]

    def decode_one(self, tid):
        if OFFSET <= tid < OFFSET + 256:
            return bytes([tid - OFFSET]).decode("latin-1")
        return "<%d>" % tid

    def count_tokens(self, text):
        return len(self.encode(text))

    # -- generation ------------------------------------------------------

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def _pick(self, logits, temperature, top_p, gen):
        if not temperature or temperature <= 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        if top_p and 0 < top_p < 1:
            sorted_p, idx = probs.sort(dim=-1, descending=True)
            keep = sorted_p.cumsum(dim=-1) - sorted_p < top_p
            sorted_p = sorted_p * keep
            probs = torch.zeros_like(probs).scatter(-1, idx, sorted_p)
        return torch.multinomial(probs, 1, generator=gen).squeeze(-1)

    @torch.inference_mode()
    def _steps(self, prompts, max_tokens, temperature=0.0, top_p=0.0, seed=0):
        """Yield the next token of every sequence (a list of ids), step by
        step, for a left-padded batch with a KV cache."""
        if self.model is None:
            raise RuntimeError("model not loaded")
        ids = [self.encode(p)[-(self.cfg["seq_len"] - max_tokens):] for p in prompts]
        n = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), n), PAD, dtype=torch.long, device=self.device)
        mask = torch.zeros((len(ids), n), dtype=torch.long, device=self.device)
        for i, x in enumerate(ids):
            input_ids[i, n - len(x):] = torch.tensor(x, device=self.device)
            mask[i, n - len(x):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        gen = None
        if temperature and temperature > 0:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(int(seed))
        try:
            # Logits of the last position only: the prefill of a long batch
            # would otherwise hold batch x length x vocab of them.
            out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
        except TypeError:
            out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=pos, use_cache=True)
        past = out.past_key_values
        nxt = self._pick(out.logits[:, -1, :], temperature, top_p, gen)
        for step in range(max_tokens):
            yield nxt.tolist()  # waits for the GPU: the token exists now
            if step == max_tokens - 1:
                return
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
            pos = pos[:, -1:] + 1
            out = self.model(input_ids=nxt[:, None], attention_mask=mask, position_ids=pos, past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = self._pick(out.logits[:, -1, :], temperature, top_p, gen)

    def infer_stream(self, prompt, max_tokens=16, temperature=0.0, top_p=0.0, seed=0, **_):
        max_tokens = max(int(max_tokens), 1)
        for toks in self._steps([prompt], max_tokens, temperature, top_p, seed):
            yield {"text": self.decode_one(toks[0]), "token_id": toks[0]}
        return {"prompt_tokens": len(self.encode(prompt)), "finish_reason": "length"}

    def infer(self, prompt, **params):
        return "".join(t["text"] for t in self.infer_stream(prompt, **params))

    def infer_batch(self, prompts, max_tokens=16, temperature=0.0, top_p=0.0, seed=0, **_):
        max_tokens = max(int(max_tokens), 1)
        outs = [[] for _ in prompts]
        for toks in self._steps(prompts, max_tokens, temperature, top_p, seed):
            for o, t in zip(outs, toks):
                o.append(t)
        return [
            {"text": "".join(self.decode_one(t) for t in o), "prompt_tokens": len(self.encode(p)),
             "output_tokens": len(o), "finish_reason": "length"}
            for p, o in zip(prompts, outs)
        ]


if __name__ == "__main__":
    piobench_plugin.serve(TorchCausalLM())
