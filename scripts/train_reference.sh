#!/usr/bin/env bash
# The recipe of the shipped weights (weights/README.md), round 2: the SRResNet x4 of round 1 tuned further,
# then SRGAN-MSE x4 started from it, each in a budget of wall time on one GPU.
#
#   SRLIB_DATA=DIR scripts/train_reference.sh RUNS SRRESNET_MINUTES SRGAN_MINUTES [more srlib train options]
#
# DIR/train holds the training images (round 2 had T91 + BSDS200, 291 images; BSDS500_test did not reach
# the GPU machine, see weights/README.md).
# 1. SRResNet: from INIT (round 1's weights: 12,375 steps of 64), Adam 1e-4, batch 64 of 96x96 crops, for
#    70% of SRRESNET_MINUTES.
# 2. The same run resumed at 1e-5 (--resume keeps every other setting) for 30% of the minutes: the tenfold
#    drop at the end is the paper's own schedule for SRGAN, and gained 0.05 dB on validation here.
# 3. SRGAN-MSE (pixel MSE + 1e-3 adversarial) from that SRResNet: Adam 2e-5 (round 1's 1e-4 left a grid
#    texture), one-sided label smoothing (real label 0.9), GAN_STEPS steps, rates down tenfold at half.
#    Round 2 ran steps 1-2 in one GPU call and step 3 in a second (train_log_round2.txt has both).
# Every command is printed before it runs (set -x): the log holds the exact commands and step counts.
# Extra options go to every `srlib train` (e.g. `--n-blocks 2 --channels 8 --batch-size 4` for a dry run).
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 RUNS SRRESNET_MINUTES SRGAN_MINUTES [srlib train options]" >&2
    exit 2
fi
runs=$1 g_min=$2 d_min=$3
shift 3
py=${PYTHON:-python3}
init=${INIT:-srlib/pretrained/srresnet_x4.safetensors}
gan_steps=${GAN_STEPS:-5000}
minutes() { "$py" -c "print(round($1, 3))"; }
last_step() { "$py" -c "import csv,sys; print(list(csv.DictReader(open(sys.argv[1])))[-1]['step'])" "$1/history.csv"; }
common=(--batch-size 64 --crop 96 --log-every 100 --val-every 2000 --checkpoint-every 2000)
set -x
"$py" -m srlib train srresnet --out "$runs/srresnet_x4" --init "$init" --steps 1000000 --lr 1e-4 "${common[@]}" \
    --time-limit "$(minutes "$g_min * 0.7")" "$@"
s=$(last_step "$runs/srresnet_x4")
"$py" -m srlib train srresnet --out "$runs/srresnet_x4" --resume --lr 1e-5 --time-limit "$(minutes "$g_min * 0.3")"
"$py" -m srlib export "$runs/srresnet_x4/checkpoint.pt" "$runs/srresnet_x4.safetensors" --overwrite
"$py" -m srlib train srgan --out "$runs/srgan_mse_x4" --init "$runs/srresnet_x4.safetensors" --content mse \
    --lr 2e-5 --real-label 0.9 --steps "$gan_steps" "${common[@]}" --time-limit "$d_min" "$@"
"$py" -m srlib export "$runs/srgan_mse_x4/checkpoint.pt" "$runs/srgan_mse_x4.safetensors" --overwrite
echo "srresnet: $s steps at 1e-4, then $(last_step "$runs/srresnet_x4") in all"
