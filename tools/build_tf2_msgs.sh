#!/usr/bin/env bash
# Generate and install the tf2_msgs interface package into a venv whose ROS 2 comes from PyPI
# wheels (tf2_msgs is not published there). Usage: tools/build_tf2_msgs.sh VENV
set -euo pipefail
venv=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null; then
  echo "error: building tf2_msgs needs cmake and g++ (Debian: apt-get install cmake g++)" >&2
  exit 1
fi
cmake -S "$here/tf2_msgs" -B "$build" -DCMAKE_INSTALL_PREFIX="$venv" -DCMAKE_PREFIX_PATH="$venv" \
  -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF >"$build/cmake.log" 2>&1 \
  || { tail -30 "$build/cmake.log" >&2; echo "error: configuring tf2_msgs failed" >&2; exit 1; }
cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1 \
  || { tail -30 "$build/build.log" >&2; echo "error: building tf2_msgs failed" >&2; exit 1; }
cmake --install "$build" >/dev/null
"$venv/bin/python" -c "from tf2_msgs.msg import TFMessage" \
  || { echo "error: tf2_msgs was built but does not import" >&2; exit 1; }
echo "tf2_msgs built into $venv"
