"""Build the C extension of the prover core; the rest of the metadata is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "palestra.prove._leancop",
            ["src/palestra/prove/_leancop.c"],
            extra_compile_args=["-O2"],
        )
    ]
)
