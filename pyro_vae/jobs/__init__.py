"""The jobs a user runs, as library functions the CLI calls: the estimator comparison
(:mod:`.compare`, its pictures in :mod:`.compare_plots`) and encoding a split (:mod:`.encode`).
Training is :func:`pyro_vae.training.train`, evaluation :mod:`pyro_vae.evaluation`."""
