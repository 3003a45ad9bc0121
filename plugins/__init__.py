"""harness's built-in plugins.

Each module is a plugin registered through the `harness` entry-point group in
pyproject.toml, exactly as a third-party package would register its own.
"""
