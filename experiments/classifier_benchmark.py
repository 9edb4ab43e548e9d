"""Zoo benchmark: k-fold CV (grouped by slide overlap group) of many classifiers on one cell set.

``run_benchmark(cfg)`` cross-validates every model in ``cfg.models`` (default: the whole
registry) with the same folds, inside the splits ``cfg.fit_splits`` (default train+val, said
in the output; a ``test`` split is never read), repeated over ``cfg.fold_seeds`` fold
assignments (mean and range next to every figure), writes ``<out>/<tag>.json`` after every model (so a partial
run keeps its results) and ``<out>/<tag>.md`` (a table like the seed's Tables 6/8), then
re-runs the best model under a plain random split to show leakage inflation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from leukoscan.classify.classical.recipes import RECIPES
from leukoscan.classify.data import resolve_cells
from leukoscan.classify.model import FitCfg
from leukoscan.classify.registry import CLASSIFIERS, list_names
from leukoscan.classify.repeats import fmt_spread
from leukoscan.classify.train import TrainConfig, cross_validate
from leukoscan.config import to_dict
from leukoscan.data.fit_splits import check_fit_splits, plan_fit
from leukoscan.device import set_cpu_threads
from leukoscan.io import atomic_write_json, atomic_write_text
from leukoscan.machine import machine_info

COLUMNS = (
    ("sensitivity", "Sens"),
    ("specificity", "Spec"),
    ("precision", "Prec"),
    ("accuracy", "Acc"),
    ("f1", "F1"),
    ("auc", "AUC"),
    ("balanced_accuracy", "Bal.acc"),
)


@dataclass(frozen=True)
class BenchConfig:
    data: str = "all_idb2"
    data_root: str | None = None
    models: tuple[str, ...] = ()  # empty: every registered model
    skip: tuple[str, ...] = ()
    folds: int = 5
    fold_seeds: int = 5  # every CV figure: mean and range over this many fold assignments
    fit_splits: tuple[str, ...] = ("train", "val")  # the dev splits; never "test"
    group_by: str = "overlap"
    imgsz: int = 64  # default input size of torch nets and deep-feature backbones
    pretrained: bool = True
    leakage_check: bool = True
    out: str = "benchmarks/results"
    tag: str = "classification_allidb2"
    n_boot: int = 2000
    fit: FitCfg = field(default_factory=FitCfg)
    per_model: dict = field(default_factory=dict)  # model -> {imgsz, steps, epochs, lr, batch, backbone_weights}


def model_config(cfg: BenchConfig, model: str, split: str = "grouped") -> TrainConfig:
    """The TrainConfig of one benchmark entry (per-model overrides applied)."""
    over = dict(cfg.per_model.get(model, {}))
    fit_over = {k: over.pop(k) for k in ("epochs", "lr", "batch", "weight_decay") if k in over}
    arch = over.pop("arch", model)
    recipe = arch in RECIPES  # a seed recipe: its own size, steps and random-init features unless per_model says
    return TrainConfig(
        model=arch,
        data=cfg.data,
        data_root=cfg.data_root,
        imgsz=over.pop("imgsz", None if recipe else cfg.imgsz),
        steps=tuple(over.pop("steps", ())),
        pretrained=False if recipe else cfg.pretrained,
        backbone_weights=over.pop("backbone_weights", None),
        folds=cfg.folds,
        split=split,
        group_by=cfg.group_by,
        n_boot=cfg.n_boot,
        fit=replace(cfg.fit, **fit_over),
        fold_seeds=cfg.fold_seeds,
        fit_splits=tuple(cfg.fit_splits),
    )


def run_benchmark(cfg: BenchConfig, cells: Any = None, log=print) -> dict:
    """Cross-validate the zoo; returns (and writes) the results dict."""
    set_cpu_threads()  # LEUKOSCAN_THREADS or all cores
    zoo = [n for n in list_names() if CLASSIFIERS.entry(n).meta.get("family") != "classical"]  # seed recipes
    models = [m for m in (cfg.models or zoo) if m not in cfg.skip]  # run in benchmarks/seed_reproduction.py
    for m in models:  # unknown names fail before any data is read
        CLASSIFIERS.entry(model_config(cfg, m).model)
    fit_splits = check_fit_splits(cfg.fit_splits, "fit_splits")
    cells = cells if cells is not None else resolve_cells(cfg.data, cfg.data_root, splits=fit_splits)
    plan = plan_fit(cells.splits, fit_splits, all_counts=cells.split_counts)
    cells = cells.subset(plan.fit)
    log(f"{plan.describe()}; {cfg.folds}-fold CV inside them, {cfg.fold_seeds} fold seeds")
    if not cfg.models:  # whole zoo: cheap feature models first, so partial runs are useful
        models.sort(key=lambda m: (CLASSIFIERS.kind_of(m) != "sklearn", not m.startswith("handcrafted"), m))
    out = {
        "config": to_dict(cfg),
        "machine": machine_info(),
        "n": len(cells),
        "splits": plan.to_dict(),
        "class_names": list(cells.class_names),
        "results": {},
        "started": time.strftime("%F %T"),
    }
    store: dict = {}
    for k, m in enumerate(models, 1):
        log(f"[{k}/{len(models)}] {m}: cross-validating")  # progress of a long benchmark, one line per model
        tcfg = model_config(cfg, m)
        try:
            res = cross_validate(tcfg, cells, feature_store=store)
        except Exception as e:  # one failing model must not lose the others' results
            out["results"][m] = {"error": f"{type(e).__name__}: {e}"}
            log(f"{m}: FAILED {e}")
        else:
            out["results"][m] = {
                **res.to_dict(),
                "imgsz": tcfg.imgsz,
                "epochs": tcfg.fit.epochs,
                "steps": list(tcfg.steps),
                "arch": tcfg.model,
            }
            log(
                f"{m:22s} bal.acc {res.report.balanced_accuracy.fmt()} (fold seeds: "
                f"{fmt_spread(res.repeats['balanced_accuracy'])})  AUC {res.report.auc.fmt()}  {res.seconds:.0f}s"
            )
        write_results(out, cfg)
    if cfg.leakage_check:
        out["leakage"] = leakage_check(cfg, cells, out["results"], log, store)
        write_results(out, cfg)
    out["finished"] = time.strftime("%F %T")
    write_results(out, cfg)
    return out


def best_model(results: dict) -> str | None:
    ok = {m: r for m, r in results.items() if "balanced_accuracy" in r and r["balanced_accuracy"]["value"]}
    if not ok:
        return None
    return max(ok, key=lambda m: (ok[m]["balanced_accuracy"]["value"], ok[m]["auc"]["value"] or 0))


def leakage_check(cfg: BenchConfig, cells: Any, results: dict, log=print, store: dict | None = None) -> dict:
    """Best model again under plain random stratified k-fold (crops of one slide on both sides)."""
    best = best_model(results)
    if best is None:
        return {}
    res = cross_validate(model_config(cfg, best, split="random"), cells, feature_store=store)
    log(
        f"{best} random split: bal.acc {res.report.balanced_accuracy.fmt()} (fold seeds: "
        f"{fmt_spread(res.repeats['balanced_accuracy'])})"
    )
    return {"model": best, "grouped": results[best], "random": res.to_dict()}


def _cell(d: dict) -> str:
    v, (lo, hi) = d["value"], d["ci95"]
    if v is None:
        return "n/a"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if lo is not None else f"{v:.3f}"


def _subgroup_keys(out: dict) -> list[str]:
    keys = {k for r in out["results"].values() for k in r.get("subgroups", {})}
    return sorted(
        k
        for k in keys
        if any(
            r.get("subgroups", {}).get(k, {}).get("balanced_accuracy", {}).get("value") is not None
            for r in out["results"].values()
        )
    )


def _row(m: str, r: dict, subs: list[str]) -> str:
    if "error" in r:
        return f"| {m} | " + " | ".join(["error"] * (len(COLUMNS) + 1 + len(subs))) + f" | | {r['error'][:60]} | |"
    cells = [_cell(r[k]) for k, _ in COLUMNS]
    cells += [fmt_spread((r.get("repeats") or {}).get("balanced_accuracy"))]
    cells += [_cell(r["subgroups"][k]["balanced_accuracy"]) if k in r.get("subgroups", {}) else "" for k in subs]
    arch = r.get("arch", m)
    trained = arch in CLASSIFIERS and CLASSIFIERS.kind_of(arch) == "torch"  # epochs mean nothing to sklearn
    cfg = f"{r.get('imgsz')} px" + (f", {r['epochs']} ep" if trained else "")
    return f"| {m} | {' | '.join(cells)} | {r['ece']:.3f} | {r['confusion_matrix']} | {cfg} | {r['seconds']:.0f} |"


def markdown_table(out: dict) -> str:
    """The benchmark as markdown: one row per model, metrics with 95% CIs, ECE, confusion."""
    subs = _subgroup_keys(out)
    seeds = next((len(r["repeats"]["fold_seeds"]) for r in out["results"].values() if r.get("repeats")), 1)
    head = [
        "Model",
        *[c for _, c in COLUMNS],
        f"Bal.acc mean (range), {seeds} fold seeds",
        *[f"Bal.acc {k}" for k in subs],
        "ECE",
        "Confusion (rows: true " + "/".join(out["class_names"]) + ")",
        "Input",
        "Time (s)",
    ]
    sp = out.get("splits") or {}
    lines = [
        f"Cross-validated inside split {'+'.join(sp.get('fit_splits', ['(not recorded)']))}"
        f" ({out['n']} items); bal.acc [95% CI] of fold seed 0, then mean (range) over fold seeds.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    order = sorted(out["results"].items(), key=lambda kv: -(kv[1].get("balanced_accuracy", {}).get("value") or 0))
    lines += [_row(m, r, subs) for m, r in order]
    leak = out.get("leakage")
    if leak:
        g, rnd = leak["grouped"], leak["random"]
        lines += [
            "",
            f"Leakage check, {leak['model']}: balanced accuracy grouped CV "
            f"{_cell(g['balanced_accuracy'])} vs plain random split {_cell(rnd['balanced_accuracy'])}; "
            f"AUC {_cell(g['auc'])} vs {_cell(rnd['auc'])}. Over fold seeds (mean (range)): grouped "
            f"{fmt_spread((g.get('repeats') or {}).get('balanced_accuracy'))}, random "
            f"{fmt_spread((rnd.get('repeats') or {}).get('balanced_accuracy'))}.",
        ]
    return "\n".join(lines) + "\n"


def render(json_path: str | Path) -> Path:
    """Re-write the markdown table next to an existing results JSON."""
    import json

    json_path = Path(json_path)
    md = json_path.with_suffix(".md")
    atomic_write_text(md, markdown_table(json.loads(json_path.read_text())))
    return md


def write_results(out: dict, cfg: BenchConfig) -> tuple[Path, Path]:
    folder = Path(cfg.out)
    js, md = folder / f"{cfg.tag}.json", folder / f"{cfg.tag}.md"
    atomic_write_json(js, out)
    atomic_write_text(md, markdown_table(out))
    return js, md
