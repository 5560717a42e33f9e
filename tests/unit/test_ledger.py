"""The cost ledger's arithmetic: one price table, reserved machines billed for their
whole calls (container start included), this computer for the CPU it spent."""

from __future__ import annotations

import pytest

from pipeline.core.errors import ConfigError
from pipeline.core.machines import Rates
from pipeline.core.usage import FirstCall, cpu_seconds, process_age_s
from pipeline.manifests.job import StageName
from pipeline.manifests.status import StatusManifest
from pipeline.runners.ledger import busy_shares, charged
from pipeline.stages.base import ProgressShare, StageResult
from pipeline.stages.table import Artifact, Image, Machine
from pipeline.status.transitions import orchestrator_charged, stage_finished, with_stage

T4_SMALL = Machine(gpu="T4", image=Image.BASE, cpu=2.0, memory_mb=4096)
RATES = Rates(
    gpu_usd_per_s={"T4": 0.0002}, cpu_core_usd_per_s=0.00001, memory_gib_usd_per_s=0.000002
)


def result(**fields: object) -> StageResult:
    base: dict[str, object] = {"outputs": {Artifact.VIDEO: "k"}, "frames": 30, "backend": "b"}
    return StageResult(**{**base, **fields})  # type: ignore[arg-type]


def test_a_reserved_machine_is_billed_for_its_share_of_the_call_and_its_start() -> None:
    """10 s of call after 2 s of container start, half of it this stage's: 6 s of T4,
    2 cores x 6 s, 4 GiB x 6 s, 1 s of start."""
    used = charged(result(), T4_SMALL, seconds=10.0, startup_s=2.0, cpu_used=99.0, share=0.5)
    assert (used.gpu, used.gpu_seconds, used.cpu_seconds) == ("T4", 6.0, 12.0)
    assert (used.memory_gib_seconds, used.startup_s) == (24.0, 1.0)
    cpu_only = Machine(gpu=None, image=Image.BASE, cpu=4.0, memory_mb=1024)
    plain = charged(result(), cpu_only, seconds=3.0, startup_s=0.0, cpu_used=0.0)
    assert (plain.gpu_seconds, plain.cpu_seconds, plain.memory_gib_seconds) == (0.0, 12.0, 3.0)


def test_this_computer_is_charged_the_cpu_it_spent() -> None:
    used = charged(result(), None, seconds=10.0, startup_s=5.0, cpu_used=3.0, share=0.25)
    assert (used.gpu_seconds, used.cpu_seconds, used.memory_gib_seconds) == (0.0, 0.75, 0.0)


def test_busy_shares_split_a_fused_call_by_each_stages_own_seconds() -> None:
    shares = busy_shares([result(busy_s=1.0), result(busy_s=3.0)])
    assert shares == [0.25, 0.75]
    assert busy_shares([result(), result()]) == [0.5, 0.5]


def test_one_table_prices_gpu_cpu_and_memory() -> None:
    assert RATES.price("T4", 10.0, 20.0, 40.0) == pytest.approx(
        10 * 0.0002 + 20 * 0.00001 + 40 * 0.000002
    )
    assert RATES.per_second("T4", 2.0, 4096) == pytest.approx(0.0002 + 2 * 0.00001 + 4 * 0.000002)
    assert RATES.price(None, 5.0, 1.0, 0.0) == pytest.approx(0.00001)  # no GPU: no GPU cost
    with pytest.raises(ConfigError, match="no price for GPU 'B200'"):
        RATES.price("B200", 1.0, 0.0, 0.0)
    measured = Rates(measured=("T4",)).provenance()
    assert ("GPU T4 /s", 0.000164, True) in measured and ("GPU L4 /s", 0.000222, False) in measured


def test_the_status_adds_each_stage_and_the_orchestrator_to_the_job() -> None:
    status = StatusManifest(job_id="j", user_id="u", manifest_key="m")
    status = with_stage(status, StageName.OVERLAY)
    used = charged(result(), T4_SMALL, seconds=10.0, startup_s=0.0, cpu_used=0.0)
    done = stage_finished(StageName.OVERLAY, ProgressShare(), used, 10.0, "key", RATES)(status)
    record = done.stages[StageName.OVERLAY]
    stage_cost = 10 * 0.0002 + 20 * 0.00001 + 40 * 0.000002
    assert record.cost_usd == pytest.approx(stage_cost)
    assert (record.gpu_seconds, record.cpu_seconds, record.memory_gib_seconds) == (10, 20, 40)
    final = orchestrator_charged(done, cpu_seconds=5.0, memory_gib_seconds=10.0, cost_usd=0.001)
    assert final.cpu_seconds == 25.0 and final.memory_gib_seconds == 50.0
    assert final.cost_usd == pytest.approx(stage_cost + 0.001)


def test_the_clocks_read_this_process() -> None:
    """CPU seconds grow with work; the process's age is positive; start billed once."""
    began = cpu_seconds()
    sum(i * i for i in range(300_000))
    assert cpu_seconds() > began
    assert process_age_s() > 0
    first = FirstCall()
    assert first.startup_s() > 0 and first.startup_s() == 0.0
