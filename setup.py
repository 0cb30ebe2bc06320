"""Build the C extensions (the prover core, the tree scorer); the rest of the metadata is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "palestra.prove._leancop",
            ["src/palestra/prove/_leancop.c"],
            extra_compile_args=["-O2"],
        ),
        Extension(
            "palestra.models._forest",
            ["src/palestra/models/_forest.c"],
            extra_compile_args=["-O2"],
        ),
    ]
)
