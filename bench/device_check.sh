#!/usr/bin/env bash
# The CUDA check, run once on a lent GPU machine (no GPU in CI or on the 2-core development machine).
# Each step is bounded by its own time limit, logs to $OUT/log.txt and copies what it wrote to $OUT, so a
# step that fails or runs out of time leaves the later ones their share:
#   1. the whole CLI pipeline on --device cuda: a study (scratch proxies), pick, retrain, export with the
#      onnxruntime cross-check, predict; then a supernet-proxy study (parent, children, report)
#   2. bench/bench_trainer.py --device cuda: the trainer (mixed precision, memory format `auto`) against
#      plain loops in float32 and in mixed precision, contiguous and channels_last, at 224 px (the GPU
#      space's proxy size; at 64 px batch 32 keeps an H200 waiting on Python: ~1,000 images/s in every arm)
#   3. bench/suite.py --size smoke --device cuda: the evidence suite's code path on CUDA (figures meaningless)
# Usage there (the wheels in .whl/ are the Python packages the machine's image lacks):
#   HANDKP_COMMIT=<commit> bash bench/device_check.sh      (NO_SUITE=1: leave out step 3)
set -u
OUT=${OUT:-reports/device}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
exec > >(tee -a "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1
export PY=${PY:-python3} OUT WORK
WORK=$(mktemp -d)

step() {  # step SECONDS NAME COMMAND...: run one bounded step and say how it ended
    local limit=$1 name=$2 t0=$SECONDS rc
    shift 2
    echo "=== $(date -u +%T) $name (limit ${limit}s)"
    timeout "$limit" bash -c "$*"  # a child shell: the steps are exported functions or plain commands
    rc=$?
    echo "=== $name: rc=$rc in $((SECONDS - t0))s"
}

setup() {
    nvidia-smi -L
    if [ -d .whl ]; then
        $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    fi
    $PY -m pip install -q --no-index --no-deps --no-build-isolation -e . \
        || printf '#!%s\nfrom nas.cli import main\nmain()\n' "$(command -v $PY)" > "$(dirname "$(command -v $PY)")/handkp-search"
    chmod +x "$(dirname "$(command -v $PY)")/handkp-search"
    PYTHONPATH="/tmp/site:$PWD" $PY -c "import torch, timm, optuna; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name() if torch.cuda.is_available() else '-', 'timm', timm.__version__, 'optuna', optuna.__version__)"
}

pipeline() {  # DEV (default cuda), SPACE, TRIALS and IMAGES (retrain's training images) make a CPU dry run
    local space=${SPACE:-$PWD/search_spaces/quick.yaml} dev=${DEV:-cuda} n=${IMAGES:-512} k=${TRIALS:-4} cli
    cli="$(cd "$(dirname "$(command -v "$PY")")" && pwd)/handkp-search"
    cd "$WORK" || return 1
    set -e
    "$cli" study --space "$space" --trials "$k" --device "$dev" --storage sqlite:///s.db \
        --study-name q -o report.html
    "$cli" trials --storage sqlite:///s.db --study-name q
    "$cli" pick --storage sqlite:///s.db --study-name q -o best.yaml
    "$cli" retrain best.yaml -o run --epochs 2 --aug 1 --train-images "$n" --val-images 100 --test-images 100 --device "$dev"
    "$cli" export run/checkpoint.pt --onnx model.onnx
    "$cli" data synth --out hands --count 16 --size 160
    "$cli" predict run/checkpoint.pt --images hands/images --csv pred.csv --device "$dev"
    head -c 300 pred.csv; echo
    "$cli" study --space "$space" --proxy supernet --trials $((3 * k)) --device "$dev" \
        --storage sqlite:///sn.db --study-name sn -o sn.html
    "$cli" trials --storage sqlite:///sn.db --study-name sn --top 5
    "$cli" pick --storage sqlite:///sn.db --study-name sn -o sn-best.yaml
    "$cli" retrain sn-best.yaml -o sn-run --init supernet --storage sqlite:///sn.db --epochs 1 --aug 1 --train-images "$n" \
        --val-images 100 --test-images 100 --device "$dev"
    cp report.html sn.html run/metrics.json "$OUT/" 2>/dev/null || true
}

keep_results() {  # the trainer lines written on this machine, for committing beside the others
    local f=docs/results/trainer-format.jsonl
    tail -n +"$(( $(wc -l < "$f.orig") + 1 ))" "$f" > "$OUT/trainer-format-cuda.jsonl"
}

export -f setup pipeline keep_results
[ -n "${ONLY:-}" ] && { export PYTHONPATH="$PWD"; step 900 "$ONLY" "$ONLY"; exit; }  # ONLY=pipeline: one step
step 90 setup setup
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
cp docs/results/trainer-format.jsonl docs/results/trainer-format.jsonl.orig
step 240 pipeline pipeline  # six quick.yaml trials took ~150 s on an H200 (launch-bound)
step 120 bench_trainer $PY bench/bench_trainer.py --device cuda --size 224 --images 1024 --save
keep_results
[ -n "${NO_SUITE:-}" ] || step 120 suite_smoke $PY bench/suite.py --size smoke --device cuda --out "$OUT/suite-smoke-cuda.jsonl"
cp reports/bench/smoke.partial.jsonl "$OUT/" 2>/dev/null  # what a suite stopped by its limit had written
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
echo "=== done"
