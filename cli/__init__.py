"""Command line interface (installed as ``omnitok.cli``; console script ``omnitok``)."""
