"""Super-resolution: the network loads through the real loader, tiles are seamless,
the classical backend beats bicubic on a real photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow  # real models (random weights): run alone with -m slow

from pipeline.core.errors import ConfigError  # noqa: E402
from pipeline.superres.backends import ModelUpscaler, load_model  # noqa: E402
from pipeline.superres.srvgg import SRVGGNetCompact, load_srvgg  # noqa: E402
from pipeline.superres.tiling import tiled_forward  # noqa: E402


def small_net(num_conv: int = 4, upscale: int = 4) -> SRVGGNetCompact:
    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=16, num_conv=num_conv, upscale=upscale)
    return net.eval()


def save(net: SRVGGNetCompact, path: Path, key: str | None = "params_ema") -> Path:
    state = net.state_dict()
    torch.save({key: state} if key else state, path)
    return path


@pytest.mark.parametrize("key", ["params_ema", "params", None])
def test_published_layouts_load_through_the_real_loader(tmp_path: Path, key: str | None) -> None:
    """A random-weight net saved as Real-ESRGAN publishes it loads back identically."""
    net = small_net()
    loaded = load_srvgg(save(net, tmp_path / "w.pth", key))
    assert (loaded.num_conv, loaded.upscale) == (4, 4)
    x = torch.rand(1, 3, 12, 10)
    with torch.inference_mode():
        assert torch.equal(net(x), loaded(x))
    assert loaded(x).shape == (1, 3, 48, 40)


def test_the_real_architectures_are_recognised(tmp_path: Path) -> None:
    """The animevideov3 shape (64 features, 16 convs, x4) is read off the tensors."""
    net = SRVGGNetCompact(num_feat=64, num_conv=16, upscale=4)
    loaded = load_srvgg(save(net, tmp_path / "realesr-animevideov3.pth"))
    assert (loaded.body[0].out_channels, loaded.num_conv, loaded.upscale) == (64, 16, 4)
    assert loaded.receptive_radius == 18


def test_missing_weights_name_the_setting(tmp_path: Path) -> None:
    """A path that does not exist says which setting to fix."""
    with pytest.raises(ConfigError, match="REELPIPE_UPSCALE_WEIGHTS"):
        load_srvgg(tmp_path / "nope.pth")


def test_truncated_and_garbage_files_fail_clearly(tmp_path: Path) -> None:
    """Half a file, or no torch file at all, is a clear error, not a traceback."""
    good = save(small_net(), tmp_path / "w.pth").read_bytes()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a model" * 100)
    for path in (truncated, garbage):
        with pytest.raises(ConfigError, match="cannot read upscale weights"):
            load_srvgg(path)


def test_wrong_state_dicts_fail_clearly(tmp_path: Path) -> None:
    """A state dict of another network is refused with the reason."""
    path = tmp_path / "other.pth"
    torch.save({"params": {"conv.weight": torch.zeros(3, 3, 3, 3)}}, path)
    with pytest.raises(ConfigError, match="not an SRVGGNetCompact"):
        load_srvgg(path)
    torch.save({"something": 1}, path)
    with pytest.raises(ConfigError, match="params_ema"):
        load_srvgg(path)


@pytest.mark.parametrize(("height", "width", "tile"), [(37, 53, 16), (64, 64, 32), (20, 90, 24)])
def test_tiled_inference_equals_whole_frame(height: int, width: int, tile: int) -> None:
    """With overlap >= the receptive radius, tiles leave no seams (sizes not tile multiples)."""
    net = small_net()
    x = torch.rand(2, 3, height, width)
    with torch.inference_mode():
        whole = net(x)
        tiled = tiled_forward(net, x, scale=4, tile=tile, overlap=net.receptive_radius)
    assert tiled.shape == whole.shape
    assert torch.allclose(tiled, whole, atol=1e-5)


def test_tiled_x4_to_x2_equals_whole_frame_area_average() -> None:
    """Downscaling tile by tile (x4 net, x2 out) matches area-averaging the whole x4 frame."""
    net = small_net()
    x = torch.rand(1, 3, 30, 45)
    with torch.inference_mode():
        whole = torch.nn.functional.avg_pool2d(net(x), 2)
        tiled = tiled_forward(net, x, scale=4, tile=16, overlap=net.receptive_radius, downscale=2)
    assert tiled.shape == (1, 3, 60, 90)
    assert torch.allclose(tiled, whole, atol=1e-5)


def test_too_little_overlap_shows_seams() -> None:
    """The overlap matters: without it tiles differ from the whole frame."""
    net = small_net()
    x = torch.rand(1, 3, 40, 40)
    with torch.inference_mode():
        whole = net(x)
        tiled = tiled_forward(net, x, scale=4, tile=16, overlap=0)
    assert not torch.allclose(tiled, whole, atol=1e-3)


def test_model_upscaler_turns_x4_into_x2(tmp_path: Path) -> None:
    """A x4 model asked for x2 gives exactly twice the size, on yuv420p planes."""
    weights = save(small_net(), tmp_path / "w.pth")
    load_model.cache_clear()
    upscaler = ModelUpscaler(weights, 2, tile=16)
    y = np.full((24, 32), 120, np.uint8)
    u = np.full((12, 16), 128, np.uint8)
    (out,) = upscaler.upscale_batch([(y, u, u.copy())])
    assert out[0].shape == (48, 64) and out[1].shape == (24, 32)
    assert load_model(weights, "cpu") is upscaler.model  # loaded once per process


def test_the_model_is_loaded_at_container_start_not_in_a_request(tmp_path: Path) -> None:
    """``warm_models`` (a Modal class's ``@modal.enter``) loads the weights; the request's
    upscaler then finds them loaded: no load inside the request."""
    from pipeline.core.settings import Settings
    from pipeline.manifests.job import StageName
    from pipeline.stages.warm import warm_models
    from pipeline.superres.backends import select_backend

    weights = save(small_net(), tmp_path / "warm.pth")
    settings = Settings(upscale_weights=weights, scratch_dir=tmp_path)
    load_model.cache_clear()
    assert warm_models(settings, StageName.UPSCALE) == ("srvgg:warm.pth",)
    assert load_model.cache_info().misses == 1
    upscaler = select_backend(settings, 2, "model")  # what a request builds
    assert upscaler.name.startswith("srvgg-x4")
    assert (load_model.cache_info().misses, load_model.cache_info().hits) == (1, 1)
    assert warm_models(settings, StageName.OVERLAY) == ()  # no model: nothing to load
