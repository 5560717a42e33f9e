"""The Modal images' lock is the versions the suite runs, agrees with the project's declared
dependencies, and holds no test tool or local-only server."""

from __future__ import annotations

import pytest

from infra import lock

IMAGES = ("base", "yolo", "upscale")


def test_the_lock_is_what_this_environment_resolves() -> None:
    """The lock holds the versions installed here, where the suite runs: after a
    dependency changes, ``python -m infra.lock`` rewrites it, or this fails."""
    assert lock.read_lock() == lock.resolve(), "stale: run .venv/bin/python -m infra.lock"
    assert lock.main(["--check"]) == 0


def test_the_lock_agrees_with_the_project_dependencies() -> None:
    """Every image root is declared in pyproject.toml and every locked version is inside
    its declared range."""
    assert lock.disagreements(lock.read_lock(), lock.PYPROJECT.read_text()) == []


PYPROJECT = """
[project]
dependencies = ["boto3>=1.35", "numpy>=1.26,<3", "moto[s3]>=5"]
[project.optional-dependencies]
web = ["fastapi>=0.110", "uvicorn>=0.29"]
ml = ["torch>=2.3"]
"""
GOOD = {"boto3": "1.40.0", "numpy": "2.1.0", "fastapi": "0.120.0"}


def test_the_roots_are_the_runtime_dependencies_less_local_servers() -> None:
    """moto and uvicorn serve locally only; the model image adds its extra."""
    roots = lock.image_roots(PYPROJECT)
    assert roots["base"] == ("boto3", "numpy", "fastapi")
    assert roots["yolo"] == ("boto3", "numpy", "fastapi", "torch")


@pytest.mark.parametrize(
    ("pinned", "problem"),
    [
        ({"numpy": "1.20.0"}, "numpy==1.20.0 is outside pyproject's"),
        ({"numpy": "3.0.0"}, "numpy==3.0.0 is outside"),
        ({"moto": "5.2.5"}, "moto is never installed in an image"),
        ({"pytest": "8.0.0"}, "pytest is never installed"),
        ({"numpy": None}, "numpy is a dependency but not in the lock"),
    ],
)
def test_a_disagreement_is_reported(pinned: dict[str, str | None], problem: str) -> None:
    """The check reads the project's own declarations: a version outside a range, a
    local-only or test package, a declared dependency the lock lacks."""
    base = {k: v for k, v in {**GOOD, **pinned}.items() if v is not None}
    found = lock.disagreements({"base": base}, PYPROJECT)
    assert any(problem in line for line in found), found


def test_a_lock_that_agrees_reports_nothing() -> None:
    assert lock.disagreements({"base": GOOD}, PYPROJECT) == []


@pytest.mark.parametrize("image", IMAGES)
def test_no_image_installs_moto_a_local_server_or_a_test_tool(image: str) -> None:
    pinned = set(lock.read_lock()[image])
    assert not pinned & lock.NEVER_IN_IMAGES
    assert {"boto3", "av", "pydantic-settings", "standardwebhooks", "fastapi"} <= pinned
    assert "uvicorn" not in pinned and "flask" not in pinned


def test_the_model_images_add_torch_and_only_the_detection_image_ultralytics() -> None:
    images = lock.read_lock()
    assert "torch" not in images["base"]
    assert images["upscale"]["torch"] == images["yolo"]["torch"]
    assert "ultralytics-opencv-headless" in images["yolo"]
    assert "ultralytics-opencv-headless" not in images["upscale"]
    assert "opencv-python" not in images["yolo"]  # one OpenCV: the headless one
    for image in ("yolo", "upscale"):  # the model images hold the base image's versions
        assert {k: v for k, v in images[image].items() if k in images["base"]} == images["base"]


def test_the_closure_fails_loudly_on_a_requirement_not_installed() -> None:
    with pytest.raises(lock.LockError, match="not installed"):
        lock.closure(["no-such-package-here"], {})
