#!/usr/bin/env bash
# The checks that need a GPU, as one run on a lent device machine. From the developers' session:
#
#   run(command="bash benchmarks/device_check.sh", carry=[".whl"], timeout_s=540)
#
# where .whl (ignored by git) holds the wheels the device image lacks, fetched beforehand with
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 -d .whl pyro-ppl==1.9.2 pyro-api==0.1.2 arviz==0.23.4 \
#     h5netcdf==1.8.3 xarray-einstats==0.9.1 mlxtend==0.25.0 platformdirs
#
# It installs them and pyro-vae into /tmp/site and runs, each with its own time limit, writing logs
# and results under $OUT: the CUDA tests (tests/cuda), then benchmarks/speed.py on CUDA (the
# captured step with and without its CUDA graph, pure PyTorch eager and under a CUDA graph). Python
# runs with -P so that pyro_vae is the installed package (with its zoo), not the checkout's folder.
set -uo pipefail
OUT=${OUT:-/tmp/device_check}
mkdir -p "$OUT"
SPEED_ARGS=${SPEED_ARGS:---rounds 5 --steps 50 --no-breakdown}

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target /tmp/site . \
  || { echo "device_check: installing the carried wheels and pyro-vae failed"; exit 1; }
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; python3 -c "import torch, pyro; \
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'pyro', pyro.__version__, torch.cuda.get_device_name())"; \
  date -u; } 2>&1 | tee "$OUT/machine.txt"

timeout 240 python3 -P -m pytest -q -p no:cacheprovider tests/cuda 2>&1 | tee "$OUT/cuda_tests.log"
# shellcheck disable=SC2086
timeout 240 python3 -P benchmarks/speed.py --device cuda $SPEED_ARGS 2>&1 | tee "$OUT/speed_cuda.log"
cp benchmarks/results/speed_cuda.json "$OUT/" 2>/dev/null || echo "device_check: no speed_cuda.json written"
