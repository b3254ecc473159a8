#!/usr/bin/env bash
# The wheels bench/device_check.sh carries to the lent GPU machine: the packages its image lacks
# (optuna with alembic, SQLAlchemy, Mako and colorlog; thop; plotly), each at the version installed in
# this checkout's .venv (the versions the test suite ran), built for that machine's Python 3.12 on
# x86-64. Everything else the package needs (torch, timm, typer, numpy, pandas, scipy, onnx,
# onnxruntime, ...) is in its image. Writes .whl/ (about 15 MB; .gitignore keeps it out of git):
#   bash bench/device_wheels.sh           # then carry .whl with the device run:
#   HANDKP_COMMIT=<commit> bash bench/device_check.sh        (carry: [".whl"])
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PACKAGES="optuna alembic sqlalchemy mako colorlog thop plotly"
rm -rf .whl && mkdir .whl
for name in $PACKAGES; do
    version=$($PY -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name") || {
        echo "device_wheels.sh: $name is not installed in $PY (run make setup first)" >&2; exit 2; }
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "$name==$version"
done
ls .whl
du -sh .whl
