"""The optional compiled OTLP decoder (collector/native/); everything else is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and ``collector.decode``, the
pure-Python reference decoder, serves every request. The compiler's warnings are on; with
``SYNCSIGHT_NATIVE_STRICT=1`` (``make test``) they are errors and a failed build is not skipped.
"""

import os

from setuptools import Extension, setup

NATIVE = "collector/native"
STRICT = os.environ.get("SYNCSIGHT_NATIVE_STRICT") == "1"
WARNINGS = ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wstrict-prototypes", "-Wformat=2"]

setup(
    ext_modules=[
        Extension(
            "collector._otlp_native",
            sources=[
                f"{NATIVE}/module.c",
                f"{NATIVE}/request_rows.c",
                f"{NATIVE}/span_fields.c",
                f"{NATIVE}/attribute_maps.c",
                f"{NATIVE}/json_text.c",
            ],
            depends=[f"{NATIVE}/decoder.h", f"{NATIVE}/json_text.h", f"{NATIVE}/otlp_wire.h"],
            extra_compile_args=WARNINGS + (["-Werror"] if STRICT else []),
            optional=not STRICT,
        )
    ]
)
