"""pytest plugin entry point (``pytest11``) exposing the ts conformance suites."""
