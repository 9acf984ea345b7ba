# Sourced by every bin/*.sh wrapper: locate the checkout, make sure the venv exists, run Python.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/runtime-$(id -u)}"; mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
"$ROOT/bin/setup.sh" --quiet || exit 1
PY="$ROOT/.venv/bin/python"

# run_module MODULE ARGS...: exec a goldloop Python entry point.
run_module() {
  local module="$1"; shift
  exec "$PY" -m "$module" "$@"
}
