#!/usr/bin/env bash
# Copies the header-only dependencies the GPU check needs into .deps/ at the repo root, so
# they can travel with the tree to the GPU machine (which has no package registry):
#
#   .deps/eigen3/Eigen/...          Eigen's headers (only Eigen/: we never include unsupported/)
#   .deps/include/doctest/doctest.h  doctest, a single header
#   .deps/COMMIT                     the commit checked out now (the .git folder does not
#                                    travel, so gpu_check.sh reads it from here: run this
#                                    script again right before a check to refresh it)
#
# CMake with -DSC_GPU_CHECK=ON falls back to these when Eigen or doctest is not installed.
# .deps/ is added to .git/info/exclude so it is ignored (and must be carried: carry=[".deps"]).
#
# Usage: bash bench/pack_deps.sh     (EIGEN_INCLUDE_DIR / DOCTEST_INCLUDE_DIR override the sources)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
eigen_src=${EIGEN_INCLUDE_DIR:-/usr/include/eigen3}
doctest_src=${DOCTEST_INCLUDE_DIR:-/usr/include}
deps=$repo/.deps

if [[ ! -f $eigen_src/Eigen/Core ]]; then
  echo "pack_deps: no Eigen headers at $eigen_src (apt-get install libeigen3-dev, or set EIGEN_INCLUDE_DIR)" >&2
  exit 1
fi
if [[ ! -f $doctest_src/doctest/doctest.h ]]; then
  echo "pack_deps: no doctest at $doctest_src/doctest (apt-get install doctest-dev, or set DOCTEST_INCLUDE_DIR)" >&2
  exit 1
fi

rm -rf "$deps"
mkdir -p "$deps/eigen3" "$deps/include"
cp -r "$eigen_src/Eigen" "$deps/eigen3/"
cp -r "$doctest_src/doctest" "$deps/include/"

# Ignore .deps/ in this checkout (a worktree keeps its exclude file elsewhere: ask git).
exclude=""
if command -v git >/dev/null && git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
  exclude=$(git -C "$repo" rev-parse --path-format=absolute --git-path info/exclude)
elif [[ -d $repo/.git ]]; then
  exclude=$repo/.git/info/exclude
fi
if [[ -n $exclude ]]; then
  mkdir -p "$(dirname "$exclude")"
  grep -qxF '/.deps/' "$exclude" 2>/dev/null || echo '/.deps/' >>"$exclude"
else
  echo "pack_deps: not a git checkout; remember to keep .deps/ out of commits" >&2
fi

# The commit, and how many tracked files differ from it.
if command -v git >/dev/null && git -C "$repo" rev-parse --short HEAD >/dev/null 2>&1; then
  commit=$(git -C "$repo" rev-parse --short HEAD)
  changed=$(git -C "$repo" status --porcelain --untracked-files=no | wc -l)
  ((changed == 0)) || commit="$commit + $changed uncommitted file(s)"
  echo "$commit" >"$deps/COMMIT"
fi

echo "pack_deps: $(du -sh "$deps" | cut -f1) in $deps (Eigen from $eigen_src, doctest from $doctest_src/doctest)"
