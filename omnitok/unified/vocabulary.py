"""The shared vocabulary (DESIGN.md contract 3): one id space over a text vocabulary and any number of tokenizers.

Ids, contiguous and in this order: the text ids [0, T); pad, bos, eos, row separator, frame separator; per
discrete tokenizer (in the order given) its begin and end tokens; per continuous tokenizer its begin, end and
latent-placeholder tokens; then per discrete tokenizer, per codebook level, a range of that level's size.
Continuous tokenizers never get code ranges: their latents enter the Transformer through a learned projection at
the placeholder positions.

Tokenizers that share one codebook (the views of an :class:`omnitok.models.OmniTokenizer`) share one id range: a
*shared codebook* group gets its ranges where its first member's would be, and every member's ``range_of`` is that
range, so code c has one id (and one embedding row) whatever modality it came from. Begin and end tokens stay per
tokenizer, so a span still says which decoder reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from torch import Tensor

from omnitok.errors import ConfigError
from omnitok.modalities import get_modality
from omnitok.protocol import TokenizerSpec
from omnitok.unified.spans import MediaSpan, Packed
from omnitok.unified.text import TextVocabulary, text_vocabulary_from_dict

Layout = Literal["flattened", "delayed"]
FORMAT_VERSION = 1
SHARED_FORMAT_VERSION = 2  # written only by vocabularies with shared codebooks; older ones stay version 1


class SharedVocabulary:
    """Id ranges, special tokens and packing for interleaved text + media sequences.

    Args:
        text: the text vocabulary (e.g. :class:`~omnitok.unified.ByteTextVocabulary`).
        tokenizers: name -> discrete ``Tokenizer`` (anything with a ``spec``) or its ``TokenizerSpec``.
        continuous: name -> continuous tokenizer or spec; their spans carry latents for the model's projection.
        layout: "flattened" (a position's Q levels are consecutive tokens; ids [L]) or "delayed" (Q parallel
            streams, stream q delayed by ``delays[q]``; ids [L, S]).
        delays: per-stream delays of the delayed layout; default [0, 1, ..., S - 1]; delays[0] must be 0.
        separators: end image/video rows with the row separator and video frames with the frame separator, so a
            sequence carries its own grid.
        grids: name -> fixed grid; required for image/video names when ``separators`` is False.
        shared_codebooks: group name -> the discrete tokenizers (2 or more, same codebook sizes and kind) that share
            one codebook and therefore one id range. None (default): inferred from the tokenizer objects given,
            those whose ``quantizer`` is one and the same object (an omni tokenizer's views), each group named by
            its members joined with "+"; specs alone never share. ``{}``: no sharing.
    """

    def __init__(
        self,
        text: TextVocabulary,
        tokenizers: Mapping[str, Any],
        continuous: Mapping[str, Any] | None = None,
        layout: Layout = "flattened",
        delays: Sequence[int] | None = None,
        separators: bool = True,
        grids: Mapping[str, Sequence[int]] | None = None,
        shared_codebooks: Mapping[str, Sequence[str]] | None = None,
    ):
        if layout not in ("flattened", "delayed"):
            raise ConfigError(f"layout must be 'flattened' or 'delayed', got {layout!r}")
        for method in ("encode", "decode", "to_dict"):
            if not callable(getattr(text, method, None)):
                raise ConfigError(f"the text vocabulary {type(text).__name__} has no {method}()")
        self.text, self.layout, self.separators = text, layout, bool(separators)
        self._specs: dict[str, TokenizerSpec] = {}
        self._discrete: list[str] = []
        self._continuous: list[str] = []
        for name, tok in tokenizers.items():
            self._add(name, tok, discrete=True)
        for name, tok in (continuous or {}).items():
            self._add(name, tok, discrete=False)
        self.grids = self._check_grids(grids or {})
        if shared_codebooks is None:
            shared_codebooks = _shared_quantizers(tokenizers)
        self.shared_codebooks = self._check_shared(shared_codebooks)
        self.num_streams = max([1] + [self._specs[n].num_levels for n in self._discrete]) if layout == "delayed" else 1
        self.delays = self._check_delays(delays)
        self._assign_ids()

    # -- construction ---------------------------------------------------------------------------------------------
    def _add(self, name: str, tokenizer: Any, discrete: bool) -> None:
        spec = tokenizer if isinstance(tokenizer, TokenizerSpec) else getattr(tokenizer, "spec", None)
        if not isinstance(spec, TokenizerSpec):
            raise ConfigError(
                f"{name!r}: {type(tokenizer).__name__} has no TokenizerSpec `spec`; it is not a Tokenizer"
            )
        if not isinstance(name, str) or not name or name == "text" or name in self._specs:
            raise ConfigError(f"tokenizer names must be unique non-empty strings other than 'text', got {name!r}")
        if discrete and not spec.discrete:
            raise ConfigError(
                f"{name!r} is a continuous tokenizer: it has no ids to put in the vocabulary; pass it in continuous= "
                "so its latents enter the Transformer through the projection"
            )
        if not discrete and spec.discrete:
            raise ConfigError(f"{name!r} is discrete; pass it in tokenizers=, not continuous=")
        if not discrete and spec.latent_dim < 1:
            raise ConfigError(f"{name!r}: a continuous tokenizer needs latent_dim >= 1 for the projection")
        self._specs[name] = spec
        (self._discrete if discrete else self._continuous).append(name)

    def _check_grids(self, grids: Mapping[str, Sequence[int]]) -> dict[str, tuple[int, ...]]:
        out = {}
        for name, grid in grids.items():
            spec = self.spec(name)
            grid = tuple(int(g) for g in grid)
            if len(grid) != len(spec.downsample) or any(g < 1 for g in grid):
                raise ConfigError(
                    f"grid {grid} for {name!r} needs {len(spec.downsample)} positive sizes ({spec.modality})"
                )
            out[name] = grid
        if not self.separators:
            for name in self.names:
                if get_modality(self._specs[name].modality).row_separators and name not in out:
                    raise ConfigError(
                        f"{name!r} is {self._specs[name].modality}: without separators its spans need a fixed grid; "
                        "pass grids={name: (...)} or separators=True"
                    )
        return out

    def _check_shared(self, groups: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
        if not isinstance(groups, Mapping):
            raise ConfigError(f"shared_codebooks must map group names to tokenizer names, got {type(groups).__name__}")
        out: dict[str, tuple[str, ...]] = {}
        seen: dict[str, str] = {}
        for group, members in groups.items():
            if not isinstance(group, str) or not group or group == "text" or group in self._specs:
                raise ConfigError(
                    f"shared codebook names must be non-empty strings other than 'text' and the tokenizer names, "
                    f"got {group!r}"
                )
            if isinstance(members, str) or not isinstance(members, Sequence) or len(members) < 2:
                raise ConfigError(
                    f"shared codebook {group!r} needs a list of 2 or more tokenizer names, got {members!r}"
                )
            members = tuple(members)
            for name in members:
                if name not in self._discrete:
                    raise ConfigError(
                        f"shared codebook {group!r} names {name!r}, which is not a discrete tokenizer of this "
                        f"vocabulary ({list(self._discrete)})"
                    )
                if name in seen:
                    raise ConfigError(f"{name!r} is in two shared codebooks, {seen[name]!r} and {group!r}")
                seen[name] = group
            first = self._specs[members[0]]
            for name in members[1:]:
                spec = self._specs[name]
                if (spec.codebook_sizes, spec.codebook_kind) != (first.codebook_sizes, first.codebook_kind):
                    raise ConfigError(
                        f"shared codebook {group!r}: {name!r} has {spec.codebook_kind} codebooks of sizes "
                        f"{list(spec.codebook_sizes)}, {members[0]!r} has {first.codebook_kind} ones of sizes "
                        f"{list(first.codebook_sizes)}"
                    )
            out[group] = tuple(sorted(members, key=self._discrete.index))  # vocabulary order
        return out

    def _check_delays(self, delays: Sequence[int] | None) -> tuple[int, ...]:
        if self.layout == "flattened":
            if delays is not None:
                raise ConfigError("delays apply to the delayed layout only")
            return (0,)
        delays = tuple(range(self.num_streams)) if delays is None else tuple(int(d) for d in delays)
        if len(delays) != self.num_streams or delays[0] != 0 or min(delays) < 0:
            raise ConfigError(f"delays need {self.num_streams} non-negative entries starting with 0, got {delays}")
        return delays

    def _assign_ids(self) -> None:
        t = int(self.text.size)
        if t < 1:
            raise ConfigError(f"the text vocabulary has {t} ids")
        self.pad_id, self.bos_id, self.eos_id, self.row_sep_id, self.frame_sep_id = range(t, t + 5)
        next_id = t + 5
        self._begin, self._end, self._latent, self._offsets = {}, {}, {}, {}
        for name in self._discrete:
            self._begin[name], self._end[name] = next_id, next_id + 1
            next_id += 2
        for name in self._continuous:
            self._begin[name], self._end[name], self._latent[name] = next_id, next_id + 1, next_id + 2
            next_id += 3
        for name in self._discrete:
            owner = self.codebook_of(name)
            first = self.shared_codebooks[owner][0] if owner in self.shared_codebooks else name
            if first != name:  # a later member of a shared codebook: the first member's ranges
                self._offsets[name] = self._offsets[first]
                continue
            self._offsets[name] = []
            for size in self._specs[name].codebook_sizes:
                self._offsets[name].append(next_id)
                next_id += size
        self.size = next_id

    # -- queries --------------------------------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Tokenizer names: the discrete ones, then the continuous ones."""
        return (*self._discrete, *self._continuous)

    @property
    def text_range(self) -> range:
        return range(int(self.text.size))

    def spec(self, name: str) -> TokenizerSpec:
        if name not in self._specs:
            raise ConfigError(f"unknown tokenizer {name!r}; this vocabulary has {list(self.names)}")
        return self._specs[name]

    def is_continuous(self, name: str) -> bool:
        return not self.spec(name).discrete

    def range_of(self, name: str, level: int = 0) -> range:
        """Ids of ``name``'s codebook ``level`` (code c has id ``range_of(name, level)[c]``)."""
        spec = self.spec(name)
        if not spec.discrete:
            raise ConfigError(f"{name!r} is continuous: it has no id range (its latents go through the projection)")
        if not 0 <= level < spec.num_levels:
            raise ConfigError(f"{name!r} has levels 0..{spec.num_levels - 1}, asked for level {level}")
        start = self._offsets[name][level]
        return range(start, start + spec.codebook_sizes[level])

    def codebook_of(self, name: str) -> str:
        """The name of ``name``'s id ranges: its shared codebook group, or ``name`` itself when it shares none."""
        self.spec(name)
        return next((group for group, members in self.shared_codebooks.items() if name in members), name)

    def begin_id(self, name: str) -> int:
        self.spec(name)
        return self._begin[name]

    def end_id(self, name: str) -> int:
        self.spec(name)
        return self._end[name]

    def latent_id(self, name: str) -> int:
        """The placeholder id where ``name``'s latents are projected in (continuous tokenizers only)."""
        if not self.is_continuous(name):
            raise ConfigError(f"{name!r} is discrete: it has code ids, not a latent placeholder")
        return self._latent[name]

    def tag_of(self, name: str) -> int:
        """Modality tag of ``name``'s span tokens in ``Packed.modality`` (0 is text): 1 + its index in ``names``."""
        self.spec(name)
        return 1 + self.names.index(name)

    def fixed_grid(self, name: str) -> tuple[int, ...] | None:
        self.spec(name)
        return self.grids.get(name)

    # -- packing (omnitok.unified.packing does the work) ----------------------------------------------------------
    def pack(self, sample: Sequence[str | MediaSpan], *, bos: bool = True, eos: bool = True) -> Packed:
        """``sample`` (text and media spans, in order) -> ids, positions and modality tags; see ``Packed``."""
        from omnitok.unified.packing import pack

        return pack(self, sample, bos=bos, eos=eos)

    def unpack(self, ids: Tensor, continuous: Mapping[str, Tensor] | None = None) -> list[str | MediaSpan]:
        """ids [L] (flattened) or [L, S] (delayed) -> text and MediaSpans (tokens [1, *grid(, Q)] for decode).

        ``continuous``: name -> latents [N, D] (``Packed.continuous``) to put back into continuous spans."""
        from omnitok.unified.packing import unpack

        return unpack(self, ids, continuous)

    def collate(self, samples: Sequence[Packed], padding_side: Literal["right", "left"] = "right") -> dict[str, Any]:
        """Pad packed samples into a batch; see :func:`omnitok.unified.packing.collate`."""
        from omnitok.unified.packing import collate

        return collate(self, samples, padding_side)

    # -- serialization --------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The layout as JSON-safe data (tokenizers as their specs), so a trained model's vocabulary is saved."""
        shared = {"shared_codebooks": {g: list(m) for g, m in self.shared_codebooks.items()}}
        return {
            "format_version": SHARED_FORMAT_VERSION if self.shared_codebooks else FORMAT_VERSION,
            "text": self.text.to_dict(),
            "tokenizers": {n: self._specs[n].to_dict() for n in self._discrete},
            "continuous": {n: self._specs[n].to_dict() for n in self._continuous},
            "layout": self.layout,
            "delays": list(self.delays) if self.layout == "delayed" else None,
            "separators": self.separators,
            "grids": {n: list(g) for n, g in self.grids.items()},
            "size": self.size,
            **(shared if self.shared_codebooks else {}),  # absent unless used: version-1 files stay as they were
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], text: TextVocabulary | None = None) -> SharedVocabulary:
        """Rebuild from :meth:`to_dict`; ``text`` replaces the saved text vocabulary (e.g. a local tokenizer)."""
        if data.get("format_version") not in (FORMAT_VERSION, SHARED_FORMAT_VERSION):
            raise ConfigError(
                f"unsupported vocabulary format {data.get('format_version')!r}; expected {FORMAT_VERSION} or "
                f"{SHARED_FORMAT_VERSION}"
            )
        try:
            vocab = cls(
                text if text is not None else text_vocabulary_from_dict(data["text"]),
                {n: TokenizerSpec.from_dict(s) for n, s in data["tokenizers"].items()},
                {n: TokenizerSpec.from_dict(s) for n, s in data["continuous"].items()},
                layout=data["layout"],
                delays=data["delays"],
                separators=data["separators"],
                grids=data["grids"],
                shared_codebooks=data.get("shared_codebooks") or {},
            )
        except (KeyError, TypeError) as err:
            raise ConfigError(f"not a SharedVocabulary layout: {err!r}") from err
        if vocab.size != data.get("size", vocab.size):
            raise ConfigError(f"the rebuilt vocabulary has {vocab.size} ids, the saved one {data['size']}")
        return vocab

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={list(self._specs[n].codebook_sizes) or 'continuous'}" for n in self.names)
        shared = "".join(f", {g} shared by {'+'.join(m)}" for g, m in self.shared_codebooks.items())
        return f"SharedVocabulary(size={self.size}, text={self.text.size}, {parts}{shared}, layout={self.layout!r})"


def _shared_quantizers(tokenizers: Mapping[str, Any]) -> dict[str, list[str]]:
    """Groups of discrete tokenizer objects whose ``quantizer`` is one object (an omni tokenizer's views), each
    named by its members joined with "+"; specs (no quantizer) never group."""
    by_quantizer: dict[int, list[str]] = {}
    for name, tokenizer in tokenizers.items():
        quantizer = None if isinstance(tokenizer, TokenizerSpec) else getattr(tokenizer, "quantizer", None)
        if quantizer is not None:
            by_quantizer.setdefault(id(quantizer), []).append(name)
    return {"+".join(names): names for names in by_quantizer.values() if len(names) > 1}
