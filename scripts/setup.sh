#!/usr/bin/env bash
# Installs what the tests need beyond the Rust toolchain: Verilator (5.x) and
# Yosys, from Debian's packages. Idempotent; needs root (as CI and the dev
# machines are) or sudo.
set -euo pipefail
if command -v verilator >/dev/null && command -v yosys >/dev/null; then
    echo "setup: $(verilator --version), $(yosys -V | head -1): present"
    exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq verilator yosys >/dev/null
echo "setup: installed $(verilator --version), $(yosys -V | head -1)"
