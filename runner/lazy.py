"""The public face of each subpackage, imported on first use.

A subpackage's `__init__` names what it offers and the private module that holds it;
nothing is imported until a name is asked for. So `deploycheck backups verify FILE`
does not pay for croniter, pymysql or pydantic, and `__init__` files can never form
an import cycle.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose public `names` live in the given modules."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
