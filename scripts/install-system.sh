#!/usr/bin/env bash
# System packages that interphases needs on Debian 12 (run by `make demo` / `make test`):
#   cp2k                                  real DFT engine (cp2k.psmp, basis sets in /usr/share/cp2k)
#   munge slurmctld slurmd slurm-client   single-node SLURM for the cluster-queue tests
#   python3-venv                          `python3 -m venv` on a bare Debian
# Already-installed packages are skipped, so a second run costs nothing.
set -euo pipefail

packages=(cp2k munge slurmctld slurmd slurm-client)
python_bin="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if ! "$python_bin" -c "import ensurepip, venv" 2>/dev/null; then
    packages+=(python3-venv)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-system: all system packages present"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null; then
    SUDO="sudo"
else
    echo "install-system: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
fi

echo "install-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Post-install scripts try to start services; without systemd that fails harmlessly.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-system: done"
