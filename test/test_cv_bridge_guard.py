"""A cv_bridge that is installed but broken must not take the node down: the distro's cv_bridge
is built against its numpy 1.x and, imported under numpy 2 from a venv, fails with
AttributeError "_ARRAY_API not found" (vision_opencv#535) rather than ImportError. A stand-in
package that fails the same way sits first on the path; the real image decoder is used then."""

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json
import numpy as np
from sensor_msgs.msg import Image
from scr_localizer.ros.compat import BACKENDS, CV_BRIDGE_UNAVAILABLE, image_to_rgb
msg = Image(height=2, width=3, encoding="rgb8", step=9, data=bytes(range(18)))
rgb = image_to_rgb(msg)
print(json.dumps({"backend": BACKENDS["images"], "why": CV_BRIDGE_UNAVAILABLE,
                  "shape": list(rgb.shape), "ok": bool((rgb.reshape(-1) == np.arange(18)).all())}))
"""


@pytest.mark.parametrize("failure", [
    'raise AttributeError("_ARRAY_API not found")',
    'raise ImportError("numpy.core.multiarray failed to import")',
    'raise SystemError("initialization of cv_bridge_boost raised unreported exception")',
])
def test_broken_cv_bridge_falls_back_to_the_decoder(tmp_path, ros_env, failure):
    package = tmp_path / "cv_bridge"
    package.mkdir()
    (package / "__init__.py").write_text(failure + "\n")
    env = dict(ros_env, PYTHONPATH=os.pathsep.join(
        [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]))
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["backend"] == "scr_localizer.io.images"
    assert got["shape"] == [2, 3, 3] and got["ok"]
    assert failure.split('("')[1].rstrip('")') in got["why"]
