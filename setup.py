from setuptools import find_packages, setup

setup(
    name="scratchdet",
    version="0.1.0",
    description="detectron2 extension: object detectors trained without ImageNet pre-training",
    packages=find_packages(include=["scratchdet", "scratchdet.*"]),
    python_requires=">=3.10",
    # torch/torchvision/detectron2 are installed by tools/install.sh (detectron2 is not on the
    # package registry under its own name); the rest is listed in requirements.txt.
    install_requires=["fvcore", "iopath", "pycocotools", "opencv-python-headless", "scipy", "numpy"],
)
