#!/usr/bin/env bash
# The CUDA check, run once on a lent GPU machine (no GPU in CI or on the 2-core development machine),
# sized to at most 9 minutes on one H200. Each step is bounded by its own time limit, logs to
# $OUT/log.txt and writes its JSON lines under $OUT as it goes, so a step that fails or runs out of time
# leaves the earlier ones' lines and the later ones their share:
#   1. setup                      wheels the image lacks (.whl/), the package                    32 s
#   2. cuda_tests                 the tests that run only where CUDA is (a captured run against    33 s
#                                 the eager one on the same seed, resume across the switch, a
#                                 step that cannot be captured, captured evaluation against the
#                                 eager pass): pytest, $OUT/cuda-tests.xml
#   3. pipeline                   the CLI on --device cuda: study (scratch), pick, retrain,       65 s
#                                 export with the onnxruntime cross-check, predict
#   4. bench_trainer              the trainer against plain loops (fp32, bf16, channels_last, the  90 s
#                                 whole step captured), three models at 224 px, batch 64 and 32;
#                                 evaluation eager, captured (eval_graph) and in bfloat16
#   5. gpu_workers                combined images/s of 1, 2, 4, 8 processes on the GPU             50 s
#   6. evidence_study             bench/gpu_evidence.py --steps study (its --timeout: 80 s)        130 s
#   7. evidence_retrain           the trivial baselines, one recipe, 3 seeds (a retrain starts    100 s
#                                 only if it would end within 88 s: fewer seeds on a slow GPU)
#   8. evidence_fidelity          proxy vs retrained error (a proxy training at the recipe's         40 s
#                                 multiplier for each architecture the study did not train at it,
#                                 each started only if it would end within 30 s; the rest named)
#                                                                                         total   540 s
# Usage: here, `bash bench/device_wheels.sh` writes .whl/ (the packages the machine's image lacks:
# optuna, thop, plotly and what they need, for its Python 3.12); there, with .whl carried:
#   HANDKP_COMMIT=<commit> bash bench/device_check.sh
# A dry run on the CPU (every step on tiny sizes; figures meaningless):
#   PY=.venv/bin/python DEV=cpu TRIALS=2 IMAGES=32 EVIDENCE_SIZE=tiny TRAINER_ARGS="--models space_cheapest --size 64 \
#     --batches 16 --images 64 --repeats 1" WORKERS_ARGS="--counts 1,2 --size 64 --images 64 --batch 16 --epochs 2" \
#     OUT=reports/device-dry bash bench/device_check.sh
# (on 2 CPU cores the pipeline step outlives its 65 s there; it is checked alone, 115 s, with
#   PY=.venv/bin/python DEV=cpu TRIALS=1 IMAGES=32 ONLY=pipeline OUT=reports/device-dry bash bench/device_check.sh)
# Back here: `python bench/device_collect.py <the fetched $OUT>` sums it up (steps, CUDA tests, goals, the
# one-GPU worker default to set); `--apply` appends its lines to docs/results/ (CUDA lines only).
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
    PYTHONPATH="/tmp/site:$PWD" $PY -c "import torch, timm, optuna, thop, plotly, nas.cli; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name() if torch.cuda.is_available() else '-', 'timm', timm.__version__, 'optuna', optuna.__version__)"
}

pipeline() {  # DEV (default cuda), SPACE, TRIALS and IMAGES (retrain's training images) make a CPU dry run
    local space=${SPACE:-$PWD/search_spaces/quick.yaml} dev=${DEV:-cuda} n=${IMAGES:-512} k=${TRIALS:-4} cli
    cli="$(cd "$(dirname "$(command -v "$PY")")" && pwd)/handkp-search"
    cd "$WORK" || return 1
    set -e
    "$cli" study --space "$space" --proxy scratch --trials "$k" --device "$dev" --storage sqlite:///s.db \
        --study-name q -o report.html
    "$cli" trials --storage sqlite:///s.db --study-name q
    "$cli" pick --storage sqlite:///s.db --study-name q -o best.yaml
    "$cli" retrain best.yaml -o run --epochs 2 --aug 1 --train-images "$n" --val-images 100 --test-images 100 --device "$dev"
    "$cli" export run/checkpoint.pt --onnx model.onnx
    "$cli" data synth --out hands --count 16 --size 160
    "$cli" predict run/checkpoint.pt --images hands/images --csv pred.csv --device "$dev"
    head -c 300 pred.csv; echo
    cp run/metrics.json "$OUT/pipeline-metrics.json" 2>/dev/null || true
}

export -f setup pipeline
[ -n "${ONLY:-}" ] && { export PYTHONPATH="$PWD"; step 600 "$ONLY" "$ONLY"; exit; }  # ONLY=pipeline: one step
step 32 setup setup
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
step 33 cuda_tests $PY -m pytest -q -rs -p no:cacheprovider -m cuda tests/training/test_cuda_graph.py \
    --junitxml "$OUT/cuda-tests.xml"
step 65 pipeline pipeline
step 90 bench_trainer $PY bench/bench_trainer.py --device "${DEV:-cuda}" ${TRAINER_ARGS:---images 1024 --repeats 2} \
    --out "$OUT/trainer-format.jsonl"
step 50 gpu_workers $PY bench/bench_gpu_workers.py --device "${DEV:-cuda}" ${WORKERS_ARGS:---images 1024 --epochs 3} \
    --out "$OUT/gpu-workers.jsonl"
EV="$PY bench/gpu_evidence.py --size ${EVIDENCE_SIZE:-gpu} --device ${DEV:-cuda} --out $OUT/gpu-evidence.jsonl --work $WORK/evidence"
step 130 evidence_study "$EV --steps study"
step 100 evidence_retrain "$EV --steps retrain"
step 40 evidence_fidelity "$EV --steps fidelity"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
echo "=== done"
