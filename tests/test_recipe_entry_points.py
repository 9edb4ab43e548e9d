"""A named seed recipe is the recipe from every entry point: ``leukoscan train-classifier
--model rawat2017`` (with the default config file, written for handcrafted+svm) trains the
recipe's own 128 px, no-steps features, the very features the seed table computes."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from leukoscan.classify.classical.recipes import RECIPES
from leukoscan.io import read_image
from leukoscan.synthetic import make_cell_crop


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("LEUKOSCAN_THREADS", "1")


def _root(tmp_path):
    base = tmp_path / "root" / "ALL_IDB"
    (base / "ALL_IDB2" / "img").mkdir(parents=True)
    prov, split = ["crop,source_image"], ["image,split"]
    for i in range(16):
        lab = i % 2
        stem = f"Im{i + 1:03d}_{lab}"
        tifffile.imwrite(base / "ALL_IDB2" / "img" / f"{stem}.tif", make_cell_crop(96, blast=bool(lab), seed=i))
        prov.append(f"{stem},S{i // 2}_1")
    split += [f"S{j}_1,{'val' if j in (0, 7) else 'train'}" for j in range(8)]
    (base / "allidb2_provenance.csv").write_text("\n".join(prov) + "\n")
    (base / "allidb1_dev_split.csv").write_text("\n".join(split) + "\n")
    return base


def test_cli_recipe_features_equal_seed_table_features(tmp_path, tool, capsys, monkeypatch):
    from leukoscan import classify

    monkeypatch.setenv("LEUKOSCAN_RUNS", str(tmp_path / "runs"))
    base = _root(tmp_path)
    rc = tool("train_classifier").main(
        [
            "--model",
            "rawat2017",
            "--data-root",
            str(base.parent),
            "--folds",
            "0",
            "--name",
            "raw",
            f"project={tmp_path}",
            "n_boot=0",
        ]
    )
    assert rc == 0
    assert "recipe rawat2017: input 128 px, steps none" in capsys.readouterr().out
    clf = classify.load(tmp_path / "raw")
    assert clf.preprocess.input_size == RECIPES["rawat2017"].size and tuple(clf.preprocess.steps) == ()
    crop = read_image(base / "ALL_IDB2" / "img" / "Im004_1.tif")[..., :3]  # as the seed table reads it
    seed_table = RECIPES["rawat2017"].extractor(seed=0)([crop])
    np.testing.assert_allclose(clf.extractor([crop]), seed_table, rtol=1e-6, atol=1e-9)


def test_explicit_flags_still_win(tmp_path, tool, capsys, monkeypatch):
    from leukoscan import classify

    monkeypatch.setenv("LEUKOSCAN_RUNS", str(tmp_path / "runs"))
    base = _root(tmp_path)
    rc = tool("train_classifier").main(
        [
            "--model",
            "rawat2017",
            "--data-root",
            str(base.parent),
            "--folds",
            "0",
            "--imgsz",
            "64",
            "--name",
            "r64",
            f"project={tmp_path}",
            "n_boot=0",
        ]
    )
    assert rc == 0 and "input 64 px" in capsys.readouterr().out
    assert classify.load(tmp_path / "r64").preprocess.input_size == 64


def test_benchmark_entry_uses_the_recipe_size():
    from leukoscan.experiments.classifier_benchmark import BenchConfig, model_config

    t = model_config(BenchConfig(imgsz=64), "rawat2017")
    assert t.imgsz is None and t.steps == () and t.pretrained is False  # None: the recipe's own 128 px
    assert model_config(BenchConfig(imgsz=64), "handcrafted+svm").imgsz == 64
