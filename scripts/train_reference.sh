#!/usr/bin/env bash
# The recipe of the shipped weights (weights/README.md): SRResNet x4 trained with pixel MSE, then SRGAN-MSE x4
# started from it, each in a budget of wall time, so that one GPU session trains both.
#
#   SRLIB_DATA=DIR scripts/train_reference.sh RUNS SRRESNET_MINUTES SRGAN_MINUTES [more srlib train options]
#
# 1. SRResNet: Adam 2e-4, batch 64 of 96x96 crops, for 80% of SRRESNET_MINUTES; say it reached S steps.
# 2. The same run resumed at 2e-5 for S/4 more steps: a lower rate at the end gains a few tenths of a dB.
# 3. SRGAN-MSE (pixel MSE + 1e-3 adversarial) from the exported SRResNet, Adam 1e-4 dropped tenfold halfway,
#    for as many steps as SRGAN_MINUTES allow at the speed step 1 measured (an SRGAN step costs ~3 SRResNet's).
# Every command is printed before it runs (set -x): the log holds the exact commands, step counts included.
# Extra options go to every `srlib train` (e.g. `--n-blocks 2 --channels 8 --batch-size 4` for a dry run).
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 RUNS SRRESNET_MINUTES SRGAN_MINUTES [srlib train options]" >&2
    exit 2
fi
runs=$1 g_min=$2 d_min=$3
shift 3
py=${PYTHON:-python3}
minutes() { "$py" -c "print(round($1, 3))"; }
steps_of() { "$py" -c "import csv,sys; r=list(csv.DictReader(open(sys.argv[1])))[-1]; print(r['step'], r['seconds'])" "$1/history.csv"; }
common=(--batch-size 64 --crop 96 --log-every 100 --val-every 2000 --checkpoint-every 2000)
set -x
"$py" -m srlib train srresnet --out "$runs/srresnet_x4" --steps 1000000 --lr 2e-4 "${common[@]}" \
    --time-limit "$(minutes "$g_min * 0.8")" "$@"
read -r s seconds < <(steps_of "$runs/srresnet_x4")
"$py" -m srlib train srresnet --out "$runs/srresnet_x4" --resume --steps $((s + s / 4)) --lr 2e-5 "${common[@]}" \
    --time-limit "$(minutes "$g_min * 0.3")" "$@"
"$py" -m srlib export "$runs/srresnet_x4/checkpoint.pt" "$runs/srresnet_x4.safetensors"
gan_steps=$("$py" -c "print(max(2, int($s / $seconds * $d_min * 60 / 3)))")
"$py" -m srlib train srgan --init "$runs/srresnet_x4.safetensors" --content mse --out "$runs/srgan_mse_x4" \
    --steps "$gan_steps" --lr 1e-4 "${common[@]}" --time-limit "$d_min" "$@"
"$py" -m srlib export "$runs/srgan_mse_x4/checkpoint.pt" "$runs/srgan_mse_x4.safetensors"
