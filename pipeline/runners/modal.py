"""Run stages as deployed Modal functions, looked up by name.

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

from pipeline.core.settings import DEFAULT_MODAL_APP
from pipeline.manifests.job import StageName
from pipeline.runners.wire import (
    group_to_wire,
    request_to_wire,
    result_from_wire,
    results_from_wire,
)
from pipeline.stages.base import AnyStageRequest, ProgressFn, StageResult
from pipeline.stages.table import STAGE_TABLE

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
    """Calls each stage's Modal function; the stage itself writes its progress."""

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
        """Containers one stage may fan out to (``Settings.max_segment_workers``)."""
        return self._max_workers

    def run_stage(self, request: AnyStageRequest, progress: ProgressFn) -> StageResult:
        """Run the stage remotely and wait for it (job errors are raised again here)."""
        function = self.functions.lookup(STAGE_FUNCTIONS[request.stage])
        return result_from_wire(function.remote(request_to_wire(request)))

    def run_group(
        self, requests: Sequence[AnyStageRequest], progress: ProgressFn
    ) -> list[StageResult]:
        """Run a fused group in one call of its first stage's function (the stages share
        a machine, so any of their functions fits); the call writes their progress."""
        function = self.functions.lookup(STAGE_FUNCTIONS[requests[0].stage])
        return results_from_wire(function.remote(group_to_wire(requests)))

    def run_segments(
        self, requests: Sequence[AnyStageRequest], progress: ProgressFn
    ) -> list[StageResult]:
        """Fan the segments out with ``.map`` (one container each); results in order."""
        function = self.functions.lookup(STAGE_FUNCTIONS[requests[0].stage])
        return [result_from_wire(r) for r in function.map([request_to_wire(q) for q in requests])]
