"""Augmentation ablation on BCCD val: several seeds per arm, scored again by one evaluator.

Trains nothing. It takes finished run folders (from ``benchmarks/detection.py --which
ours --preset P --seed S`` or ``--which raw``), re-scores each ``best.pt`` with the
current COCO evaluator (so runs from older sessions are scored exactly like new ones),
and compares the arms seed by seed:

    python benchmarks/augment_ablation.py --data-root /work/shared/data \\
        --arm stock runs/abl/bench_ours_e12_seed* runs/bench3/bench_ours_e12 \\
        --arm microscopy runs/abl/bench_ours_microscopy_e12_seed* runs/bench/bench_ours_e12 \\
        --arm noaug runs/abl/bench_ours_noaug_e12_seed* --baseline stock --out augment_ablation_bccd_e12

For every arm against the baseline: the per-seed difference (arm - baseline, same seed),
its mean, a 95% t interval and an exact two-sided sign-flip permutation p-value over the
paired seeds. Seeds come from each run's own config (``config.yaml`` / ``args.yaml``).
Writes ``benchmarks/results/<out>.json`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
METRICS = ("map50", "map50_95", "WBC", "RBC", "Platelets")  # class names: AP50 of that class


def _run_seed(run: Path) -> int:
    for name in ("config.yaml", "args.yaml"):  # ours writes config.yaml; raw ultralytics only args.yaml
        if (run / name).is_file():
            return int(yaml.safe_load((run / name).read_text())["seed"])
    raise FileNotFoundError(f"{run}: no config.yaml or args.yaml to read the seed from")


def _score(run: Path, data_dir: Path, threads: int) -> dict:
    from leukoscan.detect.evaluate import evaluate_detector
    from leukoscan.detect.registry import load
    from leukoscan.device import set_cpu_threads

    det = load(run / "weights" / "best.pt")
    det.threads = set_cpu_threads(threads)
    m = evaluate_detector(det, data_dir, "val", conf=0.001, progress=False).to_dict()
    out = {"map50": m["map50"], "map50_95": m["map50_95"]}
    out.update({c: (v["ap50"] or 0.0) for c, v in m["per_class"].items()})
    return out


def paired_stats(diffs: list[float]) -> dict:
    """Mean paired difference, 95% t interval, exact two-sided sign-flip p-value."""
    from scipy import stats

    d = np.asarray(diffs, float)
    n = len(d)
    out: dict = {"n": n, "mean": float(d.mean()) if n else None, "diffs": [float(x) for x in d]}
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n))
    obs = abs(d.sum())
    flips = [abs((d * np.array(s)).sum()) for s in itertools.product((1, -1), repeat=n)]
    p = float(np.mean([f >= obs - 1e-12 for f in flips]))
    out.update(
        {
            "sd": sd,
            "ci95": [out["mean"] - half, out["mean"] + half],
            "p_signflip": p,
            "wins": int((d > 0).sum()),
            "losses": int((d < 0).sum()),
        }
    )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--arm",
        nargs="+",
        action="append",
        required=True,
        metavar=("NAME", "RUN"),
        help="arm name followed by its run folders (repeat per arm)",
    )
    p.add_argument("--baseline", required=True, help="arm every other arm is compared with")
    p.add_argument("--data-root", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="augment_ablation_bccd")
    a = p.parse_args(argv)

    from leukoscan.data import resolve

    arms = {spec[0]: [Path(r) for r in spec[1:]] for spec in a.arm}
    if a.baseline not in arms:
        p.error(f"--baseline {a.baseline!r} is not one of the arms {sorted(arms)}")
    data_dir = resolve("bccd", data_root=a.data_root)
    scores: dict[str, dict[int, dict]] = {}
    for name, runs in arms.items():
        scores[name] = {}
        for run in runs:
            seed = _run_seed(run)
            if seed in scores[name]:
                p.error(f"arm {name}: two runs with seed {seed} ({scores[name][seed]['run']} and {run})")
            scores[name][seed] = {"run": str(run), **_score(run, data_dir, a.threads)}
            print(name, seed, {k: round(scores[name][seed][k], 4) for k in METRICS}, flush=True)

    base = scores[a.baseline]
    summary: dict = {}
    for name, sc in scores.items():
        per = {
            k: {
                "mean": float(np.mean([s[k] for s in sc.values()])),
                "sd": float(np.std([s[k] for s in sc.values()], ddof=1)) if len(sc) > 1 else None,
            }
            for k in METRICS
        }
        summary[name] = {"seeds": sorted(sc), "per_metric": per}
        if name != a.baseline:
            seeds = sorted(set(sc) & set(base))
            summary[name]["vs_baseline_paired_seeds"] = seeds
            summary[name]["vs_baseline"] = {k: paired_stats([sc[s][k] - base[s][k] for s in seeds]) for k in METRICS}

    out = {
        "dataset": "bccd",
        "eval_split": "val",
        "baseline": a.baseline,
        "machine": platform.processor() or platform.machine(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "scores": scores,
        "summary": summary,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{a.out}.json").write_text(json.dumps(out, indent=2) + "\n")
    md = _markdown(out)
    (RESULTS / f"{a.out}.md").write_text(md)
    print(md)
    return 0


def _markdown(out: dict) -> str:
    lines = [
        "| arm | seed | mAP50 | mAP50-95 | AP50 WBC | AP50 RBC | AP50 Platelets |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, sc in out["scores"].items():
        for seed, s in sorted(sc.items()):
            lines.append(f"| {name} | {seed} | " + " | ".join(f"{s[k]:.3f}" for k in METRICS) + " |")
        per = out["summary"][name]["per_metric"]
        lines.append(
            f"| **{name} mean (sd)** | {len(sc)} seeds | "
            + " | ".join(
                f"{per[k]['mean']:.3f}" + (f" ({per[k]['sd']:.3f})" if per[k]["sd"] is not None else "")
                for k in METRICS
            )
            + " |"
        )
    lines += [
        "",
        f"Paired by seed, arm - {out['baseline']}: mean difference [95% t interval], exact sign-flip p",
        "",
        "| arm | paired seeds | " + " | ".join(("mAP50", "mAP50-95", "AP50 WBC", "AP50 RBC", "AP50 Platelets")) + " |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in out["summary"].items():
        if "vs_baseline" not in s:
            continue
        cells = []
        for k in METRICS:
            st = s["vs_baseline"][k]
            cells.append(
                f"{st['mean']:+.3f} [{st['ci95'][0]:+.3f}, {st['ci95'][1]:+.3f}] p={st['p_signflip']:.2f}"
                if "ci95" in st
                else (f"{st['mean']:+.3f}" if st["mean"] is not None else "-")
            )
        lines.append(f"| {name} | {len(s['vs_baseline_paired_seeds'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
