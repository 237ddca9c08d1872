"""Types of the compiled OTLP decoder (collector/native/module.c); see collector/native_decode.py."""

def decode_request(
    body: bytes,
    limits: tuple[int, ...],
    kind_texts: tuple[bytes, ...],
    status_texts: tuple[bytes, ...],
    business_prefix: bytes,
    hooks: object,
    /,
) -> tuple[bytes, int, int, int, int, int] | None: ...
