"""Test kit: tiny real models that load through the same path as any Hugging Face model."""

from harness.testing.tiny_model import build_tiny_llama

__all__ = ["build_tiny_llama"]
