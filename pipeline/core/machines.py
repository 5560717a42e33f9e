"""The planner's machines and the one price table: what a stage costs where it runs.

Measured figures live here beside the estimates, each saying where it came from;
:class:`pipeline.core.setting_groups.CostSettings` carries them into a process's settings.

Example::

    profile = DEFAULT_COMPUTE["cpu"]
    profile.pass_cost("overlay")       # PassCost(start_s=0.6, ...)
    Rates().gpu("T4")                  # 0.000164
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.core.errors import ConfigError

Thresholds = tuple[tuple[float, int], ...]

# (clip seconds up to, workers): the cost-optimised thresholds (measured in production
# on Modal: a second worker pays for itself from about 30 s of clip).
DEFAULT_THRESHOLDS: Thresholds = ((30.0, 1), (90.0, 2), (180.0, 4), (float("inf"), 8))


class PassCost(BaseModel):
    """One stage's seconds inside a pass on one machine, as measured there.

    A pass decodes its input once, runs each stage's step and encodes once: the stage
    heading it pays ``start_s`` (processes, probe, upload) and the decode of the frames it
    reads; each stage pays its step per frame and per megapixel it hands on; the stage
    ending it pays the encode of what it writes. A stage run on its own is a pass of one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_s: float = Field(0.0, ge=0, description="once per pass, paid by its head")
    decode_s_per_mpx: float = Field(0.0, ge=0, description="per megapixel decoded (head)")
    step_s_per_frame: float = Field(0.0, ge=0, description="per frame the stage handles")
    step_s_per_mpx: float = Field(0.0, ge=0, description="per megapixel the stage hands on")
    encode_s_per_frame: float = Field(0.0, ge=0, description="per frame encoded (end)")
    encode_s_per_mpx: float = Field(0.0, ge=0, description="per megapixel encoded (end)")


class ComputeProfile(BaseModel):
    """One machine type in the planner: start-up and throughput (prices: :class:`Rates`).

    The overheads measured in production: one worker pays ``startup_s`` (cold start); N
    parallel workers pay ``parallel_startup_s`` each and start producing
    frames ``parallel_wall_s`` after the call (coordination included).

    Throughput is either ``fps`` (frames a second per stage, measured on frames of
    ``reference_pixels``; other sizes are scaled by their pixels), or, where measured,
    ``passes``: each stage's :class:`PassCost` by stage and mode (``"upscale"``,
    ``"upscale:model"``, ``"detect:yolo"``; a mode not listed uses its stage's), with
    ``interpolation_s_per_mpx`` for each megapixel a slowed piece writes, by mode.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    startup_s: float = Field(5.0, ge=0)
    parallel_startup_s: float = Field(7.0, ge=0)
    parallel_wall_s: float = Field(12.0, ge=0)
    fps: dict[str, float] = Field(description="frames a second per stage on this machine")
    reference_pixels: int = Field(
        1920 * 1080, gt=0, description="the frame size (pixels) ``fps`` was measured at"
    )
    passes: dict[str, PassCost] = Field(
        default_factory=dict, description="per-pixel costs by stage[:mode], where measured"
    )
    interpolation_s_per_mpx: dict[str, float] = Field(
        default_factory=dict, description="seconds per megapixel of slowed output, by mode"
    )

    def fps_for(self, stage: str) -> float:
        """Throughput of ``stage``; the overlay's rate for stages not measured."""
        return self.fps.get(stage) or self.fps.get("overlay") or 30.0

    def pass_cost(self, stage: str, mode: str = "") -> PassCost | None:
        """The per-pixel costs of ``stage`` in ``mode`` (else its stage's); None when this
        machine is planned by ``fps``."""
        return self.passes.get(f"{stage}:{mode}") or self.passes.get(stage)


# Measured in production on Modal: 60 fps overlay on a T4.
MEASURED_T4 = ComputeProfile(fps={"overlay": 60.0, "detect": 60.0, "upscale": 6.0})

# The local machine's per-pixel costs, fitted to ``python -m bench.plan_accuracy``
# (bench/README.md, "Honest estimates"): x264 at the final profile, ffmpeg for framing
# and PyAV for the frame stages; motion-compensated slow motion is the costly mode.
# PyAV decodes on its own threads beside the encode (its decode mostly hidden); inside a
# pass the encoder's thread counts for the stage ending it: the overlay's step per
# megapixel holds the encode of what it draws. Detect is not in the bench.
MEASURED_CPU_PASSES: dict[str, PassCost] = {
    "framing": PassCost(
        start_s=0.17, decode_s_per_mpx=0.0006, encode_s_per_frame=0.0018, encode_s_per_mpx=0.0058
    ),
    "overlay": PassCost(
        start_s=0.6,
        decode_s_per_mpx=0.0004,
        step_s_per_frame=0.0012,
        step_s_per_mpx=0.007,
        encode_s_per_mpx=0.0002,
    ),
    "upscale": PassCost(
        start_s=1.0, decode_s_per_mpx=0.0004, step_s_per_mpx=0.0037, encode_s_per_mpx=0.0002
    ),
    "upscale:model": PassCost(
        start_s=2.0, decode_s_per_mpx=0.0004, step_s_per_mpx=2.5, encode_s_per_mpx=0.0002
    ),
    "detect": PassCost(start_s=0.3, decode_s_per_mpx=0.0047, step_s_per_frame=0.006),
    "detect:yolo": PassCost(start_s=2.0, decode_s_per_mpx=0.0047, step_s_per_frame=0.036),
}
MEASURED_CPU_INTERPOLATION = {"blend": 0.0004, "motion": 0.14}

# Throughputs not measured there are estimates (relative to the T4) until
# bench/gpu.py runs on such a machine; replace them through settings.
DEFAULT_COMPUTE: dict[str, ComputeProfile] = {
    "T4": MEASURED_T4,
    "L4": ComputeProfile(fps={"overlay": 75.0, "detect": 120.0, "upscale": 14.0}),
    "A10G": ComputeProfile(fps={"overlay": 80.0, "detect": 140.0, "upscale": 16.0}),
    "cpu": ComputeProfile(
        startup_s=2.0,
        parallel_startup_s=3.0,
        parallel_wall_s=6.0,
        fps={"overlay": 40.0, "framing": 60.0, "detect": 8.0, "upscale": 2.0},
        passes=MEASURED_CPU_PASSES,
        interpolation_s_per_mpx=MEASURED_CPU_INTERPOLATION,
    ),
}


class Rates(BaseModel):
    """The one price table: a GPU-second by kind, a reserved core-second, a GiB-second.

    Defaults are Modal's published per-second list prices: estimates until a bill
    confirms them (name those in ``measured``). For comparison, a production bill came
    to $0.000463 a T4 GPU-second all in, about 2.8x the T4's list price.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    gpu_usd_per_s: dict[str, float] = Field(
        default_factory=lambda: {
            "T4": 0.000164,
            "L4": 0.000222,
            "A10G": 0.000306,
            "A100": 0.000583,
            "H100": 0.001097,
        }
    )
    cpu_core_usd_per_s: float = Field(0.0000131, ge=0, description="one reserved core")
    memory_gib_usd_per_s: float = Field(0.00000222, ge=0, description="one reserved GiB")
    measured: tuple[str, ...] = Field(
        (), description="rates a bill confirmed: GPU kinds, 'cpu', 'memory'"
    )

    def gpu(self, kind: str | None) -> float:
        """A GPU-second of ``kind`` (None: no GPU); ConfigError for a kind not priced."""
        if kind is None:
            return 0.0
        try:
            return self.gpu_usd_per_s[kind]
        except KeyError:
            raise ConfigError(f"no price for GPU {kind!r}: add it to the rates") from None

    def per_second(self, gpu: str | None, cpu: float, memory_mb: float) -> float:
        """A second of a machine with that GPU, reserved cores and memory."""
        return (
            self.gpu(gpu)
            + cpu * self.cpu_core_usd_per_s
            + memory_mb / 1024 * self.memory_gib_usd_per_s
        )

    def price(self, gpu: str | None, gpu_s: float, cpu_core_s: float, memory_gib_s: float) -> float:
        """What that use costs."""
        return (
            gpu_s * self.gpu(gpu)
            + cpu_core_s * self.cpu_core_usd_per_s
            + memory_gib_s * self.memory_gib_usd_per_s
        )

    def provenance(self) -> list[tuple[str, float, bool]]:
        """``(name, rate, measured)`` of every rate, for ``reelpipe plan``."""
        rows = [(f"GPU {k} /s", v, k in self.measured) for k, v in self.gpu_usd_per_s.items()]
        rows.append(("CPU core /s", self.cpu_core_usd_per_s, "cpu" in self.measured))
        rows.append(("memory GiB /s", self.memory_gib_usd_per_s, "memory" in self.measured))
        return rows
