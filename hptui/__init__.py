"""hptui: hyperparameter search, watched and steered from the terminal.

From Python::

    from hptui import Objective, search

    objective = Objective(space={...}, default={...}, train=train)

    if __name__ == "__main__":
        result = search(objective, profile="quick", db="runs.db")

The names are imported when first used: `hptui` itself (the command line's package) stays
light to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.objective import Objective, ObjectiveError, Pruned
    from hptui.api import SearchResult, search

__all__ = ["Objective", "ObjectiveError", "Pruned", "SearchResult", "search"]

_FROM = {
    "Objective": "engine.objective",
    "ObjectiveError": "engine.objective",
    "Pruned": "engine.objective",
    "SearchResult": "hptui.api",
    "search": "hptui.api",
}


def __getattr__(name: str) -> Any:
    if name not in _FROM:
        raise AttributeError(f"module 'hptui' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_FROM[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
