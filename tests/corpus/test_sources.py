"""``--data`` sources of ``omnitok tokenize`` without Ray: which source a reference names, listing rules on an fsspec
filesystem (hidden names and other suffixes skipped, keys relative to the folder, sorted), captions, and errors."""

from __future__ import annotations

import fsspec
import pytest

from omnitok.corpus.sources import FsspecFolder, LocalFiles, PackedInputs, open_source
from omnitok.errors import ConfigError, DataError
from omnitok.modalities import get_modality

IMAGE = get_modality("image")


def test_each_reference_names_its_source(tmp_path):
    (tmp_path / "packed").mkdir()
    (tmp_path / "packed" / "pack.json").write_text("{}")
    assert isinstance(open_source(str(tmp_path)), LocalFiles)
    assert isinstance(open_source(f"file://{tmp_path}"), LocalFiles)
    assert isinstance(open_source(str(tmp_path / "packed")), PackedInputs)
    assert isinstance(open_source("s3://bucket/packed"), PackedInputs)  # object storage: packed shards via litdata
    assert isinstance(open_source("https://example.org/images/"), FsspecFolder)


@pytest.fixture
def memory_folder():
    fs = fsspec.filesystem("memory")
    for name, data in {"b.png": b"B", "a/c.PNG": b"C", "a/c.txt": b"caption c\n", ".hidden/d.png": b"D",
                       "notes.md": b"-"}.items():  # fmt: skip
        fs.pipe(f"/corpus/{name}", data)
    yield "memory://corpus"
    fs.rm("/corpus", recursive=True)


def test_fsspec_folder_lists_and_fetches_with_captions(memory_folder):
    source = open_source(memory_folder)
    inputs = source.list_inputs(IMAGE)
    assert [key for key, _ in inputs] == ["a/c.PNG", "b.png"]
    with source.open_input(inputs[0][1]) as (path, name, text):
        assert path.read_bytes() == b"C" and path.suffix == ".PNG" and name.endswith("/corpus/a/c.PNG")
        assert text == "caption c"
    assert not path.exists()  # the temporary copy is gone
    with source.open_input(inputs[1][1]) as (_, _, text):
        assert text is None


def test_bad_sources_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="fsspec cannot open"):
        open_source("nosuchprotocol://x").list_inputs(IMAGE)
    with pytest.raises(DataError, match="no image files"):
        open_source("memory://empty-folder").list_inputs(IMAGE)
    with pytest.raises(DataError, match="no such file or folder"):
        open_source(str(tmp_path / "missing")).list_inputs(IMAGE)
    (tmp_path / "one.png").write_bytes(b"x")
    with pytest.raises(DataError, match="not a media file"):
        open_source(str(tmp_path / "one.png")).list_inputs(IMAGE)
    (tmp_path / "packed").mkdir()
    (tmp_path / "packed" / "pack.json").write_text("{}")
    with pytest.raises(DataError, match="cannot read packed shards"):
        open_source(str(tmp_path / "packed")).list_inputs(IMAGE)
