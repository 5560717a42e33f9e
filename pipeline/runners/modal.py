"""Run calls in deployed Modal functions, looked up by name.

Deployed functions are found with ``modal.Function.from_name(app, name)``
(never by importing the app's definitions, which are not hydrated), once per
name: ``ModalFunctions.lookup.cache_clear()`` resets the cache. Every stage is a
plain function of that name (``render_overlay``, ``apply_upscale``...), as the
source document's callers look them up; the model stages load their model as
their container starts. Any object with
a ``lookup(name)`` returning something with ``.remote(...)`` can stand in for
Modal (the tests run the same stage code in-process that way).

Example::

    runner = ModalRunner(ModalFunctions("reel-ballers-video"))
    worker = Worker(bucket, settings, runner)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from pipeline.core.setting_groups import DEFAULT_MODAL_APP
from pipeline.manifests.job import StageName
from pipeline.runners.wire import call_to_wire, results_from_wire
from pipeline.stages.base import Call, ProgressFn, StageResult
from pipeline.stages.table import JOIN, PREVIEWS, REEL_ASSEMBLY, STAGE_TABLE

DEFAULT_APP_NAME = DEFAULT_MODAL_APP

# Function names say what each does, as the source document's do: the stage table's
# ``modal_function``, a plain function (``modal.Function.from_name`` finds no method of a
# class).
STAGE_FUNCTIONS: dict[StageName, str] = {
    name: spec.modal_function for name, spec in STAGE_TABLE.items()
}


class RemoteFunction(Protocol):
    """The part of ``modal.Function`` a runner uses."""

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Call it and wait for the result."""
        ...

    def map(self, inputs: Iterable[Any], /) -> Iterable[Any]:
        """Call it once per input, in parallel containers; results in input order."""
        ...


class FunctionRegistry(Protocol):
    """Finds deployed functions by name."""

    def lookup(self, name: str) -> RemoteFunction:
        """The deployed function called ``name``."""
        ...


class ModalFunctions:
    """Deployed functions of one Modal app, looked up lazily and cached."""

    def __init__(self, app_name: str = DEFAULT_APP_NAME) -> None:
        self.app_name = app_name

    @functools.cache  # noqa: B019 - one registry per app name, for the process's life
    def lookup(self, name: str) -> RemoteFunction:
        """``modal.Function.from_name(app, name)``, once per name."""
        import modal

        function: RemoteFunction = modal.Function.from_name(self.app_name, name)
        return function


class ModalRunner:
    """Runs each call in its stage's Modal function; the call itself writes its progress."""

    def __init__(self, functions: FunctionRegistry, *, max_workers: int = 8) -> None:
        self.functions = functions
        self._max_workers = max_workers

    @property
    def machine(self) -> None:
        """Each stage runs on the machine its function declares."""
        return None

    @property
    def retries_calls(self) -> bool:
        """Yes: each stage function retries a transient failure itself (the stage table's
        ``retries``), and its body counts the attempts in the status."""
        return True

    @property
    def max_workers(self) -> int:
        """Containers one stage may fan out to (``settings.costs.max_segment_workers``)."""
        return self._max_workers

    def run(self, call: Call, progress: ProgressFn) -> list[StageResult]:
        """Run ``call`` remotely and wait for it (job errors are raised again here); the
        call writes its progress. A fused call runs in its first stage's function (its
        stages share a machine, so any of their functions fits)."""
        function = self.functions.lookup(function_for(call))
        return results_from_wire(function.remote(call_to_wire(call)))

    def map(self, calls: Sequence[Call], progress: ProgressFn) -> list[list[StageResult]]:
        """Fan the calls out with ``.map`` (one container each); results in order."""
        function = self.functions.lookup(function_for(calls[0]))
        return [results_from_wire(r) for r in function.map([call_to_wire(c) for c in calls])]


def function_for(call: Call) -> str:
    """The deployed function that runs ``call``: the join's for a join, the previews' for
    a cut, the reel assembly's for an assembly, else its first stage's."""
    if call.assembly is not None:
        return REEL_ASSEMBLY.modal_function
    if call.join is not None:
        return JOIN.modal_function
    if call.cut is not None:
        return PREVIEWS.modal_function
    return STAGE_FUNCTIONS[call.head.stage]
