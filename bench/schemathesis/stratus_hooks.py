"""Schemathesis hooks for the node API: generators for formats a JSON Schema pattern cannot
express. Loaded by bench/api-fuzz.sh through SCHEMATHESIS_HOOKS."""

import schemathesis
from hypothesis import strategies as st

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values):
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= generator[i] if ((top >> i) & 1) else 0
    return chk


def _bech32(hrp, data: bytes) -> str:
    # 8-bit bytes to 5-bit groups.
    acc, bits, five = 0, 0, []
    for b in data:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            five.append((acc >> bits) & 31)
    if bits:
        five.append((acc << (5 - bits)) & 31)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = _polymod(expanded + five + [0] * 6) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in five + checksum)


# An account address: 20 bytes, bech32 with the `stratus` prefix and a valid checksum.
schemathesis.openapi.format("stratus-address", st.binary(min_size=20, max_size=20).map(lambda b: _bech32("stratus", b)))
