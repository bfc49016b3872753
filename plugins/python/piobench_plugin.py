"""Serve a Python model to piobench over its plugin protocol.

A plugin is a script that builds the model object and hands it to serve()::

    import piobench_plugin

    class MyModel:
        def load_model(self, **options):   # called by piobench's load
            ...
        def infer(self, prompt, **params):  # max_tokens, temperature, top_p, seed, stop
            return "generated text"          # or a dict, see below

    if __name__ == "__main__":
        piobench_plugin.serve(MyModel())

and is benchmarked with ``piobench run --driver proc --command "python3 my_plugin.py"``.

Optional methods, used when present:

* ``infer_stream(prompt, **params)``: a generator yielding each token as it
  is made (a str, or a dict with "text" and optionally "token_id" and "n",
  the number of tokens in the chunk). It may ``return`` a dict with
  "prompt_tokens" (and anything else of the result below).
* ``infer_batch(prompts, **params)``: a list of answers, one per prompt,
  computed together (true batching).
* ``unload_model()``: free the model (piobench times unload + load as a
  warm reload).
* ``stats()``: a dict of memory figures in bytes ("weight_bytes",
  "cache_bytes", "device_bytes", "peak_device_bytes", or any other name).
  When PyTorch has initialised CUDA, torch.cuda's allocator statistics are
  added by this module.
* ``count_tokens(text)``: the number of tokens in text, used where an
  answer does not say.
* ``info()``: a dict describing the model (for example "seq_len",
  "parameters", "dtype").

An answer of infer (or an element of infer_batch's list) is either the
generated text, or a dict with "text", "prompt_tokens", "output_tokens" and
"finish_reason". Where counts are missing they come from count_tokens(), or
else from counting whitespace-separated words (the result then says
"counted": "words").

This module uses the standard library only. Anything the model prints to
stdout goes to stderr, so it cannot break the protocol; stderr is kept in a
log by piobench.
"""

import collections
import gc
import inspect
import json
import os
import select
import sys
import traceback

PROTOCOL_VERSION = 1

__all__ = ["serve", "PROTOCOL_VERSION"]


class Cancelled(Exception):
    """Raised inside a streaming call that piobench cancelled."""


class _Channel:
    """The protocol's output, on the process's original stdout."""

    def __init__(self):
        self._fd = os.dup(1)
        # From now on fd 1 (print, C libraries) goes to stderr.
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self._dumps = json.JSONEncoder(separators=(",", ":"), default=_json_default).encode

    def send(self, msg):
        data = (self._dumps(msg) + "\n").encode("utf-8")
        while data:
            n = os.write(self._fd, data)
            data = data[n:]

    def result(self, mid, result):
        self.send({"id": mid, "result": result if result is not None else {}})

    def error(self, mid, exc):
        self.send({
            "id": mid,
            "error": {
                "message": str(exc) or type(exc).__name__,
                "type": type(exc).__name__,
                "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:],
            },
        })


class _Input:
    """Request lines from stdin, read without blocking when asked, so that
    a streaming call can look for a cancel between tokens."""

    def __init__(self):
        self._buf = b""
        self.eof = False

    def _fill(self, block):
        if not block:
            try:
                ready, _, _ = select.select([0], [], [], 0)
            except (OSError, ValueError):
                return False
            if not ready:
                return False
        data = os.read(0, 1 << 16)
        if not data:
            self.eof = True
            return False
        self._buf += data
        return True

    def line(self, block=True):
        """The next line, or None: at the end of input, or when block is
        false and no whole line has arrived."""
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line, self._buf = self._buf[:i], self._buf[i + 1:]
                return line
            if self.eof:
                line, self._buf = self._buf, b""
                return line or None
            if not self._fill(block) and not self.eof:
                return None


def _json_default(v):
    for attr in ("item", "tolist"):
        if hasattr(v, attr):
            return getattr(v, attr)()
    return str(v)


_SIGS = {}


def _accepted(fn, params):
    """The part of params that fn accepts (all of it if fn takes **kwargs)."""
    key = getattr(fn, "__func__", fn)
    names = _SIGS.get(key, False)
    if names is False:
        names = set()
        try:
            for p in inspect.signature(fn).parameters.values():
                if p.kind == p.VAR_KEYWORD:
                    names = None
                    break
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                    names.add(p.name)
        except (TypeError, ValueError):
            names = None
        _SIGS[key] = names
    if names is None:
        return dict(params)
    return {k: v for k, v in params.items() if k in names}


_PARAMS = ("max_tokens", "temperature", "top_p", "seed", "stop")


class _Server:
    def __init__(self, model, name=None):
        self.model = model
        self.name = name or getattr(model, "name", None) or type(model).__name__
        self.chan = _Channel()
        self.input = _Input()
        self.pending = collections.deque()  # requests that came during a stream
        self.cancelled = set()
        self.loaded = False

    def _take(self, line):
        """Parse a request line; cancels are answered here and now."""
        line = line.strip()
        if not line:
            return None
        try:
            req = json.loads(line)
        except ValueError as e:
            print("piobench_plugin: ignoring a request that is not JSON: %s" % e, file=sys.stderr)
            return None
        if req.get("method") == "cancel":
            self.cancelled.add((req.get("params") or {}).get("id"))
            self.chan.result(req.get("id"), {})
            return None
        return req

    def _poll(self):
        """Read what has arrived without waiting (between tokens)."""
        while True:
            line = self.input.line(block=False)
            if line is None:
                return
            req = self._take(line)
            if req is not None:
                self.pending.append(req)

    def run(self):
        while True:
            if self.pending:
                req = self.pending.popleft()
            else:
                line = self.input.line()
                if line is None:
                    return  # stdin closed: piobench has gone
                req = self._take(line)
                if req is None:
                    continue
            mid = req.get("id")
            method = req.get("method")
            params = req.get("params") or {}
            handler = getattr(self, "_do_" + str(method), None)
            if handler is None:
                self.chan.error(mid, ValueError("unknown method %r" % method))
                continue
            try:
                result = handler(mid, params)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                self.chan.error(mid, e)
                continue
            finally:
                self.cancelled.discard(mid)
            self.chan.result(mid, result)
            if method == "shutdown":
                return

    def _is_cancelled(self, mid):
        self._poll()
        return mid in self.cancelled

    def _do_handshake(self, mid, params):
        caps = ["unload", "stats", "cancel"]
        if callable(getattr(self.model, "infer_stream", None)):
            caps.append("stream")
        if callable(getattr(self.model, "infer_batch", None)):
            caps.append("batch")
        info = {}
        if callable(getattr(self.model, "info", None)):
            info = dict(self.model.info() or {})
        notes = list(getattr(self.model, "notes", []) or [])
        return {
            "protocol": PROTOCOL_VERSION,
            "name": self.name,
            "capabilities": caps,
            "pid": os.getpid(),
            "runtime": "python " + sys.version.split()[0],
            "info": info,
            "notes": notes,
        }

    def _do_load(self, mid, params):
        options = params.get("options") or {}
        fn = getattr(self.model, "load_model", None)
        if callable(fn):
            kw = _accepted(fn, options)
            ignored = sorted(set(options) - set(kw))
            if ignored:
                print("piobench_plugin: load_model() takes no option(s) %s; ignored" % ", ".join(ignored), file=sys.stderr)
            fn(**kw)
        self.loaded = True
        return {}

    def _do_unload(self, mid, params):
        fn = getattr(self.model, "unload_model", None)
        if callable(fn):
            fn()
        self.loaded = False
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and _cuda_ready(torch):
            torch.cuda.empty_cache()
        return {}

    def _count(self, text):
        fn = getattr(self.model, "count_tokens", None)
        if callable(fn):
            return int(fn(text)), None
        return len(text.split()), "words"

    def _finish(self, prompt, res, streamed_text=None, streamed_n=None):
        """Turn an answer into the protocol's result."""
        if isinstance(res, str):
            res = {"text": res}
        elif res is None:
            res = {}
        elif not isinstance(res, dict):
            res = {"text": str(res)}
        out = dict(res)
        if "text" not in out:
            out["text"] = streamed_text if streamed_text is not None else ""
        counted = None
        if out.get("output_tokens") is None:
            if streamed_n is not None:
                out["output_tokens"] = streamed_n
            else:
                out["output_tokens"], counted = self._count(out["text"])
        if out.get("prompt_tokens") is None:
            out["prompt_tokens"], c = self._count(prompt)
            counted = counted or c
        if counted:
            out["counted"] = counted
        return out

    def _kw(self, fn, params):
        return _accepted(fn, {k: params[k] for k in _PARAMS if k in params and params[k] is not None})

    def _do_infer(self, mid, params):
        prompt = params.get("prompt", "")
        stream_fn = getattr(self.model, "infer_stream", None)
        if params.get("stream") and callable(stream_fn):
            return self._stream(mid, prompt, stream_fn, params)
        fn = getattr(self.model, "infer", None)
        if not callable(fn):
            if callable(stream_fn):
                return self._stream(mid, prompt, stream_fn, params, send=False)
            raise TypeError("the model has no infer() method")
        return self._finish(prompt, fn(prompt, **self._kw(fn, params)))

    def _stream(self, mid, prompt, fn, params, send=True):
        gen = fn(prompt, **self._kw(fn, params))
        pieces = []
        n = 0
        returned = None
        while True:
            try:
                tok = next(gen)
            except StopIteration as stop:
                returned = stop.value
                break
            if isinstance(tok, dict):
                data = {"text": str(tok.get("text", ""))}
                if tok.get("token_id") is not None:
                    data["token_id"] = int(tok["token_id"])
                k = int(tok.get("n", 1))
                if k != 1:
                    data["n"] = k
            else:
                data = {"text": str(tok)}
                k = 1
            pieces.append(data["text"])
            n += k
            if send:
                self.chan.send({"id": mid, "event": "token", "data": data})
            if self._is_cancelled(mid):
                gen.close()
                raise Cancelled("cancelled by piobench after %d tokens" % n)
        return self._finish(prompt, returned, streamed_text="".join(pieces), streamed_n=n)

    def _do_infer_batch(self, mid, params):
        reqs = params.get("requests") or []
        fn = getattr(self.model, "infer_batch", None)
        out = [None] * len(reqs)
        if not callable(fn):
            for i, r in enumerate(reqs):
                r = dict(r)
                r["stream"] = False
                out[i] = self._do_infer(mid, r)
            return {"responses": out}
        # Requests with the same parameters go together in one call.
        groups = {}
        for i, r in enumerate(reqs):
            key = json.dumps({k: r.get(k) for k in _PARAMS}, sort_keys=True)
            groups.setdefault(key, []).append(i)
        for idxs in groups.values():
            first = reqs[idxs[0]]
            prompts = [reqs[i].get("prompt", "") for i in idxs]
            answers = list(fn(prompts, **self._kw(fn, first)))
            if len(answers) != len(prompts):
                raise ValueError("infer_batch returned %d answers for %d prompts" % (len(answers), len(prompts)))
            for i, a in zip(idxs, answers):
                out[i] = self._finish(reqs[i].get("prompt", ""), a)
        return {"responses": out}

    def _do_stats(self, mid, params):
        st = {}
        fn = getattr(self.model, "stats", None)
        if callable(fn):
            st.update(fn() or {})
        try:
            import resource

            kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            st.setdefault("max_rss_bytes", kb * (1 if sys.platform == "darwin" else 1024))
        except ImportError:
            pass
        torch = sys.modules.get("torch")
        if torch is not None and _cuda_ready(torch):
            st.setdefault("device_bytes", torch.cuda.memory_reserved())
            st.setdefault("peak_device_bytes", torch.cuda.max_memory_reserved())
            st.setdefault("torch_memory_allocated", torch.cuda.memory_allocated())
            st.setdefault("torch_max_memory_allocated", torch.cuda.max_memory_allocated())
            st.setdefault("torch_memory_reserved", torch.cuda.memory_reserved())
            st.setdefault("torch_max_memory_reserved", torch.cuda.max_memory_reserved())
        return st

    def _do_shutdown(self, mid, params):
        return {}


def _cuda_ready(torch):
    try:
        return torch.cuda.is_available() and torch.cuda.is_initialized()
    except Exception:  # noqa: BLE001
        return False


def serve(model, name=None):
    """Answer piobench's requests for model until piobench says shutdown or
    closes stdin. Call it last in the plugin script."""
    _Server(model, name=name).run()
