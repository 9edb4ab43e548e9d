"""Inference on one image: the cascade of the two stages, their fusion, model provenance."""
