"""The pretrained-weights gate: cached files are used, missing ones fail fast as MetricUnavailable."""

from __future__ import annotations

import time

import pytest

from omnitok.metrics import MetricUnavailable
from omnitok.metrics.weights import hub_cache_path, hub_weights, offline


def test_a_cached_file_is_used_without_network(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    url = "https://example.invalid/models/net-0123abcd.pth"
    path = hub_cache_path(url)
    assert path == tmp_path / "hub" / "checkpoints" / "net-0123abcd.pth"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    assert hub_weights(url, check_hash=True) == path


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("ON", True), ("0", False), ("", False)])
def test_offline_reads_the_usual_variables(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("OMNITOK_OFFLINE", value)
    assert offline() is expected


def test_a_failed_download_is_unavailable_quickly(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Not offline by the environment, but nothing answers: one quick failure, no retry loop, nothing cached."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("OMNITOK_OFFLINE", raising=False)
    url = "http://127.0.0.1:9/net-0123abcd.pth"  # discard port: connection refused at once
    start = time.monotonic()
    with pytest.raises(MetricUnavailable, match=r"^weights not found: could not download"):
        hub_weights(url)
    assert time.monotonic() - start < 5
    assert not hub_cache_path(url).exists()
