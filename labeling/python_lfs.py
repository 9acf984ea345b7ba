"""Bridge to Python LFs: ``ref = "module:function"`` names a Snorkel labeling function.

The function may be a ``@labeling_function`` (``LabelingFunction``) or a plain ``f(row) -> int``;
either way it runs under the task's LF name through Snorkel's own ``PandasLFApplier``, and must
return -1 (abstain) or the index of one of the task's labels.
"""
from __future__ import annotations

import importlib

from snorkel.labeling import LabelingFunction

from datasets.errors import GoldloopError
from labeling.task import LFSpec


def resolve(spec: LFSpec, where: str) -> LabelingFunction:
    """Import ``spec.ref`` and return it as a Snorkel LF named ``spec.name``."""
    module_name, _, attr = spec.ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise GoldloopError(f"{where}: LF {spec.name!r}: cannot import module {module_name!r}: {exc}") from exc
    target = getattr(module, attr, None)
    if isinstance(target, LabelingFunction):
        return LabelingFunction(spec.name, f=target._f, resources=target._resources, pre=target._pre)
    if callable(target):
        return LabelingFunction(spec.name, f=target)
    raise GoldloopError(f"{where}: LF {spec.name!r}: {spec.ref!r} is not a labeling function or callable")
