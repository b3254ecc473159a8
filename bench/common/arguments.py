"""The benchmark scripts' command lines: a parser whose help is the script's own docstring."""
from __future__ import annotations

import argparse

__all__ = ["doc_parser"]


def doc_parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser described by the docstring's first paragraph, with the rest as its epilog."""
    intro, rest = doc.split("\n\n", 1)
    return argparse.ArgumentParser(description=intro.replace("\n", " "), epilog=rest,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
