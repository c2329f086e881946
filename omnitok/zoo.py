"""The model zoo as data: short names -> where the weights live and their SHA-256 (listed for people in
model_zoo.md). A name resolves after local folders and before hub ids in ``omnitok.load_tokenizer``."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """repo_id/revision: where on the hub the ``save_pretrained`` folder lives; sha256: of its model.safetensors."""

    repo_id: str
    revision: str
    sha256: str
    description: str = ""


# No omnitok weights are published yet; entries are added as trained tokenizers are released.
ZOO: dict[str, ZooEntry] = {}
