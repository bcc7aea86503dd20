#!/usr/bin/env bash
# Vendor the site's front-end assets so the built book works with no internet.
#
#   MathJax 3 (renders the equations) and Mermaid (draws the diagrams) are installed
#   from the npm registry at the exact versions pinned in web/package-lock.json, and
#   only the files the site loads are copied into _static/vendor/ (gitignored).
#   _config.yml points Sphinx at them (mathjax_path, mermaid_use_local), and
#   _ext/offline_assets.py stops the build if they are missing.
#
# Usage: bash scripts/web_assets.sh        (run from anywhere; needs node + npm)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

command -v npm >/dev/null 2>&1 || {
    echo "web_assets.sh: npm not found; install Node.js (Debian: apt-get install nodejs npm)" >&2
    exit 1
}

# Reinstall only when the lock file changed since the last install.
stamp=web/node_modules/.metabook-lock
if [[ ! -f "$stamp" ]] || ! cmp -s web/package-lock.json "$stamp"; then
    npm ci --prefix web --no-audit --no-fund --loglevel=error
    cp web/package-lock.json "$stamp"
fi

mj=web/node_modules/mathjax/es5
mm=web/node_modules/mermaid/dist
vendor=_static/vendor
rm -rf "$vendor/mathjax" "$vendor/mermaid"
mkdir -p "$vendor/mathjax/output/chtml/fonts" "$vendor/mathjax/input/tex" \
         "$vendor/mermaid/chunks"

# MathJax: the combined TeX-to-CommonHTML component, the web fonts it asks for, and
# the pieces it loads on demand (TeX extensions such as \cancel or \color through
# autoload, the menu's accessibility tools and their speech rules).
cp "$mj/tex-chtml.js" "$vendor/mathjax/"
cp -r "$mj/output/chtml/fonts/woff-v2" "$vendor/mathjax/output/chtml/fonts/"
cp -r "$mj/input/tex/extensions" "$vendor/mathjax/input/tex/"
cp -r "$mj/a11y" "$mj/sre" "$mj/ui" "$vendor/mathjax/"
cp web/node_modules/mathjax/LICENSE "$vendor/mathjax/LICENSE"

# Mermaid: the ES-module entry point that sphinxcontrib-mermaid imports and the chunks
# it imports in turn (one per diagram type, loaded lazily). Source maps are left out.
cp "$mm/mermaid.esm.min.mjs" "$vendor/mermaid/"
mkdir -p "$vendor/mermaid/chunks/mermaid.esm.min"
cp "$mm"/chunks/mermaid.esm.min/*.mjs "$vendor/mermaid/chunks/mermaid.esm.min/"
cp web/node_modules/mermaid/LICENSE "$vendor/mermaid/LICENSE"

echo "web_assets.sh: MathJax $(node -p "require('./web/node_modules/mathjax/package.json').version")" \
     "and Mermaid $(node -p "require('./web/node_modules/mermaid/package.json').version") in $vendor/"
