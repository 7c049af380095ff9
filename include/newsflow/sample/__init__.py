"""The bundled sample site (``site/``) and the small loopback server that serves it for the demo and tests."""

from newsflow.sample.server import SAMPLE_SITE, StaticSite

__all__ = ["SAMPLE_SITE", "StaticSite"]
