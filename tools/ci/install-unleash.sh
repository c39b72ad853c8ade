#!/usr/bin/env bash
# Installs what the Unleash flag-store tests run against: PostgreSQL from Debian and the npm package unleash-server,
# the latter outside the project's package.json, into the git-ignored .unleash/ (override with UNLEASH_INSTALL_DIR).
# Idempotent: does nothing when both are already there. Prints the directory of the unleash-server install.
set -euo pipefail
cd "$(dirname "$0")/../.."

UNLEASH_VERSION=7.5.1 # the last release that runs on Node 20 (7.6 and 8.x need Node 22)
install_dir="${UNLEASH_INSTALL_DIR:-$PWD/.unleash}"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-unleash: PostgreSQL is missing; run as root, or: sudo apt-get install -y postgresql" >&2
    exit 1
  fi
  echo "install-unleash: installing PostgreSQL from Debian" >&2
  apt-get update >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >/dev/null
fi

installed="$(node -p "require('$install_dir/node_modules/unleash-server/package.json').version" 2>/dev/null || true)"
if [ "$installed" != "$UNLEASH_VERSION" ]; then
  echo "install-unleash: installing unleash-server@$UNLEASH_VERSION into $install_dir" >&2
  mkdir -p "$install_dir"
  # Keeps the install out of git even where .gitignore has no entry for it.
  echo '*' >"$install_dir/.gitignore"
  npm install --prefix "$install_dir" --no-save --no-package-lock --no-audit --no-fund --omit=dev --loglevel=error \
    "unleash-server@$UNLEASH_VERSION" >&2
fi
echo "$install_dir"
