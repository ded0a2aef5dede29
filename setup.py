"""Maps the top-level folders of the design card to namespaced import names.

pyproject.toml cannot express "every subpackage of each mapped folder", so this file
walks them; everything else about the distribution lives in pyproject.toml.
"""

from setuptools import find_packages, setup

FOLDERS = ["wire", "services", "shared", "api", "worker", "cli", "client", "migrations"]

package_dir = {}
packages = []
for folder in FOLDERS:
    name = f"cortexrnn.{folder}"
    package_dir[name] = folder
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={"cortexrnn.migrations": ["*.mako"]},
)
