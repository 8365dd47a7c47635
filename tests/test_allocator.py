"""The command line's malloc settings (pyro_vae/allocator.py): with them, block-sized tensors that
are freed and allocated again come back without page faults; the user's own choice is left alone.
Each case runs in a fresh interpreter (the settings are the process's)."""

import json
import math
import os
import subprocess
import sys

import pytest

from pyro_vae.allocator import user_chose_allocator

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
                                reason="glibc only")

# block-sized tensors (4096 x 784 floats, 13 MB each) freed and allocated 20 times, after 3 warm-ups
LOOP = """
import json, resource, sys, torch
from pyro_vae.allocator import tune_malloc
tuned = tune_malloc() if sys.argv[1] == "tune" else None
def work():  # 8 tensors live (104 MB): above the largest trim threshold glibc's defaults reach (64 MiB)
    live = [torch.empty(4096 * 784).fill_(float(i)) for i in range(8)]
    return float(sum(t[0] for t in live).exp())
for _ in range(3):
    work()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
values = [work() for _ in range(20)]
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
print(json.dumps({"tuned": tuned, "faults": faults, "value": values[-1]}))
"""


def _loop(mode, **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "PYRO_VAE_MALLOC"}
    out = subprocess.run([sys.executable, "-c", LOOP, mode], env={**environ, **env}, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_tuned_malloc_reuses_freed_blocks_where_glibc_defaults_fault_them_in_again():
    default, tuned = _loop("defaults"), _loop("tune")
    assert tuned["tuned"] is True
    pages = 4096 * 784 * 4 // 4096  # one tensor's pages
    # the settings: the heap hands the freed blocks back (glibc's defaults return them to the system and
    # fault them in again: 25,000 faults per iteration here in most runs, 1,500 in a few)
    assert tuned["faults"] < pages / 4
    assert tuned["faults"] <= default["faults"]
    assert tuned["value"] == default["value"] == pytest.approx(math.exp(28.0), rel=1e-6)  # exp(0 + ... + 7)


def test_the_users_allocator_choice_is_left_alone():
    assert _loop("tune", PYRO_VAE_MALLOC="system")["tuned"] is False
    assert _loop("tune", MALLOC_ARENA_MAX="2")["tuned"] is False
    assert user_chose_allocator({"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"})
    assert user_chose_allocator({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"})
    assert not user_chose_allocator({"PATH": "/usr/bin", "PYRO_VAE_MALLOC": "tuned"})
