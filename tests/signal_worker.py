"""Train a tiny YOLO and signal this process during the final validation.

    python tests/signal_worker.py DATA PROJECT SIGNAL WHERE

``WHERE``: ``ultralytics`` = ultralytics' own final validation of best.pt (its second
``on_val_start``: the first is the epoch's validation); ``leukoscan`` = LeukoScan's final
COCO evaluation (``predict_split``). Exits with train-detector's exit code.
"""

from __future__ import annotations

import os
import signal
import sys


def main(data: str, project: str, sig: str, where: str) -> int:
    from leukoscan.detect import train as train_mod
    from leukoscan.detect.backends import yolo
    from leukoscan.tools import train_detector

    def hit() -> None:
        os.kill(os.getpid(), getattr(signal, sig))

    if where == "ultralytics":
        original = yolo.YoloDetector._callbacks
        starts = []

        def callbacks(self, args, used):
            cbs = dict(original(self, args, used))

            def val_start(validator) -> None:
                starts.append(1)
                if len(starts) == 2:
                    hit()

            cbs["on_val_start"] = val_start
            return cbs

        yolo.YoloDetector._callbacks = callbacks
    else:
        original_predict = train_mod.predict_split

        def predict_split(*a, **k):
            hit()
            return original_predict(*a, **k)

        train_mod.predict_split = predict_split
    return train_detector.main(
        [
            "--data",
            data,
            "--model",
            "yolov8n",
            "--scratch",
            "--imgsz",
            "64",
            "--epochs",
            "1",
            "--batch",
            "4",
            "--device",
            "cpu",
            f"project={project}",
            "name=r",
        ]
    )


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
