#!/usr/bin/env bash
# Train one published-setting row of the NLL table (issue 34) in stages that outlive a session.
#
#   benchmarks/reproduce_train.sh ROW ROOT DEADLINE [PYRO_VAE]
#
# ROW: vae-1l (elbo) or iwae-1l-k5 (iwae, K=5); ROOT: a folder outside the repository (e.g.
# /work/runs/published); DEADLINE: a `date -d` time after which no stage starts and the running one
# stops at its next epoch end (--minutes); PYRO_VAE: the command to run (default pyro-vae).
# Environment: BATCH (default 100; 20 is Burda's exact protocol), DEVICE (default cpu; cuda on a lent GPU):
#   DEVICE=cuda BATCH=20 benchmarks/reproduce_train.sh vae-1l /tmp/published "2030-01-01" pyro-vae
#
# Protocol: Burda et al. (2015)'s schedule (stage i = 0..7 runs 3**i passes at lr 1e-3 * 10**(-i/7),
# 3280 passes) on the 50k static binarized MNIST training images, at batch 100 instead of 20 (the
# same schedule in 1/5 of the steps: 3.2x faster per pass on this CPU, measured), 1 thread, seed 0.
# After each stage's last epoch the run directory is copied to ROOT/ROW/snapshots/epoch_E, so the
# learning curve can be evaluated with IW afterwards. Run it again (same arguments, a later
# DEADLINE) to continue: a finished stage is skipped, an unfinished one is resumed.
set -euo pipefail
row=$1 root=$2 deadline=$(date -d "$3" +%s) pyro_vae=${4:-pyro-vae}
case $row in
  vae-1l) loss=(--loss elbo) ;;
  iwae-1l-k5) loss=(--loss iwae --num-particles 5) ;;
  *) echo "unknown row $row: vae-1l or iwae-1l-k5" >&2; exit 2 ;;
esac
run=$root/$row/run snaps=$root/$row/snapshots
mkdir -p "$snaps"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for end in 1 4 13 40 121 364 1093 3280; do
  [ -d "$snaps/epoch_$end" ] && continue
  minutes=$(( (deadline - $(date +%s)) / 60 ))
  if [ "$minutes" -le 0 ]; then echo "$row: deadline reached before epoch $end"; exit 0; fi
  if [ -f "$run/checkpoint_last.pt" ]; then
    $pyro_vae train --resume "$run" --epochs "$end" --minutes "$minutes" --no-progress
  else
    rm -rf "$run"  # a run that died before its first checkpoint holds nothing to keep
    $pyro_vae train --model vae --dataset binarized-mnist --data-dir "${PYRO_VAE_DATA:-../shared/data}" \
      "${loss[@]}" --batch-size "${BATCH:-100}" --device "${DEVICE:-cpu}" --lr 1e-3 --lr-schedule burda --epochs "$end" --seed 0 \
      --minutes "$minutes" --no-progress --out "$run"
  fi
  done_epochs=$(tail -n 1 "$run/metrics.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["epoch"])')
  if [ "$done_epochs" -ge "$end" ]; then
    mkdir -p "$snaps/epoch_$end.tmp"
    cp "$run"/config.json "$run"/model.json "$run"/metrics.jsonl "$run"/checkpoint_last.pt "$snaps/epoch_$end.tmp/"
    mv "$snaps/epoch_$end.tmp" "$snaps/epoch_$end"
  else
    echo "$row: stopped at epoch $done_epochs of $end (time budget)"; exit 0
  fi
done
echo "$row: all 3280 epochs done"
