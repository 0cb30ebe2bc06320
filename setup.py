"""Build the C extensions (the prover core, the SAT checkers (DRUP, LRAT), DIMACS reader and CDCL core, the tree scorer); the rest of the metadata is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "palestra.prove._leancop",
            ["src/palestra/prove/_leancop.c"],
            extra_compile_args=["-O2"],
        ),
        Extension(
            "palestra.sat._drup",
            ["src/palestra/sat/_drup.c"],
            depends=["src/palestra/sat/_vec.h"],
            extra_compile_args=["-O2"],
        ),
        Extension(
            "palestra.sat._lrat",
            ["src/palestra/sat/_lrat.c"],
            depends=["src/palestra/sat/_vec.h"],
            extra_compile_args=["-O2"],
        ),
        Extension(
            "palestra.sat._dimacs",
            ["src/palestra/sat/_dimacs.c"],
            extra_compile_args=["-O2"],
        ),
        Extension(
            "palestra.sat._cdcl",
            ["src/palestra/sat/_cdcl.c"],
            depends=["src/palestra/sat/_vec.h"],
            extra_compile_args=["-O3"],
        ),
        Extension(
            "palestra.models._forest",
            ["src/palestra/models/_forest.c"],
            extra_compile_args=["-O2"],
        ),
    ]
)
