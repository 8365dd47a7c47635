"""What an evaluation reads and what decides its numbers, shared by ``evaluate``'s IW path
(:mod:`pyro_vae.cli.evaluate`) and its AIS / BDMC path (:mod:`pyro_vae.cli.evaluate_annealed`):
the inputs recorded with a result, the rule that keeps a result with other inputs, and the rows
of the split an evaluation takes."""

from __future__ import annotations

from ..errors import OptionError


def evaluation_inputs(run_dir, opts) -> dict:
    """What determines an evaluation's numbers: the checkpoint's bytes and the options that
    decide the draws. An earlier result with the same inputs has the same numbers."""
    import hashlib

    from ..training import RunDir

    path = RunDir(run_dir).checkpoint_path(opts.checkpoint)
    sha = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return {"checkpoint": opts.checkpoint, "checkpoint_sha256": sha, "split": opts.split, "n": opts.n,
            "subset": opts.subset if opts.n else None, "subset_seed": opts.subset_seed if opts.n else None,
            "seed": opts.seed, "draws": opts.k, "proposals": opts.proposals, "max_elements": opts.max_elements}


def refuse_changed_results(planned: list) -> None:
    """Refuse to replace a result file written with other inputs (the same inputs give the same
    numbers: replacing it loses nothing); ``--overwrite`` replaces it anyway."""
    from ..errors import RunDirError
    from ..io.files import read_json_object

    for path, inputs in planned:
        if not path.exists() or inputs is None:  # (checked through its summary file)
            continue
        try:
            earlier = read_json_object(path, "").get("inputs")
        except RunDirError:  # unreadable, not JSON: not ours to replace silently
            earlier = None
        if earlier != inputs:
            raise OptionError(f"{path} holds an earlier evaluation with other inputs (checkpoint, seed, n, K or "
                              f"proposal): pass --overwrite to replace it, or choose another --out / --seed / --split")


def evaluation_rows(run, opts, n):
    """``(x, y, Subset)``: the rows of ``opts.split`` that an evaluation of ``n`` datapoints takes
    (:mod:`pyro_vae.data.subset`: a seeded random sample unless ``--subset first``)."""
    from ..data.subset import choose_rows

    x, y = run.data.split(opts.split)
    if n is not None and n > len(x):
        raise OptionError(f"--n {n} is more than the {len(x)} datapoints of {run.config.dataset}/{opts.split}: "
                          f"use --n {len(x)} or less, or drop --n")
    rows = choose_rows(len(x), n, opts.subset_seed, opts.subset)
    x, y = rows.take(x, y)  # (a memory-mapped split is read here)
    return x, y, rows


def rows_line(rows) -> str:
    """``n=100 (random rows of 10000, subset seed 0)``: which rows a printed number is over."""
    about = {"all": "the whole split", "first": f"the first rows of {rows.size}",
             "random": f"random rows of {rows.size}, subset seed {rows.seed}"}[rows.rule]
    return f"n={rows.n} ({about})"
