"""The embedded SmolLM2-135M-Instruct model, for real (slow: loads llama.cpp and generates)."""

import subprocess

import pytest

pytestmark = pytest.mark.slow


def test_archon_run_with_no_config_uses_embedded_model():
    proc = subprocess.run(["archon", "run", "Say hello."], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert "1 call (0 from cache)" in proc.stderr


def test_local_architecture_end_to_end(tmp_path):
    from archon import Archon

    cfg = {
        "layers": [
            [{"type": "generator", "model_type": "local", "samples": 2, "max_tokens": 48}],
            [{"type": "ranker", "model_type": "local", "top_k": 1, "max_tokens": 24, "parse_retries": 1}],
            [{"type": "fuser", "model_type": "local", "max_tokens": 48}],
        ]
    }
    with Archon(cfg, cache=tmp_path / "c.sqlite") as a:
        results = a.run_batch(["What is 2 + 2?", "Name a fruit."])
        assert all(r.answer and r.error is None for r in results)
        usage = results[0].trace.usage
        assert usage.calls >= 4 and usage.output_tokens > 0 and usage.cost_usd == 0
        # Samples from the local model differ by seed; the cache serves a rerun.
        again = a.run_batch(["What is 2 + 2?", "Name a fruit."])
    assert [r.answer for r in again] == [r.answer for r in results]
    assert all(r.trace.usage.new_calls == 0 and r.trace.usage.calls > 0 for r in again)


async def test_a_prompt_longer_than_the_context_is_shortened_to_fit():
    from archon.providers import ChatRequest
    from archon.providers.local import LocalProvider

    # A fuser puts every candidate into its system prompt: that is the message to shorten.
    system = "Fuse the candidates below.\n\n" + " ".join(f"word{i}" for i in range(8000)) + "\n\nEnd of candidates."
    req = ChatRequest(
        model="", messages=[{"role": "system", "content": system}, {"role": "user", "content": "Say hi."}], max_tokens=8
    )
    result = await LocalProvider().chat(req)
    assert result.texts[0].strip()
    assert 0 < result.input_tokens < 8000
    assert result.prompt_tokens_dropped > 4000  # what was cut is said, not hidden

    # Two long messages share the room: each keeps its start and its end.
    from archon.providers.local import _fit

    llm = LocalProvider()._model("")
    long_user = "Question start. " + " ".join(f"q{i}" for i in range(6000)) + " Question end?"
    fitted, dropped = _fit(llm, [{"role": "system", "content": system}, {"role": "user", "content": long_user}], 256)
    assert [m["content"][:10] for m in fitted] == ["Fuse the c", "Question s"]
    assert fitted[0]["content"].endswith("End of candidates.") and fitted[1]["content"].endswith("Question end?")
    sizes = [len(llm.tokenize(m["content"].encode(), add_bos=False)) for m in fitted]
    assert sum(sizes) < llm.n_ctx() - 256 and min(sizes) > 1000
    assert dropped > 8000


def test_a_cut_prompt_is_reported_on_stderr_and_in_the_trace(tmp_path):
    import json

    long_prompt = "Summarise: " + " ".join(f"word{i}" for i in range(6000))
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"layers": [[{"type": "generator", "model_type": "local", "max_tokens": 8}]]}))
    proc = subprocess.run(
        ["archon", "run", str(cfg), long_prompt, "--trace", str(tmp_path / "t.jsonl")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(row for row in proc.stderr.splitlines() if "the prompt was cut" in row)
    dropped = int(line.split("(")[-1].split()[0])
    assert dropped > 2000 and "SmolLM2-135M-Instruct's context" in line
    call = json.loads((tmp_path / "t.jsonl").read_text())["trace"]["layers"][0]["components"][0]["calls"][0]
    assert call["prompt_tokens_dropped"] == dropped


async def test_a_call_given_up_frees_the_model_at_once(monkeypatch):
    import asyncio

    from archon.providers import ChatRequest
    from archon.providers.local import LocalProvider

    provider = LocalProvider()
    real_model = provider._model

    class NeverEnding:
        """The model with end-of-sequence banned, so that a reply runs to max_tokens."""

        def __init__(self, llm):
            self.llm = llm

        def __getattr__(self, name):
            return getattr(self.llm, name)

        def create_chat_completion(self, logits_processor, **kw):
            eos = self.llm.token_eos()
            generation = {"budget": kw["max_tokens"], "tokens": 0}
            generations.append(generation)

            def ban_eos(input_ids, scores):
                generation["tokens"] += 1
                scores[eos] = float("-inf")
                return scores

            return self.llm.create_chat_completion(logits_processor=[ban_eos, *logits_processor], **kw)

    generations: list[dict] = []  # the budget and the tokens made of each generation, in order
    long = ChatRequest(model="", messages=[{"role": "user", "content": "Tell a story."}], max_tokens=3000)
    monkeypatch.setattr(provider, "_model", lambda name: NeverEnding(real_model(name)))
    await provider.chat(ChatRequest(model="", messages=[{"role": "user", "content": "Hi"}], max_tokens=2))  # load
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(provider.chat(long), timeout=0.5)
    short = await provider.chat(ChatRequest(model="", messages=[{"role": "user", "content": "Hi"}], max_tokens=4))
    # The abandoned generation (3000 tokens, about 30 s here) was ended when given up, so it did not hold the
    # model: it stopped far short of its budget (with end-of-sequence banned, only the cancellation ends it early).
    _load, abandoned, _short = generations
    assert short.texts and abandoned["tokens"] < abandoned["budget"] // 2
