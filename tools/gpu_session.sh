#!/usr/bin/env bash
# The trainings the 2-core CPU cannot finish, in one call on one lent GPU (about 8 minutes):
#   - `frames`  : the shipped frames model trained further (detector frames, issue 8);
#   - `default` : the shipped default trained further on the low-resolution mixture (25 x 25, HCP; issue 4);
#   - `alexnet`, `vgg16`: the paper's networks from nothing on clean simulations (issue 4; ResNet-50
#     reached the paper's accuracy on the CPU in session 18, so it is no longer trained here).
# All four train at once (RUNS names a subset), each simulating its own data with data echoing
# (--echo), on the GPU in the training process. Session 19 got `frames` one epoch in 4 minutes
# there (100 frames/s): its simulator ran once per window scale, about 150,000 torch calls per batch
# of 256 + 64 films of no class. Since session 26 a batch's scales share one call (about 12,000
# torch calls; `simulate` makes 5,600 per 256 and trained at 1,600/s on an H100). FRAMES_WORKERS=8
# simulates `frames` in 8 CPU loader processes instead (one thread each; unmeasured on the device). Each
# trains for MINUTES (default 4); then each is evaluated on the report's held-out set (seed 90210,
# no realistic frames: fabio is not on the device image). Everything small comes back in one file,
# $OUT/gpu_session.tgz: the compact bundles (1.7 MB each), every manifest, training log and
# report (metrics.json, report.md), and benchmarks/bench_scaled_simulation.py's figures on the
# device (scaled_simulation.txt). The paper networks' weights (94-537 MB) stay on the device.
#
# The device image has PyTorch, numpy, scipy, h5py, safetensors, matplotlib and tqdm but not
# platformdirs, and no package index: carry its wheel (device README) and put it on the path.
#   here, once:  python3 -m pip download --no-deps -d .whl platformdirs==4.3.6   (.whl ignored by git)
#   device run (carry .whl, timeout_s 600):
#     python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
#     && bash tools/gpu_session.sh
#   here, after: tar xzf gpu_session.tgz -C gpu; gisaxs-cnn evaluate --model gpu/frames --realistic 2 ...
#
# MINUTES=0.05 DEVICE=cpu BATCHES=2 BATCH_SIZE=14 PER_CLASS=2 bash tools/gpu_session.sh
# (with .venv/bin first in PATH) checks the whole script on a CPU (7 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-session}"
MINUTES="${MINUTES:-4}"
DEVICE="${DEVICE:-cuda}"
BATCHES="${BATCHES:-100}"
BATCH_SIZE="${BATCH_SIZE:-256}"
RUNS="${RUNS:-frames default alexnet vgg16}"  # a subset reruns only those
work="$(mktemp -d)"
mkdir -p "$OUT"
if ! python3 -c "import xicam_gisaxs_cnn_trainer" 2>/dev/null; then
    # No install (the device has no package index to build with): both packages on the path as they are.
    mkdir -p "$work/path" && ln -s "$PWD/trainer" "$work/path/xicam_gisaxs_cnn_trainer"
    export PYTHONPATH="$PWD:$work/path${PYTHONPATH:+:$PYTHONPATH}"
fi
amp=()
[ "$DEVICE" = cuda ] && amp=(--amp)
echo '{"rescale_probability": 0.5, "rescale_size": [20, 40]}' > "$work/low.json"
common=(--device "$DEVICE" "${amp[@]}" --workers 0 --batch-size "$BATCH_SIZE" --batches-per-epoch "$BATCHES"
        --validation-batches 4 --epochs 10000 --time-budget "$MINUTES" --quiet)
declare -A runs=(
    [frames]="--init frames --data simulate-scaled --randomise --outliers 0.25 --echo 4 --lr 5e-4 --seed 1001 --workers ${FRAMES_WORKERS:-0}"
    [default]="--init default --mixture $work/low.json --echo 4 --lr 3e-4 --seed 1002"
    [alexnet]="--arch alexnet --degradation clean --echo 8 --lr 3e-4 --seed 1003"
    [vgg16]="--arch vgg16 --degradation clean --echo 8 --lr 1e-3 --seed 1004"
)
for name in $RUNS; do
    # shellcheck disable=SC2086  # the run's arguments are words
    python3 -m xicam_gisaxs_cnn_trainer.train "${common[@]}" ${runs[$name]} --output "$work/$name" > "$work/$name.log" 2>&1 &
done
wait
gisaxs_cnn() { python3 -c 'import sys; from xicam_gisaxs_cnn.cli import main; sys.exit(main(sys.argv[1:]))' "$@"; }
status=0
for name in $RUNS; do  # the four evaluations at once, 3 CPU threads each
    if [ -f "$work/$name/manifest.json" ]; then
        OMP_NUM_THREADS=3 gisaxs_cnn evaluate --model "$work/$name" --output "$work/$name-report" \
            --per-class "${PER_CLASS:-200}" --device "$DEVICE" > "$work/$name-evaluate.log" 2>&1 &
    else
        echo "$name: no bundle"; tail -n 5 "$work/$name.log" 2>/dev/null || true; status=1
    fi
done
wait
mkdir -p "$work/pack"
for name in frames default; do
    [ -f "$work/$name/model.safetensors" ] && mkdir -p "$work/pack/$name" && cp "$work/$name"/{manifest.json,model.safetensors} "$work/pack/$name/"
done
for name in $RUNS; do
    [ -f "$work/$name-report/metrics.json" ] || { echo "$name: no report"; tail -n 5 "$work/$name-evaluate.log" 2>/dev/null || true; status=1; }
    mkdir -p "$work/pack/reports/$name"
    cp "$work/$name".log "$work/$name"-evaluate.log "$work/pack/reports/$name/" 2>/dev/null || true
    cp "$work/$name/manifest.json" "$work/pack/reports/$name/" 2>/dev/null || true
    cp "$work/$name-report"/{metrics.json,report.md} "$work/pack/reports/$name/" 2>/dev/null || true
done
# the scaled simulation's rate on this device, one call against one per scale (docs/benchmarks.md)
python3 benchmarks/bench_scaled_simulation.py --device "$DEVICE" --batch "$BATCH_SIZE" --rounds 2 \
    > "$work/pack/scaled_simulation.txt" 2>&1 || status=1
cat "$work/pack/scaled_simulation.txt"
tar czf "$OUT/gpu_session.tgz" -C "$work/pack" .
python3 - "$work/pack/reports" <<'EOF'
import json, pathlib, sys
for report in sorted(pathlib.Path(sys.argv[1]).glob("*/metrics.json")):
    metrics = json.loads(report.read_text())["robust_model_test"]
    print(report.parent.name, {key: metrics[key] for key in ("clean", "gaussian:1", "rescale:25") if key in metrics})
EOF
exit "$status"
