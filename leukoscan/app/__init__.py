"""Application layer: joins the two stages (detection, classification).

- :mod:`leukoscan.app.pipeline`: detector -> crops -> classifier -> per-cell calls;
- :mod:`leukoscan.app.batch`: the pipeline over files and folders, per-image outputs;
- :mod:`leukoscan.app.report`: slide summaries, cell tables, annotated images, HTML;
- :mod:`leukoscan.app.evaluate`: end-to-end evaluation on ALL-IDB1;
- :mod:`leukoscan.app.cell_types` / :mod:`leukoscan.app.differential`: the type stage (a second
  classifier types every cell not called a blast) and the per-slide differential count;
  :mod:`leukoscan.app.evaluate_types`: the differential scored on typed fields (BCCD);
- :mod:`leukoscan.app.export`: ONNX export of a detector + classifier pair.

Data flows ``leukoscan.commands -> leukoscan.app -> leukoscan.detect / leukoscan.classify
-> leukoscan core``; neither stage imports the other or this layer.
"""
