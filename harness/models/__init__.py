"""Model backends: what turns prompts into text and continuations into log-likelihoods."""

from harness.models.base import (
    ContinuationScore,
    GenerationRequest,
    LanguageModel,
    ScoreRequest,
)

__all__ = ["ContinuationScore", "GenerationRequest", "LanguageModel", "ScoreRequest"]
