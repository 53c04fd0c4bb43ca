from glob import glob

from setuptools import find_packages, setup

package_name = "scr_localizer"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*", "benchmarks", "tools"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
    ],
    # Runtime dependencies come from package.xml (rosdep) on a ROS install and from
    # requirements*.txt in the pip-only setup; setuptools must not fetch torch on its own.
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="scr_localizer maintainers",
    maintainer_email="maintainers@scr-localizer.invalid",
    description="Scene coordinate regression relocalization for ROS 2 RGB-D cameras.",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "scr-localizer = scr_localizer.cli:main",
            "localize_node = scr_localizer.ros.localize_node:main",
            "map_node = scr_localizer.ros.map_node:main",
        ],
    },
)
