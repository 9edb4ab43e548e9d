"""Training and evaluating the whole pipeline: cells datasets, fusion fits, end-to-end scores."""
