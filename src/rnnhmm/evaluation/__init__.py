"""Evaluation of trained models against their HMMs: metrics (emission statistics, Sinkhorn-matched
distance), the HMM-vs-HMM floor, per-model records and the metrics table."""
