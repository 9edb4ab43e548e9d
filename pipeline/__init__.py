"""Application layer (``pipeline/`` = ``leukoscan.pipeline``): joins the two stages.

- :mod:`leukoscan.pipeline.infer`: detector -> crops -> classifier -> per-cell calls
  (``cascade``), the fusion of the stages (``seam``), where models came from (``sources``,
  ``provenance``), the ONNX pair (``export_onnx``);
- :mod:`leukoscan.pipeline.batch`: the pipeline over files and folders (``runner``, the Ray
  engine ``distributed``), which files (``inputs``), run folders and locks (``outputs``);
- :mod:`leukoscan.pipeline.report`: slide summaries (``summary``), cell tables and annotated
  images (``slide_report``, ``annotate``), HTML (``report_html``), COCO/CVAT (``export_labels``);
- :mod:`leukoscan.pipeline.train`: cells datasets cut by a detector (``cells``), out-of-fold
  scores and operating points (``seam_fit``), ``train-all-pipeline`` (``allpipe``), end-to-end
  evaluation on ALL-IDB1 (``end_to_end``).

Data flows ``leukoscan.tools -> leukoscan.pipeline -> leukoscan.detect / leukoscan.classify
-> leukoscan core``; neither stage imports the other or this layer.
"""
