"""``--devices 2`` from the command line: a rank killed mid-run ends the job in one line per
process (no hang, no traceback), the run resumes (here in one process: the checkpoint holds no
per-rank state), and a 2-process evaluate writes what one process computes."""

import os
import subprocess
import sys
import textwrap


from pyro_vae.cli import main

DIES = textwrap.dedent('''
    """The zoo VAE, except that rank 1 kills itself (SIGKILL) at its model call KILL_RANK_1_AT."""
    import os
    import signal

    import torch.distributed as dist

    from pyro_vae.registry import register_model, resolve

    VAE = resolve("vae").cls


    @register_model("vae_rank_1_dies")
    class Dies(VAE):
        calls = 0

        def model(self, x, y=None):
            Dies.calls += 1
            at = os.environ.get("KILL_RANK_1_AT")
            if at and dist.is_initialized() and dist.get_rank() == 1 and Dies.calls == int(at):
                os.kill(os.getpid(), signal.SIGKILL)
            return super().model(x, y)
''')


def test_a_killed_rank_ends_the_job_in_one_line_and_the_run_resumes(tmp_path, capsys):
    model = tmp_path / "dies.py"
    model.write_text(DIES)
    run = tmp_path / "run"
    env = {**os.environ, "KILL_RANK_1_AT": "20"}  # epoch 2 (13 steps and a validation block per epoch)
    proc = subprocess.run([sys.executable, "-m", "pyro_vae", "train", "--model", str(model), "--dataset", "digits",
                           "--model-opt", "z_dim=2", "--model-opt", "hidden=[16]", "--epochs", "3", "--batch-size",
                           "100", "--capture", "off", "--devices", "2", "--out", str(run), "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("pyro-vae: error")]
    assert "Traceback" not in proc.stderr
    assert errors[-1] in [f"pyro-vae: error: process {who} ended {how}; the launcher stopped the others; continue the run "
                          f"with `pyro-vae train --resume {run}`" for who, how in [
                              ("1 of 2", "by signal SIGKILL"),
                              ("0 of 2", "with an error (its line is above)")]]  # (when the launcher saw rank 0 end first)
    assert any(line.startswith("pyro-vae: error (rank 0 of 2): ") for line in errors)  # the survivor says why it ended
    assert "epoch 1/3" in proc.stderr and "epoch 2/3" not in proc.stderr
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0  # one process continues the 2-process run
    assert "3 epochs" in capsys.readouterr().out
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and '"processes": 2' in lines[0] and '"processes"' not in lines[2]

    # (2-process evaluation equals one process's exactly: tests/distributed/test_data_parallel.py)

def test_a_master_port_in_use_is_refused_in_one_line_before_anything_starts(tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("localhost", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("MASTER_PORT", str(port))
        code = main(["train", "--dataset", "digits", "--epochs", "1", "--devices", "2", "--out", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"pyro-vae: error: port {port} (MASTER_PORT) is in use (Address already in use): set MASTER_PORT "
                   f"to a free port or unset it (a free port is found)"]
    assert not (tmp_path / "run" / "config.json").exists()
