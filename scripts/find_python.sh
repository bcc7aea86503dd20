#!/usr/bin/env bash
# Find a Python that metabook supports: 3.11, 3.12 or 3.13.
#
#   bash scripts/find_python.sh             the newest supported Python on PATH
#                                           (python3.13, python3.12, python3.11, python3)
#   bash scripts/find_python.sh 3.12        a Python 3.12: on PATH, then pyenv's versions
#                                           ($PYENV_ROOT or ~/.pyenv), /usr/local/bin, /usr/bin
#   bash scripts/find_python.sh --resolve CMD
#                                           CMD if it runs; for a python3.X that does not
#                                           (a disabled pyenv shim), the 3.X found as above
#   bash scripts/find_python.sh --check CMD exit 1 with a clear message unless CMD runs,
#                                           is a supported version and can make a venv
#
# Prints the interpreter (a command name or a path) on stdout; prints nothing and
# exits 1 when there is none. A candidate counts only if it actually runs: a pyenv
# shim for a version that pyenv has not enabled is on PATH but fails.
set -uo pipefail

SUPPORTED=(3.13 3.12 3.11)   # newest first
supported_text="3.11, 3.12 and 3.13"

version_of() {  # "3.12" for a working interpreter, nothing otherwise
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

is_supported() {
  local v
  for v in "${SUPPORTED[@]}"; do [[ "$1" == "$v" ]] && return 0; done
  return 1
}

newest_on_path() {
  local v cmd
  for v in "${SUPPORTED[@]}"; do
    cmd="python$v"
    if command -v "$cmd" >/dev/null 2>&1 && [[ "$(version_of "$cmd")" == "$v" ]]; then
      echo "$cmd"; return 0
    fi
  done
  if command -v python3 >/dev/null 2>&1 && is_supported "$(version_of python3)"; then
    echo python3; return 0
  fi
  return 1
}

find_version() {  # $1 = "3.12"
  local want=$1 cmd root candidate
  cmd="python$want"
  if command -v "$cmd" >/dev/null 2>&1 && [[ "$(version_of "$cmd")" == "$want" ]]; then
    echo "$cmd"; return 0
  fi
  root=${PYENV_ROOT:-$HOME/.pyenv}
  # newest patch release first (sort -V), then the system's places
  for candidate in $(ls -d "$root"/versions/"$want".*/bin/python"$want" 2>/dev/null | sort -rV) \
                   /usr/local/bin/python"$want" /usr/bin/python"$want"; do
    if [[ -x "$candidate" && "$(version_of "$candidate")" == "$want" ]]; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

check() {  # $1 = the interpreter a user named (or found)
  local cmd=$1 v
  if [[ -z "$cmd" ]]; then
    echo "No supported Python found on PATH (looked for python3.13, python3.12," >&2
    echo "python3.11 and python3). metabook supports Python $supported_text." >&2
    echo "Install one, or name it: make PYTHON=/path/to/python3.12" >&2
    return 1
  fi
  v=$(version_of "$cmd")
  if [[ -z "$v" ]]; then
    echo "PYTHON=$cmd does not run. metabook supports Python $supported_text;" >&2
    echo "name one that runs, for example: make PYTHON=python3.12" >&2
    return 1
  fi
  if ! is_supported "$v"; then
    echo "PYTHON=$cmd is Python $v. metabook supports Python $supported_text;" >&2
    echo "name one of those, for example: make PYTHON=python3.12" >&2
    return 1
  fi
  if ! "$cmd" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "PYTHON=$cmd (Python $v) cannot create virtual environments." >&2
    echo "On Debian or Ubuntu: apt-get install python$v-venv" >&2
    return 1
  fi
}

resolve() {  # $1 = what the user named
  local cmd=$1
  if [[ -n "$(version_of "$cmd")" ]]; then echo "$cmd"; return 0; fi
  if [[ "$cmd" =~ ^python(3\.[0-9]+)$ ]] && find_version "${BASH_REMATCH[1]}"; then
    return 0
  fi
  echo "$cmd"
}

case "${1:-}" in
  "") newest_on_path ;;
  --resolve) resolve "${2:-}" ;;
  --check) check "${2:-}" ;;
  --supported) echo "${SUPPORTED[*]}" ;;
  3.*) find_version "$1" ;;
  *) echo "usage: $0 [3.X | --check CMD | --supported]" >&2; exit 2 ;;
esac
