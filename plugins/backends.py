"""The built-in model backends: `hf` (transformers, local weights) and `openai`.

Each is a settings dataclass plus a small `Backend` subclass; the model code lives in
`harness.models.hf` and `harness.models.openai_compat` and is imported when a run loads
a model, never when the plugin is listed.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from typing import ClassVar

from harness import Backend, Capabilities, hookimpl
from harness.errors import InputError
from harness.models.base import LanguageModel
from harness.models.options import DEVICE_HELP, DTYPE_HELP, device_error, dtype_error
from harness.registry import Registry

_CHAT_TEMPLATE = ("auto", "on", "off")
_ENDPOINTS = ("completions", "chat")


@dataclass(frozen=True)
class HFSettings:
    """Loading a causal LM with transformers."""

    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:N or mps"})
    dtype: str = field(default="auto", metadata={"help": "auto (bf16 on CUDA, fp32 on CPU), ..."})
    chat_template: str = field(
        default="auto", metadata={"help": "auto (when the tokenizer has one), on or off"}
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "run the model repository's own code"}
    )
    batch_size: int = field(default=16, metadata={"help": "sequences per forward pass"})

    def validate(self) -> None:
        for error, help_ in (
            (device_error(self.device), DEVICE_HELP),
            (dtype_error(self.dtype), DTYPE_HELP),
        ):
            if error:
                raise ValueError(f"{error}: {help_}")
        if self.chat_template not in _CHAT_TEMPLATE:
            raise ValueError(f"chat_template must be one of {list(_CHAT_TEMPLATE)}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


class HFBackend(Backend):
    """Any `AutoModelForCausalLM`, from a Hub id or a local folder, on one device."""

    name = "hf"
    description = "transformers causal LMs: log-likelihoods, generation, local weights"
    settings_class = HFSettings
    capabilities: ClassVar[Capabilities] = Capabilities(local_weights=True)
    run_config_keys = ("device", "dtype", "chat_template", "trust_remote_code", "batch_size")
    not_in_identity = ("batch_size",)

    def check(self, model: str) -> None:
        from harness.models.options import check_model_location

        check_model_location(model)

    def probe(self, model: str) -> None:
        from harness.models.hf import probe_model

        probe_model(model, trust_remote_code=self.settings.trust_remote_code)

    def identity(self, model: str) -> dict[str, object]:
        from harness.manifest import model_hash

        # a local folder is keyed by its files, a Hub id by its name
        return {**super().identity(model), "sha256": model_hash(model)}

    def describe(self, model: str) -> str:
        return model

    def load(self, model: str) -> LanguageModel:
        from harness.models.hf import HFModel

        s: HFSettings = self.settings
        return HFModel.load(
            model,
            device=s.device,
            dtype=s.dtype,
            trust_remote_code=s.trust_remote_code,
            chat_template=s.chat_template,
            batch_size=s.batch_size,
        )


@dataclass(frozen=True)
class OpenAISettings:
    """An OpenAI-compatible server (OpenAI, vLLM, `transformers serve`, ...)."""

    base_url: str = field(
        default="https://api.openai.com/v1", metadata={"help": "the API root, ending in /v1"}
    )
    endpoint: str = field(
        default="completions",
        metadata={
            "help": "'completions' (/v1/completions, raw prompt) or 'chat' "
            "(/v1/chat/completions, the prompt as one user message)"
        },
    )
    api_key_env: str | None = field(
        default="OPENAI_API_KEY",
        metadata={
            "help": "environment variable holding the API key (the key is never "
            "written anywhere); null for a server without keys"
        },
    )
    max_concurrency: int = field(default=4, metadata={"help": "requests in flight at once"})
    max_retries: int = field(
        default=5, metadata={"help": "retries of a request on 408/409/429/5xx and timeouts"}
    )
    timeout: float = field(default=60.0, metadata={"help": "seconds per request attempt"})
    logprobs: bool = field(
        default=False,
        metadata={
            "help": "the server returns prompt log-probabilities (echo with "
            "logprobs, as vLLM does): score classification by log-likelihood"
        },
    )
    price_input_per_million: float | None = field(
        default=None, metadata={"help": "price of a million input tokens (cost api_cost_usd)"}
    )
    price_output_per_million: float | None = field(
        default=None, metadata={"help": "price of a million output tokens"}
    )

    def validate(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if self.endpoint not in _ENDPOINTS:
            raise ValueError(f"endpoint must be one of {list(_ENDPOINTS)}, got {self.endpoint!r}")
        if self.logprobs and self.endpoint != "completions":
            raise ValueError("logprobs: true needs endpoint: completions (prompt echo)")
        if self.max_concurrency < 1 or self.max_retries < 0 or not self.timeout > 0:
            raise ValueError("max_concurrency >= 1, max_retries >= 0 and timeout > 0 are needed")
        if not math.isfinite(self.timeout) or self.timeout > _MAX_TIMEOUT_S:
            raise ValueError(
                f"timeout is seconds per request, at most {_MAX_TIMEOUT_S:.0e}, got {self.timeout}"
            )
        for price in (self.price_input_per_million, self.price_output_per_million):
            if price is not None and not (math.isfinite(price) and price >= 0):
                raise ValueError(f"a price must be a finite number of at least 0, got {price}")


#: the longest request timeout, in seconds (longer ones overflow the client's clock)
_MAX_TIMEOUT_S = 1e9


class OpenAIBackend(Backend):
    """Models served behind an OpenAI-compatible HTTP API."""

    name = "openai"
    description = "OpenAI-compatible servers: generation; log-likelihoods with logprobs: true"
    settings_class = OpenAISettings
    capabilities: ClassVar[Capabilities] = Capabilities(
        loglikelihood=False, generation=True, token_counting=False, local_weights=False
    )
    not_in_identity = (
        "api_key_env",
        "max_concurrency",
        "max_retries",
        "timeout",
        "price_input_per_million",
        "price_output_per_million",
    )

    def capabilities_for(self) -> Capabilities:
        s: OpenAISettings = self.settings
        return Capabilities(
            loglikelihood=s.logprobs, generation=True, token_counting=False, local_weights=False
        )

    def check(self, model: str) -> None:
        s: OpenAISettings = self.settings
        if importlib.util.find_spec("openai") is None:
            raise InputError.single(
                "model",
                "model.backend",
                "backend 'openai' needs the openai package",
                "pip install 'harness[openai]'",
            )
        from harness.models.openai_compat import OpenAIOptions, api_key

        if (
            s.api_key_env
            and api_key(OpenAIOptions(base_url=s.base_url, api_key_env=s.api_key_env)) is None
        ):
            raise InputError.single(
                "model",
                "model.api_key_env",
                f"the environment variable {s.api_key_env} (the API key) is not set",
                f"export {s.api_key_env}=..., or set api_key_env: null for a server without keys",
            )

    def load(self, model: str) -> LanguageModel:
        from dataclasses import asdict

        from harness.models.openai_compat import OpenAIModel, OpenAIOptions

        return OpenAIModel(model, OpenAIOptions(**asdict(self.settings)))


@hookimpl
def harness_register_backends(registry: Registry) -> None:
    registry.add(HFBackend)
    registry.add(OpenAIBackend)
