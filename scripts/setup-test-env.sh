#!/usr/bin/env bash
# Installs what the test suite needs besides the Rust toolchain, idempotently:
#   - kcat (Debian package) for the end-to-end tests,
#   - a Python venv at .venv with the pinned clients of tests/clients/requirements.txt.
# Each step is skipped when what it installs is already there, so a second run takes a second.
# Usage: scripts/setup-test-env.sh   (from anywhere; it works from the repo root)
set -euo pipefail

cd "$(dirname "$0")/.."
REQUIREMENTS=tests/clients/requirements.txt
VENV=.venv
PYTHON=${PYTHON:-python3}

step() { printf '\n==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo "$@"
    fi
}

step "kcat (Debian package)"
if command -v kcat >/dev/null 2>&1; then
    echo "kcat already installed: $(dpkg-query -W -f='${Version}' kcat 2>/dev/null || echo '?')"
else
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine may carry stale or no package lists; refresh them first.
    as_root apt-get update -qq
    as_root apt-get install -y -qq kcat
    echo "installed kcat $(dpkg-query -W -f='${Version}' kcat)"
fi
kcat -V 2>&1 | grep Version

step "Python venv at $VENV with $REQUIREMENTS"
# The stamp records what the venv was built from: the interpreter and the requirements file.
stamp_want="$("$PYTHON" --version 2>&1) $(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
stamp_file="$VENV/.odradek-requirements"
if [ -x "$VENV/bin/python" ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp_want" ] &&
    "$VENV/bin/python" -c 'import confluent_kafka, kafka, lz4.frame, zstandard, snappy' 2>/dev/null; then
    echo "venv up to date ($stamp_want)"
else
    if [ ! -x "$VENV/bin/python" ]; then
        echo "creating $VENV with $("$PYTHON" --version 2>&1)"
        "$PYTHON" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    "$VENV/bin/python" -c 'import confluent_kafka, kafka, lz4.frame, zstandard, snappy'
    echo "$stamp_want" >"$stamp_file"
fi
"$VENV/bin/python" - <<'PY'
import confluent_kafka, kafka
print("confluent-kafka", confluent_kafka.version(), "(librdkafka", confluent_kafka.libversion()[0] + ")")
print("kafka-python", kafka.__version__)
PY
