#!/usr/bin/env bash
# Install learn2learn==0.2.0 into a virtual environment on Python 3.11 to 3.13.
#
# Usage:
#   bash scripts/install_learn2learn.sh [PATH/TO/VENV/bin/python] [OPTIONS]
#
# A thin wrapper: the work is done by metabook/install_learn2learn.py, which the
# package ships, so that a reader without this repository (on Colab, say) runs
# the same steps as `python -m metabook.install_learn2learn`. Its docstring says
# why learn2learn needs a rebuild and how it is done; OPTIONS are its own
# (--sdist FILE, --system, --force; --help lists them).
#
# The default interpreter is the repository's own .venv/bin/python (found
# relative to this script, so it works from any current directory). The file is
# run as a script, not with -m: it needs only the standard library, so it runs
# even where torch (which `import metabook` needs) is missing, and says so.

set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${1:-"$repo_root/.venv/bin/python"}
if (($#)); then shift; fi
[[ -x "$PY" ]] || {
  echo "install_learn2learn.sh: ERROR: no Python interpreter at '$PY'" \
    "(create the venv first, e.g. python3.11 -m venv .venv)" >&2
  exit 1
}
exec "$PY" "$repo_root/metabook/install_learn2learn.py" --python "$PY" "$@"
