"""Encodes test cases with PyPI's eth-abi and hashes signatures with
PyPI's gmssl, for abi/tests/third_party.rs (independent implementations
of the ABI and of SM3).

stdin: a JSON list of {"types": [...], "values": [...], "signature": str,
"topics": [[type, value], ...]}; values are in the Rust side's canonical
form (integers as decimal strings, bytes and addresses as 0x-hex).
stdout: a JSON list of {"encoded": hex, "sm3": hex, "topics": [hex, ...]}.
"""

import json
import sys

from eth_abi import encode
from eth_abi.grammar import parse
from gmssl import func, sm3


def to_py(t, v):
    """The Python value eth-abi takes for type node `t` and JSON value `v`."""
    if t.is_array:
        inner = t.item_type
        return [to_py(inner, x) for x in v]
    if hasattr(t, "components") and t.components is not None and not t.is_array:
        return tuple(to_py(c, x) for c, x in zip(t.components, v))
    base = t.base
    if base in ("uint", "int"):
        return int(v)
    if base == "bytes":
        return bytes.fromhex(v[2:])
    if base == "address":
        return v
    if base == "bool":
        return bool(v)
    if base == "string":
        return v
    raise ValueError(f"type {t.to_type_str()}")


def main():
    cases = json.load(sys.stdin)
    out = []
    for c in cases:
        types = c["types"]
        values = [to_py(parse(t), v) for t, v in zip(types, c["values"])]
        encoded = encode(types, values).hex()
        digest = sm3.sm3_hash(func.bytes_to_list(c["signature"].encode()))
        topics = [
            encode([t], [to_py(parse(t), v)]).hex() for t, v in c.get("topics", [])
        ]
        out.append({"encoded": encoded, "sm3": digest, "topics": topics})
    json.dump(out, sys.stdout)


main()
