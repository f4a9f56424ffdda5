"""Wheels that bring Ray (and what anchors needs beyond the GPU image) to a Python 3.12 x86-64 machine (not a test).

The GPU machine has no Ray and reaches no registry, and one call carries at most 64 MiB. Ray's cp312 wheel is
79 MB, 33 MB of it `ray/jars/` (Java workers) and 7 MB the dashboard's web page (`ray/dashboard/client/build/`),
neither used by a Python job with the dashboard off. This script downloads the wheel, writes it again without
those two folders (their RECORD lines removed too; 44 MB, deflate level 9), and downloads the pure-Python and
cp312 dependencies the image lacks, each at the version installed here (so they agree with each other):
jsonschema and its dependencies (Ray), pydantic and its dependencies (anchors' records).

    python bench/ray_wheels.py .whl         # then carry .whl; on the machine:
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

RAY = "2.60.0"
DROP = ("ray/jars/", "ray/dashboard/client/build/")
DEPENDENCIES = ("jsonschema", "jsonschema-specifications", "referencing", "rpds-py", "pydantic", "pydantic-core",
                "annotated-types", "typing-inspection", "typing-extensions")
PLATFORM = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
            *[arg for tag in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
              for arg in ("--platform", tag)]]


def download(names: list[str], dest: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *PLATFORM, "-d", str(dest), *names],
                   check=True)


def slim(wheel: Path, out: Path) -> None:
    """Copy `wheel` to `out` without the DROP folders (and their RECORD lines)."""
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for info in zin.infolist():
            if info.filename.startswith(DROP):
                continue
            data = zin.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                data = b"".join(line + b"\n" for line in data.splitlines() if not line.decode().startswith(DROP))
            zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="folder for the wheels (carry it)")
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    full = args.dest / "full"
    download([f"ray=={RAY}"], full)
    wheel = next(full.glob("ray-*.whl"))
    slim(wheel, args.dest / wheel.name)
    wheel.unlink()
    full.rmdir()
    download([f"{name}=={metadata.version(name)}" for name in DEPENDENCIES], args.dest)
    for path in sorted(args.dest.glob("*.whl")):
        print(f"{path.stat().st_size / 2**20:7.1f} MiB  {path.name}")
    print(f"{sum(p.stat().st_size for p in args.dest.glob('*.whl')) / 2**20:7.1f} MiB in all")


if __name__ == "__main__":
    main()
