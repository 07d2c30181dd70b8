"""The model in this process (transformers), behind the same interface as the HTTP engine,
for machines without vLLM and for evaluating a freshly tuned version before it is served.

torch and transformers are imported inside the functions that need them: importing this module
costs nothing, and the model is loaded once per process, on first use.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from inference.engines.base import ChatRequest, ChatResult, ChatStream, Engine, Message, ModelServerError

LOCAL_SERVER = "local"


class LocalEngine(Engine):
    """A model directory run in-process with transformers: `chat`, `chat_many`, `chat_stream`, like
    the HTTP engine. The prompt is the tokenizer's chat template with the generation prompt added, the
    same ids vLLM builds; temperature 0 decodes greedily.

    Output constraints: `regex` is enforced while decoding (each step keeps the most likely token
    whose text still partly matches the pattern, and the end only once it fully matches), so the
    answer format of single-choice questions holds here too. `json_schema` is not enforced in
    process: the grader parses the output and sends anything that is not a grade to a teacher
    (unreadable_output), as it does for the server's output.
    """

    def __init__(self, path: Path | str, name: str, *, device: str = "auto") -> None:
        self.path = Path(path)
        self.model = name
        self.device = device
        self._loaded: tuple[Any, Any, str] | None = None  # (tokenizer, model, device)
        self._load_lock = threading.Lock()
        # One generate at a time: a model's forward pass is not meant to run in several threads at once.
        self._generate_lock = threading.Lock()

    # --- loading ---------------------------------------------------------------------------------

    def _load(self) -> tuple[Any, Any, str]:
        with self._load_lock:
            if self._loaded is None:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer

                if not (self.path / "config.json").exists():
                    raise ModelServerError(f"{self.path} is not a model directory", extra={"path": str(self.path)})
                device = self.device
                if device == "auto":
                    device = "cuda" if torch.cuda.is_available() else "cpu"
                tokenizer = AutoTokenizer.from_pretrained(self.path)
                if tokenizer.pad_token_id is None:
                    tokenizer.pad_token = tokenizer.eos_token
                model = AutoModelForCausalLM.from_pretrained(self.path, dtype=torch.float32).to(device)
                model.eval()
                self._loaded = (tokenizer, model, device)
            return self._loaded

    def _prompt_ids(self, tokenizer: Any, messages: list[Message]) -> list[int]:
        # As tuning.training.data.prompt_ids and vLLM: the chat template with the generation prompt.
        encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)

    def _generate_kwargs(
        self, tokenizer: Any, *, max_tokens: int, temperature: float, seed: int | None, min_tokens: int = 0
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        }
        if min_tokens:
            kwargs["min_new_tokens"] = min_tokens
        if temperature and temperature > 0:
            import torch

            if seed is not None:
                torch.manual_seed(seed)
            kwargs |= {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0}
        else:
            kwargs["do_sample"] = False
        return kwargs

    # --- the calls -------------------------------------------------------------------------------

    def chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        regex: str | None = None,
        json_schema: dict[str, Any] | None = None,
        return_token_ids: bool = False,
        seed: int | None = 0,
        min_tokens: int = 0,
    ) -> ChatResult:
        return self._generate_batch(
            [messages],
            max_tokens=max_tokens,
            temperature=temperature,
            regex=regex,
            json_schema=json_schema,
            return_token_ids=return_token_ids,
            seed=seed,
            min_tokens=min_tokens,
        )[0]

    def chat_many(self, requests_: list[ChatRequest], *, concurrency: int = 8) -> list[ChatResult | Exception]:
        """Requests that share their settings are generated together, `concurrency` to a padded batch;
        each result is a ChatResult or the error it raised."""
        results: list[ChatResult | Exception | None] = [None] * len(requests_)
        groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
        for index, kwargs in enumerate(requests_):
            groups.setdefault(_settings_key(kwargs), []).append(index)
        size = max(1, concurrency)
        for indices in groups.values():
            for start in range(0, len(indices), size):
                batch = indices[start : start + size]
                options = {key: value for key, value in requests_[batch[0]].items() if key != "messages"}
                outputs: Sequence[ChatResult | Exception]
                try:
                    outputs = self._generate_batch([requests_[index]["messages"] for index in batch], **options)
                except (ModelServerError, ValueError) as exc:
                    outputs = [exc] * len(batch)
                for index, output in zip(batch, outputs, strict=True):
                    results[index] = output
        return results  # type: ignore[return-value]

    def chat_stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = 0,
        min_tokens: int = 0,
    ) -> ChatStream:
        """The reply as it is generated: generate runs in a thread and a TextIteratorStreamer hands
        over the text piece by piece."""
        import torch
        from transformers import TextIteratorStreamer

        tokenizer, model, device = self._load()
        ids = torch.tensor([self._prompt_ids(tokenizer, messages)], device=device)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = self._generate_kwargs(
            tokenizer, max_tokens=max_tokens, temperature=temperature, seed=seed, min_tokens=min_tokens
        )
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with self._generate_lock, torch.inference_mode():
                    model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer, **kwargs)
            except BaseException as exc:  # handed to the reader below
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, name="local-model-stream", daemon=True)
        thread.start()

        def pieces() -> Iterator[str]:
            for piece in streamer:
                if piece:
                    yield piece
            thread.join()
            if failure:
                raise ModelServerError(
                    "the local model stopped while answering", extra={"error": type(failure[0]).__name__}
                ) from failure[0]

        return ChatStream(pieces=pieces(), model=self.model, server=LOCAL_SERVER)

    def served_models(self) -> list[str]:
        return [self.model]

    def served_version(self, server: str) -> str:
        return self.model

    def health(self) -> dict[str, bool]:
        return {LOCAL_SERVER: (self.path / "config.json").exists()}

    # --- generation ------------------------------------------------------------------------------

    def _generate_batch(
        self,
        conversations: list[list[Message]],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        regex: str | None = None,
        json_schema: dict[str, Any] | None = None,
        return_token_ids: bool = False,
        seed: int | None = 0,
        min_tokens: int = 0,
    ) -> list[ChatResult]:
        if regex and json_schema:
            raise ValueError("one output constraint per request: regex or json_schema")
        import torch

        tokenizer, model, device = self._load()
        prompts = [self._prompt_ids(tokenizer, messages) for messages in conversations]
        width = max(len(ids) for ids in prompts)
        # Left padding: every prompt ends where generation starts.
        input_ids = torch.tensor(
            [[tokenizer.pad_token_id] * (width - len(ids)) + ids for ids in prompts], device=device
        )
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts], device=device)
        kwargs = self._generate_kwargs(
            tokenizer, max_tokens=max_tokens, temperature=temperature, seed=seed, min_tokens=min_tokens
        )
        if regex:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList([_regex_processor(tokenizer, regex, prompt_width=width)])
        try:
            with self._generate_lock, torch.inference_mode():
                output = model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        except (RuntimeError, ValueError) as exc:
            raise ModelServerError("the local model failed", extra={"error": f"{type(exc).__name__}: {exc}"}) from exc
        results = []
        for row, ids in zip(output[:, width:].tolist(), prompts, strict=True):
            generated, finish = _until_eos(row, tokenizer.eos_token_id, max_tokens)
            results.append(
                ChatResult(
                    text=tokenizer.decode(generated, skip_special_tokens=True),
                    model=self.model,
                    finish_reason=finish,
                    prompt_token_ids=ids if return_token_ids else None,
                    server=LOCAL_SERVER,
                    completion_tokens=len(generated),
                )
            )
        return results


def _settings_key(kwargs: ChatRequest) -> tuple[tuple[str, str], ...]:
    """Requests batch together only when everything but their messages is the same."""
    return tuple(sorted((key, json.dumps(value, sort_keys=True)) for key, value in kwargs.items() if key != "messages"))


def _until_eos(row: list[int], eos_id: int | None, max_tokens: int) -> tuple[list[int], str]:
    """A row's tokens up to its end (a row that ended before the others is padded after it)."""
    if eos_id is not None and eos_id in row:
        return row[: row.index(eos_id)], "stop"
    return row, "length" if len(row) >= max_tokens else "stop"


def _regex_processor(tokenizer: Any, pattern: str, *, prompt_width: int) -> Any:
    """A LogitsProcessor keeping each row's text a prefix of a match of `pattern`: the best-scoring
    token that keeps it so is the only one left (greedy within the constraint); the end of the text
    only once the whole pattern matches."""
    import regex as re_partial  # type: ignore[import-untyped]  # transformers' own dependency: partial matching
    import torch
    from transformers import LogitsProcessor

    compiled = re_partial.compile(pattern)
    eos = tokenizer.eos_token_id
    # Special tokens write no text: left free they would "match" for ever (as in vLLM, only the end is allowed).
    special = set(tokenizer.all_special_ids) - {eos}

    def acceptable(text: str, *, final: bool) -> bool:
        if final:
            return compiled.fullmatch(text) is not None
        # A character split over tokens decodes as U+FFFD until its last byte arrives: taken as it is, such
        # a token fits only where the pattern takes any character (where it wants "答" or a letter, the
        # vocabulary's whole-character tokens serve).
        return compiled.fullmatch(text, partial=True) is not None

    class RegexPrefix(LogitsProcessor):
        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            for row in range(input_ids.shape[0]):
                generated = input_ids[row, prompt_width:].tolist()
                if eos in generated:
                    continue  # this row has ended; the others go on
                order = torch.argsort(scores[row], descending=True).tolist()
                chosen = None
                for token in order:
                    if token in special:
                        continue
                    if token == eos:
                        ok = acceptable(tokenizer.decode(generated, skip_special_tokens=True), final=True)
                    else:
                        ok = acceptable(tokenizer.decode([*generated, token], skip_special_tokens=True), final=False)
                    if ok:
                        chosen = token
                        break
                if chosen is None:
                    continue  # nothing fits (should not happen): leave the model free
                best = scores[row, chosen].clone()
                scores[row, :] = -float("inf")
                scores[row, chosen] = best
            return scores

    return RegexPrefix()
