"""Conformance suites shipped as code, for plugin authors to subclass."""
