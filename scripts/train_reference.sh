#!/usr/bin/env bash
# The recipe of the shipped weights (weights/README.md), round 2: the SRResNet x4 of round 1 tuned further on
# 491 images, then SRGAN-MSE x4 variants started from it, side by side on one GPU, each in a budget of wall time.
#
#   SRLIB_DATA=DIR scripts/train_reference.sh RUNS SRRESNET_MINUTES SRGAN_MINUTES [more srlib train options]
#
# DIR/train holds the training images: T91 + BSDS200 (train/) and BSDS500_test (train_extra/), 491 in all.
# 1. SRResNet: from weights/srresnet_x4.safetensors (round 1: 12,375 steps of 64), Adam 1e-4, batch 64 of
#    96x96 crops, for 70% of SRRESNET_MINUTES; say it reached S steps.
# 2. The same run resumed at 1e-5 (--resume keeps every other setting) for 30% of the minutes: the tenfold
#    drop at the end of training is the paper's own schedule for SRGAN and gains a few tenths of a dB here.
# 3. Three SRGAN-MSE runs (pixel MSE + 1e-3 adversarial) from that SRResNet, at once on the one GPU (its step
#    is bound by kernel launches, not arithmetic, so three runs cost little more than one), differing only in
#    what is said to tame the discriminator: (a) the round-1 recipe, Adam 1e-4; (b) the same with one-sided
#    label smoothing (real label 0.9); (c) label smoothing and Adam 2e-5. Rates drop tenfold at GAN_STEPS / 2.
#    Which one ships is decided on the validation images only (scripts/pick_srgan.py), never on a benchmark.
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
init=${INIT:-weights/srresnet_x4.safetensors}
gan_steps=${GAN_STEPS:-6000}
minutes() { "$py" -c "print(round($1, 3))"; }
last_step() { "$py" -c "import csv,sys; print(list(csv.DictReader(open(sys.argv[1])))[-1]['step'])" "$1/history.csv"; }
common=(--batch-size 64 --crop 96 --log-every 100 --val-every 2000 --checkpoint-every 2000)
set -x
"$py" -m srlib train srresnet --out "$runs/srresnet_x4" --init "$init" --steps 1000000 --lr 1e-4 "${common[@]}" \
    --time-limit "$(minutes "$g_min * 0.7")" "$@"
s=$(last_step "$runs/srresnet_x4")
"$py" -m srlib train srresnet --out "$runs/srresnet_x4" --resume --lr 1e-5 --time-limit "$(minutes "$g_min * 0.3")"
"$py" -m srlib export "$runs/srresnet_x4/checkpoint.pt" "$runs/srresnet_x4.safetensors"
gan=(--init "$runs/srresnet_x4.safetensors" --content mse --steps "$gan_steps" "${common[@]}" --time-limit "$d_min")
"$py" -m srlib train srgan --out "$runs/srgan_a" --lr 1e-4 "${gan[@]}" "$@" > "$runs/srgan_a.log" 2>&1 &
"$py" -m srlib train srgan --out "$runs/srgan_b" --lr 1e-4 --real-label 0.9 "${gan[@]}" "$@" > "$runs/srgan_b.log" 2>&1 &
"$py" -m srlib train srgan --out "$runs/srgan_c" --lr 2e-5 --real-label 0.9 "${gan[@]}" "$@" > "$runs/srgan_c.log" 2>&1 &
wait
for v in a b c; do
    "$py" -m srlib export "$runs/srgan_$v/checkpoint.pt" "$runs/srgan_$v.safetensors"
done
echo "srresnet: $s steps at 1e-4, then $(last_step "$runs/srresnet_x4") in all"
