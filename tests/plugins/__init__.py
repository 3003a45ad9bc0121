"""Throwaway plugins used by the tests, loaded with `--plugin tests.plugins.NAME`."""
