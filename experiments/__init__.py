"""The research harness (``experiments/`` = ``leukoscan.experiments``), outside the shipped stages.

- :mod:`~leukoscan.experiments.classifier_benchmark`: the classifier zoo under one CV protocol;
- :mod:`~leukoscan.experiments.reproduce`, :mod:`~leukoscan.experiments.seed_table`,
  :mod:`~leukoscan.experiments.seed_report`, :mod:`~leukoscan.experiments.whole_image`: the
  review's seed reproduction table.

Only its own command (``leukoscan benchmark-classifiers``) and ``benchmarks/`` import it;
stage 2 (``leukoscan.classify``) keeps the recipes and their parts.
"""
