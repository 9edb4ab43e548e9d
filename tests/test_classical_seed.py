"""Whole-slide features, CV schemes and the seed-reproduction runner on a synthetic ALL_IDB tree."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from leukoscan.experiments import whole_image as wi
from leukoscan.experiments.reproduce import (
    Items,
    load_cells,
    metrics,
    run_row,
    schemes,
    sklearn_fit_predict,
)
from leukoscan.experiments.seed_table import SeedCfg, run_seed_table, smoke_items
from leukoscan.synthetic import make_cell_crop, make_smear

N_SLIDES, N_CROPS = 20, 20  # enough Canon slides of each class for the SVM's inner 3-fold CV


def _camera(i: int) -> str:
    return "OLYMPUS OPTICAL CO.,LTD C2500L" if i < 3 else "Canon Canon PowerShot G5"


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
    """``<root>/ALL_IDB`` laid out like the shared data, every image synthetic."""
    import tifffile
    from PIL import Image

    root = tmp_path_factory.mktemp("seed") / "ALL_IDB"
    (root / "ALL_IDB1" / "im").mkdir(parents=True)
    (root / "ALL_IDB2" / "img").mkdir(parents=True)
    slides = []
    for i in range(N_SLIDES):
        label = 1 if i < 3 or i % 2 == 1 else 0  # the 3 "Olympus" slides are all ALL
        stem = f"Im{i + 1:03d}_{label}"
        size = (200, 260) if i < 3 else (240, 320)
        smear = make_smear(*size, seed=i, n_leukocytes=3, blast_fraction=0.9 if label else 0.1)
        exif = Image.Exif()
        exif[271] = _camera(i).split(" ")[0]
        Image.fromarray(smear.image).save(root / "ALL_IDB1" / "im" / f"{stem}.jpg", exif=exif, quality=92)
        slides.append((stem, label, i))
    with open(root / "allidb1_image_meta.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "label", "camera", "group_id"])
        for stem, label, i in slides:
            w.writerow([stem, label, _camera(i), i if i not in (5, 6) else 5])  # 5 and 6 overlap
    with open(root / "allidb1_dev_split.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "split"])
        for stem, _, i in slides:
            w.writerow([stem, "val" if i in (0, 1, 4, 7, 9, 10) else "train"])
    with open(root / "allidb2_provenance.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["crop", "source_image"])
        for j in range(N_CROPS):
            blast = j % 2
            stem = f"Im{200 + j:03d}_{blast}"
            tifffile.imwrite(root / "ALL_IDB2" / "img" / f"{stem}.tif", make_cell_crop(64, blast=bool(blast), seed=j))
            w.writerow([stem, slides[j % N_SLIDES][0]])
    return root


def test_load_slides_reads_exif_groups_and_split(fake_root):
    s = wi.load_slides(fake_root, max_side=160)
    assert len(s) == N_SLIDES and max(s.images[5].shape[:2]) == 160
    assert s.cameras[:3] == ["OLYMPUS"] * 3 and set(s.cameras[3:]) == {"Canon"}
    assert s.groups[5] == s.groups[6] and s.dev_split.count("val") == 6
    cam = wi.camera_features(s)
    np.testing.assert_array_equal(cam[0], [260, 200, 0]) and np.testing.assert_array_equal(cam[4], [320, 240, 1])


def test_nucleus_patches_land_on_leukocytes():
    smear = make_smear(240, 320, seed=3, n_leukocytes=3)
    boxes = smear.select({"blast", "leukocyte"}).boxes
    patches = wi.nucleus_patches(smear.image, "otsu", max_cells=5)
    assert 1 <= len(patches) <= 5
    for patch, nuc in patches:
        assert patch.shape[:2] == nuc.shape and nuc.any()
    # every found nucleus is inside a drawn leukocyte box: check via the whole-slide mask
    from leukoscan.classify.classical.segmentation import segment_nucleus

    mask = segment_nucleus(smear.image, "otsu", central=False, min_frac=wi.AREA_RANGE[0])
    ys, xs = np.nonzero(mask)
    inside = np.zeros(len(ys), bool)
    for x0, y0, x1, y1 in boxes:
        inside |= (xs >= x0 - 2) & (xs <= x1 + 2) & (ys >= y0 - 2) & (ys <= y1 + 2)
    assert inside.mean() > 0.8


def test_slide_feature_shapes(fake_root):
    from leukoscan.classify.classical.recipes import RECIPES

    s = wi.load_slides(fake_root, max_side=160)
    x = wi.nucleus_patch_features(s, RECIPES["mishra2018"], max_cells=4)
    assert x.shape[0] == N_SLIDES and np.isfinite(x).all() and (x[:, -1] > 0).any()
    g = wi.global_features(s, size=48)
    assert g.shape[0] == N_SLIDES and np.isfinite(g).all()


def test_schemes_group_and_canon():
    items = smoke_items(24)
    sch = schemes(items)
    assert set(sch) == {"random", "grouped", "canon"}
    for name, (sub, folds) in sch.items():
        seen = np.concatenate([te for _, te in folds])
        assert sorted(seen.tolist()) == list(range(len(sub)))  # every item tested once
        if name != "random":
            for tr, te in folds:
                assert not {items.groups[i] for i in sub[tr]} & {items.groups[i] for i in sub[te]}
    canon_sub = sch["canon"][0]
    assert all(items.cameras[i] == "Canon" for i in canon_sub)


def test_run_row_metrics_on_separable_features():
    items = smoke_items(24)
    x = items.labels[:, None] + np.random.default_rng(0).normal(0, 0.1, (24, 2))
    from leukoscan.classify.classical.classifiers import build_estimator

    res = run_row(items, sklearn_fit_predict(x, items.labels, lambda: build_estimator("knn")), n_boot=50, seed=0)
    for r in res.values():
        assert r["accuracy"]["value"] == 1.0 and r["accuracy"]["ci95"][0] < 1.0  # Wilson interval
    assert res["grouped"]["n"] == 24 and res["canon"]["n"] == 16


def test_metrics_single_class_fold_is_safe():
    m = metrics(np.array([1, 1, 0]), np.array([0.9, 0.2, 0.1]), ["Canon", "Canon", "OLYMPUS"], n_boot=0)
    assert m["accuracy"]["value"] == pytest.approx(2 / 3) and m["n"] == 3


def test_load_cells_groups_by_source_slide(fake_root):
    cells = load_cells(fake_root)
    assert len(cells) == N_CROPS and cells.labels.sum() == N_CROPS // 2
    assert cells.cameras[0] == "OLYMPUS" and cells.groups[5] == cells.groups[6] == "g5"


def test_run_seed_table_end_to_end(fake_root, tmp_path):
    out = tmp_path / "seed"
    cfg = SeedCfg(
        data_root=str(fake_root.parent),
        out=str(out),
        recipes=("das2020", "kumar2018_nb"),
        n_boot=20,
        slide_models=("camera_only",),
        cache=str(tmp_path / "cache"),
        fold_seeds=2,
    )
    res = run_seed_table(cfg, log=lambda *_: None)
    assert set(res["cells"]) == {"das2020", "kumar2018_nb"}
    assert set(res["slides"]) == {"camera_only", "das2020 (slides)"}
    assert set(res["slides"]["camera_only"]["schemes"]) == {"random", "grouped", "canon", "dev"}
    assert res["wall_seconds"] > 0 and (tmp_path / "cache" / f"cells_das2020_n{N_CROPS}.npy").is_file()
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["cells_n"]["n"] == N_CROPS
    md = out.with_suffix(".md").read_text()
    assert "Das 2020" in md and "camera_only" in md and "What survives" in md


def test_benchmark_script_smoke_and_bad_args(fake_root, tmp_path, bench, tool):
    main = bench("seed_reproduction").main
    out = tmp_path / "smoke"
    assert (
        main(
            [
                "--data-root",
                str(fake_root),
                "--recipes",
                "kumar2018_nb",
                "--no-slides",
                "--n-boot",
                "20",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "kumar2018_nb" in json.loads(out.with_suffix(".json").read_text())["cells"]
    assert main(["--data-root", str(fake_root), "--recipes", "nobody2020"]) == 2
    assert main(["--data-root", str(tmp_path / "missing")]) == 2
    assert tool("benchmark_classifiers").main(["--recipes", "nobody2020"]) == 2


def test_items_len():
    assert len(Items([], np.zeros(0), [], [])) == 0


def _with_test_split(fake_root, tmp_path):
    """A copy of the fake tree whose split file marks slides 2, 3, 12, 13 (and their crops) ``test``."""
    import shutil

    root = tmp_path / "ALL_IDB"
    shutil.copytree(fake_root, root)
    rows = list(csv.DictReader(open(root / "allidb1_dev_split.csv")))
    with open(root / "allidb1_dev_split.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "split"])
        for r in rows:
            w.writerow([r["image"], "test" if int(r["image"][2:5]) - 1 in (2, 3, 12, 13) else r["split"]])
    return root


def test_seed_table_leaves_test_alone_and_scores_it_only_when_named(fake_root, tmp_path, monkeypatch):
    import leukoscan.experiments.reproduce as rp

    root = _with_test_split(fake_root, tmp_path)
    decoded: list[str] = []
    real = rp.read_image
    monkeypatch.setattr(rp, "read_image", lambda p, *a, **k: decoded.append(p.stem) or real(p, *a, **k))
    cfg = SeedCfg(
        data_root=str(root), out=str(tmp_path / "dev"), recipes=("kumar2018_nb",), n_boot=0, slides=False, fold_seeds=2
    )
    res = run_seed_table(cfg, log=lambda *_: None)
    test_crops = {f"Im{200 + j:03d}_{j % 2}" for j in (2, 3, 12, 13)}
    assert not test_crops & set(decoded)  # never decoded
    assert res["cells_n"]["n"] == N_CROPS - 4 and res["cells_n"]["not_read"] == {"test": 4}
    grouped = res["cells"]["kumar2018_nb"]["schemes"]["grouped"]
    assert grouped["n"] == N_CROPS - 4 and "test" not in res["cells"]["kumar2018_nb"]["schemes"]
    rep = grouped["repeats"]["accuracy"]  # the spread over fold seeds is reported
    assert len(rep["per_seed"]) == 2 and rep["min"] <= rep["mean"] <= rep["max"]
    assert "2 fold seeds:" in (tmp_path / "dev.md").read_text()

    cfg = SeedCfg(
        data_root=str(root),
        out=str(tmp_path / "held"),
        recipes=("kumar2018_nb",),
        n_boot=0,
        slide_models=("camera_only",),
        fold_seeds=1,
        test_split="test",
    )
    res = run_seed_table(cfg, log=lambda *_: None)
    held = res["cells"]["kumar2018_nb"]["schemes"]["test"]
    assert (
        held["n"] == 4
        and res["cells_n"]["test_n"] == 4
        and res["cells"]["kumar2018_nb"]["schemes"]["grouped"]["n"] == 16
    )
    assert res["slides"]["camera_only"]["schemes"]["test"]["n"] == 4  # the 4 test slides, scored once
    assert "held-out `test`" in (tmp_path / "held.md").read_text()


def test_whole_slide_cli(fake_root, tmp_path, tool):
    main = tool("benchmark_classifiers").main
    assert (
        main(
            [
                "--slides",
                "--data-root",
                str(fake_root.parent),
                "--out",
                str(tmp_path),
                "--fold-seeds",
                "2",
                "--tag",
                "ws",
                "--slide-models",
                "camera_only,global+svm",
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "ws.json").read_text())
    assert res["cells"] == {} and "camera_only" in res["slides"]
    assert len(res["slides"]["global+svm"]["schemes"]["grouped"]["repeats"]["accuracy"]["per_seed"]) == 2
    assert main(["--test-split", "test", "--data", "demo_cells"]) == 2  # the zoo never reads a test split
    assert main(["--slides", "--data-root", str(fake_root.parent), "--slide-models", "nobody"]) == 2
