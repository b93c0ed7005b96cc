"""The one tokenizer interface that music and text plug into.

A tokenizer turns one item (a `Score`, a line of text, a labelled sentence ...) into a list of
token strings and back. The vocabulary (ids) is separate: `Vocab` maps the strings to ids. The
stages only ever see this interface, so the same corpus, training and sampling code serves every
task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar


class Tokenizer(ABC):
    """Base class: subclasses set `name` and fill `encode` / `decode`."""

    name: ClassVar[str]

    @abstractmethod
    def encode(self, item: Any) -> list[str]:
        """One item -> its token strings."""

    @abstractmethod
    def decode(self, tokens: list[str], **context: Any) -> Any:
        """Token strings -> an item (context: what the tokens alone do not hold, e.g. chords)."""

    def config(self) -> dict:
        """JSON-serialisable settings; `from_config(config())` rebuilds an equal tokenizer."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> Tokenizer:
        settings = {k: v for k, v in config.items() if k != "name"}
        return cls(**settings)
