"""The image commands through ``omnitok.cli.main.main``: train, export, encode, decode, --help."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.io import decode_image, write_png

from omnitok.cli.main import main
from omnitok.config import instantiate
from omnitok.hub import load_tokenizer
from omnitok.tokens import load_tokens
from tests.trainers.recipes import CONFIGS, tiny_recipe


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory) -> Path:
    """A random-init tiny VQ tokenizer saved with save_pretrained (encode/decode do not care about training)."""
    torch.manual_seed(0)
    tokenizer = instantiate(tiny_recipe()["model"]["init_args"]["tokenizer"]).eval()
    return tokenizer.save_pretrained(tmp_path_factory.mktemp("tok") / "tokenizer")


def _write_images(root: Path) -> dict[str, torch.Tensor]:
    images = {
        "a.png": (torch.rand(3, 32, 32) * 255).to(torch.uint8),
        "sub/b.png": (torch.rand(3, 48, 64) * 255).to(torch.uint8),
        "sub/deeper/c.png": (torch.rand(3, 32, 64) * 255).to(torch.uint8),
        "sub/b.jpg": (torch.rand(3, 48, 64) * 255).to(torch.uint8),  # same stem as b.png: must not collide
    }
    from torchvision.io import write_jpeg

    for name, image in images.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (write_png if name.endswith(".png") else write_jpeg)(image, str(root / name))
    return {name: decode_image(str(root / name)) for name in images}  # what was stored (JPEG is lossy)


def test_encode_decode_round_trip_keeps_layout_and_matches_the_library(tokenizer_folder, tmp_path, capsys):
    images = _write_images(tmp_path / "images")
    assert main(["encode", str(tmp_path / "images"), "--tokenizer", str(tokenizer_folder), "--out", str(tmp_path / "tok")]) == 0
    tokenizer = load_tokenizer(tokenizer_folder)
    for name, image in images.items():
        tokens, spec = load_tokens(tmp_path / "tok" / f"{name}.safetensors")
        assert spec == tokenizer.spec
        assert tokens.shape == (1, image.shape[1] // 4, image.shape[2] // 4)
        x = image.float().unsqueeze(0) / 127.5 - 1
        assert torch.equal(tokens, tokenizer.encode(x))
    assert main(["decode", str(tmp_path / "tok"), "--tokenizer", str(tokenizer_folder), "--out", str(tmp_path / "dec")]) == 0
    for name, image in images.items():
        decoded = decode_image(str(tmp_path / "dec" / (name if name.endswith(".png") else f"{name}.png")))
        assert decoded.shape == image.shape
        tokens, _ = load_tokens(tmp_path / "tok" / f"{name}.safetensors")
        expected = ((tokenizer.decode(tokens)[0] + 1) / 2).clamp(0, 1)
        assert (decoded.float() / 255 - expected).abs().max() <= 1 / 255 + 1e-6  # PNG rounding only
    assert "encoded 4 file(s)" in capsys.readouterr().out


def test_encode_with_resize_and_clear_failures(tokenizer_folder, tmp_path, capsys):
    _write_images(tmp_path / "images")
    (tmp_path / "images" / "odd.png").parent.mkdir(exist_ok=True)
    write_png((torch.rand(3, 30, 45) * 255).to(torch.uint8), str(tmp_path / "images" / "odd.png"))
    (tmp_path / "images" / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    code = main(["encode", str(tmp_path / "images"), "--tokenizer", str(tokenizer_folder), "--out", str(tmp_path / "t1")])
    out = capsys.readouterr().out
    assert code == 1 and "2 file(s) failed" in out and "--size" in out and "broken.jpg" in out
    assert len(list((tmp_path / "t1").rglob("*.safetensors"))) == 4  # the good files were still written
    code = main(["encode", str(tmp_path / "images" / "odd.png"), "--tokenizer", str(tokenizer_folder), "--out", str(tmp_path / "t2"), "--size", "32"])
    assert code == 0 and load_tokens(tmp_path / "t2" / "odd.png.safetensors")[0].shape == (1, 8, 8)


def test_decode_refuses_tokens_from_another_tokenizer(tokenizer_folder, tmp_path, capsys):
    from omnitok.tokens import save_tokens

    other = instantiate(tiny_recipe("quickstart_fsq")["model"]["init_args"]["tokenizer"]).eval()
    save_tokens(tmp_path / "in" / "x.safetensors", other.encode(torch.zeros(1, 3, 32, 32)), other.spec)
    assert main(["decode", str(tmp_path / "in"), "--tokenizer", str(tokenizer_folder), "--out", str(tmp_path / "o")]) == 1
    assert "different tokenizer" in capsys.readouterr().out


def test_missing_inputs_and_tokenizers_are_clear_errors(tokenizer_folder, tmp_path, capsys):
    assert main(["encode", str(tmp_path / "nothing"), "--tokenizer", str(tokenizer_folder), "--out", str(tmp_path)]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["encode", str(tmp_path), "--tokenizer", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2


def test_train_resume_and_export_from_the_command_line(tmp_path, capsys):
    import yaml

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe(trainer__max_steps=3)))
    out = tmp_path / "run"
    assert main(["train", "--config", str(recipe), "--out", str(out), "--set", "trainer.max_steps=2"]) == 0
    assert "tokenizer before training" in capsys.readouterr().out
    assert main(["train", "--resume", str(out), "--set", "trainer.max_steps=4"]) == 0
    from omnitok.trainers.export import read_checkpoint

    assert read_checkpoint(out / "checkpoints" / "last.ckpt")["omnitok"]["step"] == 4
    assert main(["export", str(out), "--out", str(tmp_path / "exported"), "--weights", "live"]) == 0
    assert load_tokenizer(tmp_path / "exported").spec.codebook_sizes == (1024,)
    assert main(["train", "--config", str(recipe), "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_print_config_merges_recipes_and_overrides(capsys):
    import yaml

    code = main(["train", "--config", str(CONFIGS / "quickstart_fsq.yaml"), "--set", "model.learning_rate=0.5", "--print-config"])
    config = yaml.safe_load(capsys.readouterr().out)
    assert code == 0 and config["model"]["init_args"]["learning_rate"] == 0.5
    quantizer = config["model"]["init_args"]["tokenizer"]["init_args"]["quantizer"]
    assert quantizer["class_path"].endswith("FiniteScalarQuantizer")


@pytest.mark.parametrize("command", ["train", "encode", "decode", "export"])
def test_help_explains_each_command(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "usage: omnitok" in text and "--out" in text


def test_outputs_never_collide_or_overwrite_silently(tokenizer_folder, tmp_path, capsys):
    for folder in ("d1", "d2"):
        (tmp_path / folder).mkdir()
        write_png((torch.rand(3, 32, 32) * 255).to(torch.uint8), str(tmp_path / folder / "a.png"))
    tok = str(tokenizer_folder)
    code = main(["encode", str(tmp_path / "d1"), str(tmp_path / "d2"), "--tokenizer", tok, "--out", str(tmp_path / "t")])
    assert code == 2 and "would both be written" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()  # nothing written
    assert main(["encode", str(tmp_path / "d1"), "--tokenizer", tok, "--out", str(tmp_path / "t")]) == 0
    assert main(["decode", str(tmp_path / "t"), "--tokenizer", tok, "--out", str(tmp_path / "d1")]) == 2
    assert "--overwrite" in capsys.readouterr().err  # decoding next to the originals would replace a.png
    assert main(["decode", str(tmp_path / "t"), "--tokenizer", tok, "--out", str(tmp_path / "d1"), "--overwrite"]) == 0


def test_set_reads_scientific_notation_as_numbers():
    from omnitok.cli.train import parse_value

    assert parse_value("1e-4") == 1e-4 and parse_value("3") == 3 and parse_value("[1, 2]") == [1, 2]
    assert parse_value("builtin") == "builtin" and parse_value("true") is True
