"""replyall-storm experiments: what we do to the model (runs, benchmarks, sweeps, fits, figures)."""
