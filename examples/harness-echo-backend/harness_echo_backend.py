"""An example third-party backend: `echo` answers every prompt with its last word.

It has no log-likelihoods (classification is scored by generation and label mapping)
and no local weights; `generation: false` turns generation off too, which the plan
refuses for suites that need it. Install it with `pip install ./examples/harness-echo-backend`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness import Backend, Capabilities, hookimpl


@dataclass(frozen=True)
class EchoSettings:
    generation: bool = field(default=True, metadata={"help": "whether the model generates"})
    suffix: str = field(default="", metadata={"help": "added to every answer"})


class EchoModel:
    """Answers with the prompt's last word (and the suffix)."""

    def __init__(self, name, settings):
        self.name = name
        self.settings = settings
        self.capabilities = EchoBackend(settings).capabilities_for()
        self.calls = 0

    def generate(self, requests, progress=None):
        self.calls += len(requests)
        texts = []
        for request in requests:
            words = request.prompt.split()
            texts.append(" " + (words[-1] if words else "") + self.settings.suffix)
        if progress is not None:
            progress(len(requests))
        return texts

    def loglikelihood(self, requests, progress=None):
        raise NotImplementedError("echo has no log-likelihoods")

    def count_tokens(self, text):
        return len(text.split())

    def usage(self):
        return {"requests": float(self.calls)}


class EchoBackend(Backend):
    name = "echo"
    description = "answers with the prompt's last word (example plugin)"
    settings_class = EchoSettings
    capabilities = Capabilities(loglikelihood=False, token_counting=True)

    def capabilities_for(self):
        return Capabilities(
            loglikelihood=False, generation=self.settings.generation, token_counting=True
        )

    def load(self, model):
        return EchoModel(model, self.settings)


@hookimpl
def harness_register_backends(registry):
    registry.add(EchoBackend)
