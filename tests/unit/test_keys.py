"""Keys: hostile ids and keys are rejected with a clear message; good ones pass."""

from __future__ import annotations

import pytest

from pipeline.core.errors import InvalidKey
from pipeline.core.keys import (
    DEFAULT_LAYOUT,
    Layout,
    inbox_key,
    job_id_for,
    parse_inbox_key,
    validate_id,
    validate_relative_key,
)

user_key = DEFAULT_LAYOUT.user_key
status_key = DEFAULT_LAYOUT.status_key
stage_key = DEFAULT_LAYOUT.stage_key
parse_status_key = DEFAULT_LAYOUT.parse_status_key
TOP_LEVEL = Layout("{user_id}/")  # one folder per user at the top, the app's own layout
LAYOUTS = [DEFAULT_LAYOUT, TOP_LEVEL, Layout("apps/reels/{user_id}/media/")]


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [
        ("alice", "users/alice/"),
        ("user_42", "users/user_42/"),
        ("a.b-c", "users/a.b-c/"),
        ("7", "users/7/"),
    ],
)
def test_good_user_ids_build_user_keys(user_id: str, expected: str) -> None:
    """Plain ids give ``users/{id}/`` prefixes."""
    assert user_key(user_id, "clips/x.mp4") == f"{expected}clips/x.mp4"


@pytest.mark.parametrize(
    ("user_id", "fragment"),
    [
        ("", "not allowed"),
        ("..", "not allowed"),
        ("a..b", "no '..'"),
        ("../etc", "not allowed"),
        ("/root", "not allowed"),
        ("a/b", "not allowed"),
        ("a\\b", "not allowed"),
        ("a\nb", "not allowed"),
        ("a\x00", "not allowed"),
        (".hidden", "starting with a letter"),
        ("x" * 65, "1-64"),
        ("ünï", "not allowed"),
    ],
)
def test_hostile_user_ids_are_rejected(user_id: str, fragment: str) -> None:
    """Ids that could escape or confuse the layout raise InvalidKey saying why."""
    with pytest.raises(InvalidKey, match="user id") as info:
        validate_id(user_id)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "empty"),
        ("../other/clip.mp4", "'..' segment"),
        ("clips/../../users/bob/x.mp4", "'..' segment"),
        ("./clip.mp4", "'.' segment"),
        ("/clips/a.mp4", "starts with '/'"),
        ("clips\\a.mp4", "backslash"),
        ("clips/a\x07.mp4", "control character"),
        ("clips/a\x7f.mp4", "control character"),
        ("clips//a.mp4", "empty path segment"),
        ("clips/", "empty path segment"),
        ("a" * 513, "longer than 512"),
        ("c/" + "a" * 256, "longer than 255"),
    ],
)
def test_hostile_keys_are_rejected(key: str, fragment: str) -> None:
    """Keys that could escape ``users/{user_id}/`` raise InvalidKey with the reason."""
    with pytest.raises(InvalidKey) as info:
        validate_relative_key(key)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "key", ["clip.mp4", "clips/game1.mp4", "a/b/c/d e.mov", "clips/ünïcode-名前.mp4", "x..y.mp4"]
)
def test_good_keys_are_accepted(key: str) -> None:
    """Ordinary relative keys pass unchanged."""
    assert validate_relative_key(key) == key


def test_inbox_keys_round_trip() -> None:
    """An inbox key parses back into its user and request ids."""
    key = inbox_key("alice", "req-1")
    assert key == "inbox/alice/req-1.json"
    entry = parse_inbox_key(key)
    assert (entry.user_id, entry.request_id, entry.key) == ("alice", "req-1", key)


@pytest.mark.parametrize(
    "key",
    ["inbox/alice/req.txt", "inbox/alice/sub/req.json", "outbox/alice/r.json", "inbox/../r.json"],
)
def test_malformed_inbox_keys_are_rejected(key: str) -> None:
    """Anything not shaped inbox/<user>/<request>.json is refused."""
    with pytest.raises(InvalidKey):
        parse_inbox_key(key)


def test_job_ids_depend_on_key_and_etag() -> None:
    """The same upload gives the same job; another ETag or key gives another job."""
    a = job_id_for("inbox/u/r.json", '"abc"')
    assert a == job_id_for("inbox/u/r.json", "abc")
    assert a != job_id_for("inbox/u/r.json", '"abd"')
    assert a != job_id_for("inbox/u/s.json", '"abc"')
    assert status_key("u", a) == f"users/u/jobs/{a}/status.json"
    assert stage_key("u", a, "framing", "video.mp4") == f"users/u/jobs/{a}/framing/video.mp4"


def test_job_and_artifact_names_are_checked() -> None:
    """Job ids and artifact names cannot smuggle paths either."""
    with pytest.raises(InvalidKey):
        status_key("u", "../../x")
    with pytest.raises(InvalidKey):
        stage_key("u", "0" * 20, "framing", "../status.json")


def test_status_keys_round_trip_and_others_are_refused() -> None:
    job = parse_status_key(status_key("alice", "0123456789abcdef0123"))
    assert (job.user_id, job.job_id) == ("alice", "0123456789abcdef0123")
    for other in (
        "users/alice/jobs/0123456789abcdef0123/manifest.json",
        "users/alice/clip.mp4",
        "users/../jobs/0123456789abcdef0123/status.json",
    ):
        with pytest.raises(InvalidKey):
            parse_status_key(other)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.user_root)
@pytest.mark.parametrize(
    "relative", ["../other/clip.mp4", "/clips/a.mp4", "clips/../../x", "a\\b", "clips//a.mp4"]
)
def test_no_key_escapes_the_user_folder_whatever_the_root(layout: Layout, relative: str) -> None:
    """The root template changes where a folder is, never what may be put under it."""
    with pytest.raises(InvalidKey):
        layout.user_key("alice", relative)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.user_root)
def test_every_layout_keeps_users_jobs_and_requests_under_the_root(layout: Layout) -> None:
    job = "0123456789abcdef0123"
    root = layout.user_prefix("alice")
    assert root == layout.user_root.replace("{user_id}", "alice")
    for key in (
        layout.user_key("alice", "clips/a.mp4"),
        layout.status_key("alice", job),
        layout.request_key("alice", "req-1"),
        layout.stage_key("alice", job, "overlay", "video.mp4", epoch=2),
    ):
        assert key.startswith(root)
    ref = layout.parse_status_key(layout.status_key("alice", job))
    assert (ref.user_id, ref.job_id) == ("alice", job)
    with pytest.raises(InvalidKey):
        layout.parse_status_key(layout.user_key("alice", "jobs/x/status.json"))


def test_the_top_level_layout_is_the_apps_own_folders() -> None:
    assert TOP_LEVEL.user_key("alice", "clips/a.mp4") == "alice/clips/a.mp4"
    assert TOP_LEVEL.request_key("alice", "r1") == "alice/requests/r1.json"
    assert TOP_LEVEL.users_prefix == ""


@pytest.mark.parametrize("user_id", ["inbox", "active", "rejected"])
def test_users_named_like_reelpipes_own_folders_are_refused_at_the_top(user_id: str) -> None:
    """With ``{user_id}/`` a user called ``inbox`` would share the inbox folder."""
    with pytest.raises(InvalidKey, match="reserved"):
        TOP_LEVEL.user_prefix(user_id)
    assert DEFAULT_LAYOUT.user_prefix(user_id) == f"users/{user_id}/"


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("users/", "exactly once"),
        ("{user_id}/{user_id}/", "exactly once"),
        ("users/{user_id}", "end with '/'"),
        ("../{user_id}/", "'..'"),
        ("/{user_id}/", "starts with '/'"),
        ("a//{user_id}/", "empty path segment"),
        ("inbox/{user_id}/", "reelpipe's own"),
        ("{user_id}/{job_id}/", "only {user_id}"),
    ],
)
def test_unsafe_user_roots_are_refused(template: str, fragment: str) -> None:
    with pytest.raises(InvalidKey) as info:
        Layout(template)
    assert fragment in str(info.value)
