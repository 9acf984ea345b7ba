# Sourced (without arguments) by the acceptance scripts, whose arguments are
# DATA_DIR [WORK_DIR] [simulate.sh options...]: sets ROOT, DATA and WORK (default a new temp dir
# named after $SCRATCH_NAME), exports GOLDLOOP_HOME=$WORK/home (its own embedded PostgreSQL
# unless DATABASE_URL is set) and shifts the first one or two arguments away.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:?usage: $0 DATA_DIR [WORK_DIR] [simulate options]}"
WORK="${2:-$(mktemp -d "/tmp/goldloop-${SCRATCH_NAME:-bench}.XXXXXX")}"
shift $(( $# >= 2 ? 2 : 1 ))
export GOLDLOOP_HOME="$WORK/home"
mkdir -p "$WORK"
