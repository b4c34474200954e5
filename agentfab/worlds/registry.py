"""Find a Domain by what a recipe says: a built-in name, `{declared: FILE}` or `{python: MODULE}`."""

from __future__ import annotations

import importlib
from functools import lru_cache
from pathlib import Path

from agentfab.worlds.authoring import domain_from_module
from agentfab.worlds.core import Domain, raised_text

BUILTIN_MODULES = {
    "bank": "agentfab.worlds.bank",
    "shop": "agentfab.worlds.shop",
    "calendar": "agentfab.worlds.calendar",
    "travel": "agentfab.worlds.travel",
}
BUILTIN_DECLARED = {
    "library": Path(__file__).parent / "library" / "domain.yaml",
}
BUILTIN = sorted([*BUILTIN_MODULES, *BUILTIN_DECLARED])


@lru_cache(maxsize=None)
def builtin_domain(name: str) -> Domain:
    if name in BUILTIN_MODULES:
        return domain_from_module(importlib.import_module(BUILTIN_MODULES[name]))
    if name in BUILTIN_DECLARED:
        from agentfab.worlds.declared import load_declared_domain

        return load_declared_domain(BUILTIN_DECLARED[name], source="builtin")
    raise KeyError(f"unknown world {name!r}; built-in worlds are: {', '.join(BUILTIN)}")


@lru_cache(maxsize=None)
def python_domain(module_name: str) -> Domain:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r} ({exc}); is it installed or on PYTHONPATH?") from exc
    except SyntaxError as exc:
        raise ValueError(f"{exc.filename}:{exc.lineno}: {exc.msg} (in world module {module_name!r}); fix the "
                         "module") from None
    except Exception as exc:  # noqa: BLE001 - any error raised while the user's module runs its top level
        raise ValueError(f"world module {module_name!r} raised {raised_text(exc)} while being imported; fix the "
                         "module") from None
    return domain_from_module(module, source="python")


@lru_cache(maxsize=None)
def declared_domain(path: str) -> Domain:
    from agentfab.worlds.declared import load_declared_domain

    return load_declared_domain(Path(path), source="declared")
