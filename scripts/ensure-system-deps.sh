#!/usr/bin/env bash
# Makes sure the system packages the tests use are present. On Debian as root it installs what is
# missing (apt-get update first); anywhere else it lists exactly what is missing and fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
missing_files=() missing_pkgs=()
while read -r file pkg; do
  [[ -z "$file" || "$file" == \#* ]] && continue
  if [[ ! -e "$file" ]]; then missing_files+=("$file"); missing_pkgs+=("$pkg"); fi
done < "$here/system-deps.txt"
[[ ${#missing_pkgs[@]} -eq 0 ]] && exit 0

mapfile -t pkgs < <(printf '%s\n' "${missing_pkgs[@]}" | sort -u)
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null && [[ -f /etc/debian_version ]]; then
  echo "installing Debian packages: ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Package scripts must not start daemons (etcd, bird) on the machine: the tests start their own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
else
  echo "missing system tools: ${missing_files[*]}" >&2
  echo "install these Debian packages (or your distribution's equivalents) as root: ${pkgs[*]}" >&2
  exit 1
fi
