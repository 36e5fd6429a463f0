#!/bin/sh
# Print the path of a Python >= 3.12 (ansible-core 2.21 needs it), or explain and fail.
# Order: python3.13, python3.12 on PATH, then pyenv's installed versions, newest first.
# pyenv shims exist even when their version is not active, so each candidate is run, not trusted.
ok() { "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }
for candidate in python3.13 python3.12 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && ok "$candidate"; then
    "$candidate" -c 'import sys; print(sys.executable)'; exit 0
  fi
done
pyenv_root=${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")}
for candidate in $(printf '%s\n' "$pyenv_root"/versions/3.1[2-9]*/bin/python3 | sort -rV); do
  if ok "$candidate"; then echo "$candidate"; exit 0; fi
done
echo "error: netpol.aks needs Python >= 3.12 (ansible-core 2.21 requires it), and none was found." >&2
echo "Tried python3.13, python3.12, python3 and $pyenv_root/versions/3.1[2-9]*." >&2
echo "Install one (for example: pyenv install 3.12) or set PYTHON=/path/to/python3.12 and re-run." >&2
exit 1
