#!/usr/bin/env python3
"""An evidence pack verifier written from docs/evidence.md alone, independent
of lookthrough's Rust code: SM3 and the SM4 block cipher from PyPI's gmssl,
the SM2 curve (signatures, the DLEQ proof, the wrap's KDF) in plain integer
arithmetic, SM4-GCM, DER and the FISCO BCOS hashes and Merkle proofs written
here.

Usage: verify_pack.py PACK...   prints one line per pack, "ok" or
"FAIL <part>: <detail>", and exits 1 if any pack failed.
"""

import datetime
import json
import sys

from gmssl import func, sm3, sm4

# ---------------------------------------------------------------- SM3, SM4

def h(*parts):
    data = b"".join(parts)
    return bytes.fromhex(sm3.sm3_hash(func.bytes_to_list(data)))


class Sm4Block:
    def __init__(self, key):
        self.c = sm4.CryptSM4()
        self.c.set_key(key, sm4.SM4_ENCRYPT)

    def encrypt(self, block):
        return bytes(self.c.one_round(self.c.sk, list(block)))


def gcm_open(key, nonce, aad, sealed):
    """SM4-GCM (NIST SP 800-38D with SM4 as the block cipher), 12-byte nonce,
    16-byte tag at the end."""
    if len(sealed) < 16 or len(nonce) != 12:
        raise ValueError("too short")
    ct, tag = sealed[:-16], sealed[-16:]
    e = Sm4Block(key)
    hk = int.from_bytes(e.encrypt(b"\0" * 16), "big")
    R = 0xE1 << 120

    def mul(x, y):
        z, v = 0, y
        for i in range(127, -1, -1):
            if (x >> i) & 1:
                z ^= v
            v = (v >> 1) ^ R if v & 1 else v >> 1
        return z

    def ghash(data):
        y = 0
        for i in range(0, len(data), 16):
            block = data[i:i + 16].ljust(16, b"\0")
            y = mul(y ^ int.from_bytes(block, "big"), hk)
        return y

    def pad(b):
        return b + b"\0" * (-len(b) % 16)

    s = ghash(pad(aad) + pad(ct) + (8 * len(aad)).to_bytes(8, "big") + (8 * len(ct)).to_bytes(8, "big"))
    j0 = nonce + b"\0\0\0\1"
    want = bytes(a ^ b for a, b in zip(e.encrypt(j0), s.to_bytes(16, "big")))
    if want != tag:
        raise ValueError("the tag does not match")
    out = bytearray()
    counter = int.from_bytes(j0[12:], "big")
    for i in range(0, len(ct), 16):
        counter = (counter + 1) & 0xFFFFFFFF
        ks = e.encrypt(nonce + counter.to_bytes(4, "big"))
        out += bytes(a ^ b for a, b in zip(ct[i:i + 16], ks))
    return bytes(out)

# ---------------------------------------------------------------- the curve

P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
G = (0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
     0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0)


def on_curve(p):
    x, y = p
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def add(p, q):
    if p is None:
        return q
    if q is None:
        return p
    (x1, y1), (x2, y2) = p, q
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    if p == q:
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return (x3, (lam * (x1 - x3) - y1) % P)


def mul(k, p):
    # Jacobian coordinates for speed; public data only.
    def dbl(X, Y, Z):
        if Y == 0:
            return (0, 1, 0)
        S = 4 * X * Y * Y % P
        M = (3 * X * X + A * pow(Z, 4, P)) % P
        X3 = (M * M - 2 * S) % P
        return (X3, (M * (S - X3) - 8 * pow(Y, 4, P)) % P, 2 * Y * Z % P)

    def addj(p1, p2):
        X1, Y1, Z1 = p1
        X2, Y2, Z2 = p2
        if Z1 == 0:
            return p2
        if Z2 == 0:
            return p1
        U1, U2 = X1 * Z2 * Z2 % P, X2 * Z1 * Z1 % P
        S1, S2 = Y1 * pow(Z2, 3, P) % P, Y2 * pow(Z1, 3, P) % P
        if U1 == U2:
            return dbl(*p1) if S1 == S2 else (0, 1, 0)
        Hh, R = (U2 - U1) % P, (S2 - S1) % P
        X3 = (R * R - Hh ** 3 - 2 * U1 * Hh * Hh) % P
        return (X3, (R * (U1 * Hh * Hh - X3) - S1 * Hh ** 3) % P, Hh * Z1 * Z2 % P)

    k %= N
    if p is None or k == 0:
        return None
    acc, base = (0, 1, 0), (p[0], p[1], 1)
    for bit in bin(k)[2:]:
        acc = dbl(*acc)
        if bit == "1":
            acc = addj(acc, base)
    X, Y, Z = acc
    if Z == 0:
        return None
    zi = pow(Z, -1, P)
    return (X * zi * zi % P, Y * zi ** 3 % P)


def neg(p):
    return None if p is None else (p[0], (-p[1]) % P)


def enc(p):
    return b"\x04" + p[0].to_bytes(32, "big") + p[1].to_bytes(32, "big")


def dec(b):
    if len(b) == 64:
        b = b"\x04" + b
    if len(b) != 65 or b[0] != 4:
        return None
    p = (int.from_bytes(b[1:33], "big"), int.from_bytes(b[33:], "big"))
    return p if on_curve(p) else None


def sm2_verify(pub, msg, sig):
    """GB/T 32918.2 with the default user id."""
    if len(sig) != 64 or pub is None:
        return False
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not (1 <= r < N and 1 <= s < N):
        return False
    uid = b"1234567812345678"
    za = h((8 * len(uid)).to_bytes(2, "big"), uid, *(v.to_bytes(32, "big") for v in (A, B, G[0], G[1], pub[0], pub[1])))
    e = int.from_bytes(h(za, msg), "big")
    t = (r + s) % N
    if t == 0:
        return False
    pt = add(mul(s, G), mul(t, pub))
    return pt is not None and (e + pt[0]) % N == r

# ---------------------------------------------------------------- DER

def tlv(b, i=0):
    """(tag, content, end) of the element at b[i]."""
    if i + 2 > len(b):
        raise ValueError("truncated")
    tag, ln = b[i], b[i + 1]
    i += 2
    if ln & 0x80:
        n = ln & 0x7F
        if n == 0 or n > 4 or i + n > len(b):
            raise ValueError("bad length")
        ln = int.from_bytes(b[i:i + n], "big")
        i += n
    if i + ln > len(b):
        raise ValueError("truncated")
    return tag, b[i:i + ln], i + ln


def children(content):
    out, i = [], 0
    while i < len(content):
        start = i
        tag, c, i = tlv(content, i)
        out.append((tag, c, content[start:i]))
    return out


def der(tag, content):
    n = len(content)
    if n < 0x80:
        ln = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + ln + content


ENVELOPED_DATA = bytes.fromhex("2a811ccf5506010402 03".replace(" ", ""))
ENVELOPE_PARAMS = bytes.fromhex("69ec9f9686988be2b2fba1ad848ae3c6d9f44f01")


def parse_envelope(b):
    tag, content, end = tlv(b)
    if tag != 0x30 or end != len(b):
        raise ValueError("not one DER SEQUENCE")
    (t_oid, oid, _), (t0, explicit, _) = children(content)
    if t_oid != 0x06 or oid != ENVELOPED_DATA or t0 != 0xA0:
        raise ValueError("not an envelopedData")
    [(t_env, env, _)] = children(explicit)
    version, recipients, eci, attrs = children(env)
    if version[1] != b"\x02" or recipients[0] != 0x31 or eci[0] != 0x30 or attrs[0] != 0xA1:
        raise ValueError("EnvelopedData")
    infos = []
    for tag, c, raw in children(recipients[1]):
        v, rid, alg, wrap = children(c)
        if rid[0] != 0x80 or len(rid[1]) != 32 or wrap[0] != 0x04:
            raise ValueError("RecipientInfo")
        infos.append({"rid": rid[1], "wrap": wrap[1], "raw": raw})
    _, alg, ct = children(eci[1])
    _, params = children(alg[1])[0], children(alg[1])[1]
    nonce = children(params[1])[0][1]
    if ct[0] != 0x80:
        raise ValueError("encryptedContent")
    [(_, attr, _)] = children(attrs[1])
    a_oid, a_vals = children(attr)
    if a_oid[1] != ENVELOPE_PARAMS:
        raise ValueError("attribute")
    [(_, ep, _)] = children(a_vals[1])
    profile, ctx_digest, key_commit = children(ep)
    return {"recipients": infos, "nonce": nonce, "ciphertext": ct[1],
            "context_digest": ctx_digest[1], "key_commitment": key_commit[1]}


def tx_context(chain_id, group_id, sender):
    return der(0x30, der(0x0C, chain_id.encode()) + der(0x0C, group_id.encode()) + der(0x04, sender))

# ---------------------------------------------------------------- FISCO BCOS

class Fail(Exception):
    def __init__(self, part, detail):
        super().__init__(f"{part}: {detail}")
        self.part, self.detail = part, detail


def hexb(part, what, s):
    if not isinstance(s, str) or s != s.lower():
        raise Fail(part, f"{what} is not lowercase hex")
    s = s[2:] if s.startswith("0x") else s
    try:
        return bytes.fromhex(s)
    except ValueError:
        raise Fail(part, f"{what} is not hex")


def i32(v):
    return int(v).to_bytes(4, "big", signed=True)


def i64(v):
    return int(v).to_bytes(8, "big", signed=True)


def header(part, v):
    if not isinstance(v, dict) or "transactions" in v:
        raise Fail(part, "not a header without transactions")
    try:
        number = v["number"]
        genesis = number == 0
        parts = [i32(v["version"])]
        for p in v["parentInfo"]:
            parts.append(i64(p["blockNumber"]) + hexb(part, "parent", p["blockHash"]))
        roots = [hexb(part, k, v[k]) for k in ("txsRoot", "receiptsRoot", "stateRoot")]
        gas = str(v["gasUsed"]).encode()
        if genesis:
            parts += [b"", b"", b""]
        else:
            parts += roots
        parts.append(i64(number))
        parts.append(b"" if genesis else gas)
        parts += [i64(v["timestamp"]), i64(v["sealer"])]
        sealers = [hexb(part, "sealerList", s) for s in v["sealerList"]]
        parts += sealers
        parts.append(hexb(part, "extraData", v["extraData"]))
        parts += [i64(w) for w in v["consensusWeights"]]
        claimed = hexb(part, "hash", v["hash"])
        sigs = [(s["sealerIndex"], hexb(part, "signature", s["signature"])) for s in v["signatureList"]]
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise Fail(part, f"not a block header: {e!r}")
    computed = h(*parts)
    if computed != claimed:
        raise Fail(part, f"block {number} hashes to 0x{computed.hex()}, not the 0x{claimed.hex()} it claims")
    return {"number": number, "hash": claimed, "sealers": sealers, "weights": list(v["consensusWeights"]),
            "sigs": sigs, "txs_root": roots[0], "receipts_root": roots[1],
            "extra": hexb(part, "extraData", v["extraData"])}


def own(hd):
    w = hd["weights"] + [0] * (len(hd["sealers"]) - len(hd["weights"]))
    return [(s, w[i]) for i, s in enumerate(hd["sealers"])]


def required(weights):
    total = sum(max(w, 0) for w in weights)
    return 1 if total <= 0 else total - (total - 1) // 3


def vouched(hd, committee):
    need = required([w for _, w in committee])
    seen, signed = set(), 0
    for idx, sig in hd["sigs"]:
        if not (0 <= idx < len(hd["sealers"])):
            continue
        node = hd["sealers"][idx]
        member = [w for n, w in committee if n == node]
        if not member or node in seen:
            continue
        seen.add(node)
        if sm2_verify(dec(node), hd["hash"], sig):
            signed += max(member[0], 0)
    return signed, need


def genesis_committee(extra):
    try:
        text = extra.decode()
    except UnicodeDecodeError:
        return None
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("node."):
            continue
        _, _, entry = line.partition(":")
        node, _, weight = entry.partition(",")
        out.append((bytes.fromhex(node.strip()), int(weight.strip())))
    return out or None


def fold(part, leaf, entries, root, index, what):
    proof = [hexb(part, f"entry {i}", e) for i, e in enumerate(entries)]
    if not proof:
        raise Fail(part, "does not fold: the proof is empty")
    if len(proof) == 1:
        if proof[0] != leaf:
            raise Fail(part, "does not fold")
        current, at = leaf, 0
    else:
        current, at, level, i = leaf, 0, 0, 0
        while i < len(proof):
            head = proof[i]
            count = int.from_bytes(head[:4], "big") if len(head) == 32 else 0
            if len(head) != 32 or count not in (1, 2) or count > len(proof) - i - 1 or any(head[4:]):
                raise Fail(part, "does not fold: bad count entry")
            members = proof[i + 1:i + 1 + count]
            if any(len(m) != 32 for m in members) or current not in members:
                raise Fail(part, "does not fold")
            if at is not None:
                at = None if members.count(current) > 1 else at | (members.index(current) << level)
            level += 1
            current = h(*members)
            i += 1 + count
    if current != root:
        raise Fail(part, f"folds to 0x{current.hex()}, not the header's {what}")
    if at is not None and at != index:
        raise Fail(part, f"proves position {at}, not the transaction's index {index}")


def tx_hash(t, nonce):
    parts = [i32(t.get("version", 0)), t["chainID"].encode(), t["groupID"].encode(), i64(t["blockLimit"]),
             nonce, t.get("to", "").encode(), hexb("", "input", t.get("input", "0x")), t.get("abi", "").encode()]
    if t.get("version", 0) >= 1:
        parts += [t.get("value", "").encode(), t.get("gasPrice", "").encode(), i64(t.get("gasLimit", 0)),
                  t.get("maxFeePerGas", "").encode(), t.get("maxPriorityFeePerGas", "").encode()]
    if t.get("version", 0) >= 2:
        parts.append(hexb("", "extension", t.get("extension", "0x")))
    return h(*parts)


def nonce_candidates(printed):
    printed = str(printed)
    literal = printed.encode()
    try:
        decoded = bytes.fromhex(printed)
        if decoded and all(0x30 <= c <= 0x39 for c in decoded):
            return [decoded, literal]
    except ValueError:
        pass
    return [literal]


def bare(a):
    a = a[2:] if a.startswith("0x") else a
    return a.lower()


def receipt_hash(r):
    parts = [i32(r.get("version", 0)), str(r["gasUsed"]).encode(), bare(r.get("contractAddress", "")).encode(),
             i32(r["status"]), hexb("", "output", r.get("output", "0x"))]
    if r.get("version", 0) >= 1:
        parts.append(r.get("effectiveGasPrice", "").encode())
    for log in r.get("logEntries", []):
        parts.append(bare(log["address"]).encode())
        parts += [hexb("", "topic", t) for t in log["topics"]]
        parts.append(hexb("", "data", log.get("data", "0x")))
    parts.append(i64(r["blockNumber"]))
    return h(*parts)

# ---------------------------------------------------------------- the pack

CLASSES = {"not-envelope", "opened", "not-for-us", "malformed", "wrong-context", "wrong-key", "inconsistent"}
DLEQ_DOMAIN = b"lookthrough/evidence/v1/dleq"
SEAL_DOMAIN = b"lookthrough/evidence/v1/seal"
KEY_COMMITMENT = b"lookthrough/envelope/v1/key-commitment"


def no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"the key {k!r} appears twice")
        d[k] = v
    return d


def refuse_float(s):
    raise ValueError(f"the number {s} is not an integer")


def verify_chain(part, c):
    if c["suite"] != "sm":
        raise Fail(part, "this verifier checks national-standard (sm) chains only")
    g = header(part, c["genesis"])
    if g["number"] != 0:
        raise Fail(part, "the genesis header is not block 0")
    listed = genesis_committee(g["extra"])
    committees = []
    for k, step in enumerate(c["committees"]):
        p = f"{part}.committees[{k}]"
        sealers = [(hexb(p, "node_id", s["node_id"]), s["weight"]) for s in step["sealers"]]
        if not sealers or any(len(n) != 64 for n, _ in sealers):
            raise Fail(p, "bad members")

        def step_header():
            if step.get("header") is None:
                raise Fail(p, "the header is missing")
            hd = header(p, step["header"])
            if hd["number"] != step["height"] or own(hd) != sealers:
                raise Fail(p, "the header is not the one that brought this committee")
            return hd

        if not committees:
            if c["trust"] == "configured":
                if step["height"] != 0 or step.get("header") is not None:
                    raise Fail(p, "a configured committee starts at block 0 without a header")
                if listed is not None and sorted(listed) != sorted(sealers):
                    raise Fail(p, "the configured committee is not the one the genesis block lists")
            elif c["trust"] == "first-use":
                signed, need = vouched(step_header(), sealers)
                if signed < need:
                    raise Fail(p, "not signed by its own quorum")
            else:
                raise Fail(f"{p}.trust", "unknown trust")
        else:
            if step["height"] <= committees[-1][0]:
                raise Fail(p, "heights do not increase")
            signed, need = vouched(step_header(), committees[-1][1])
            if signed < need:
                raise Fail(p, f"the committee in force signed the change with weight {signed}; {need} required")
        committees.append((step["height"], sealers))
    if not committees:
        raise Fail(part, "no committee")
    return committees


def verify_tx(part, chain, committees, t):
    bp = f"{part}.block"
    hd = header(bp, t["block"])
    if hd["number"] < 1:
        raise Fail(bp, "not a signed block")
    in_force = [c for f, c in committees if f <= hd["number"]]
    if not in_force:
        raise Fail(bp, "no committee in force")
    committee = in_force[-1]
    if own(hd) != committee:
        raise Fail(bp, "the sealer list is not the committee in force")
    seen, signed = set(), 0
    for i, (idx, sig) in enumerate(hd["sigs"]):
        if not (0 <= idx < len(committee)):
            raise Fail(bp, f"signature {i} names a sealer not in the committee")
        if idx in seen:
            raise Fail(bp, f"sealer {idx} signed twice")
        seen.add(idx)
        if not sm2_verify(dec(committee[idx][0]), hd["hash"], sig):
            raise Fail(bp, f"signature {i} does not verify")
        signed += max(committee[idx][1], 0)
    if signed < required([w for _, w in committee]):
        raise Fail(bp, "no quorum")

    tp = f"{part}.transaction"
    tx = t["transaction"]
    try:
        claimed = hexb(tp, "hash", tx["hash"])
        hashes = [tx_hash(tx, n) for n in nonce_candidates(tx["nonce"])]
        sig = hexb(tp, "signature", tx["signature"])
    except (KeyError, TypeError, ValueError, OverflowError, Fail) as e:
        raise Fail(tp, f"not a transaction: {e!r}")
    if claimed not in hashes:
        raise Fail(tp, "its hash is not the one it claims")
    if len(sig) != 128:
        raise Fail(tp, "its signature is not 128 bytes")
    pub = sig[64:]
    if not sm2_verify(dec(pub), claimed, sig[:64]):
        raise Fail(tp, "its signature does not verify")
    sender = h(pub)[12:]
    if tx.get("from") and hexb(tp, "from", tx["from"]) != sender:
        raise Fail(tp, "it claims another sender")
    if tx["groupID"] != chain["group"]:
        raise Fail(tp, "another group")
    fold(f"{part}.tx_proof", claimed, t["tx_proof"], hd["txs_root"], t["index"], "txsRoot")

    if (t.get("receipt") is None) != (t.get("receipt_proof") is None):
        raise Fail(f"{part}.receipt", "a receipt comes with its proof")
    if t.get("receipt") is not None:
        rp = f"{part}.receipt"
        r = t["receipt"]
        try:
            computed = receipt_hash(r)
            rclaimed = hexb(rp, "hash", r["hash"])
            rtx = hexb(rp, "transactionHash", r["transactionHash"])
        except (KeyError, TypeError, ValueError, OverflowError, Fail) as e:
            raise Fail(rp, f"not a receipt: {e!r}")
        if computed != rclaimed:
            raise Fail(rp, "its hash is not the one it claims")
        if rtx != claimed or r["blockNumber"] != hd["number"]:
            raise Fail(rp, "another transaction's receipt")
        fold(f"{part}.receipt_proof", rclaimed, t["receipt_proof"], hd["receipts_root"], t["index"], "receiptsRoot")

    cp = f"{part}.class"
    if t["class"] not in CLASSES:
        raise Fail(cp, "unknown class")
    opening = t.get("opening")
    if t["class"] == "opened" and opening is None:
        raise Fail(cp, "an opened payload comes with its opening")
    if t["class"] != "opened" and opening is not None:
        raise Fail(cp, "only an opened payload has an opening")
    if opening is not None:
        verify_opening(part, tx, sender, opening)


def verify_opening(part, tx, sender, o):
    ep = f"{part}.envelope"
    data = hexb(ep, "input", tx["input"])
    off, ln = o["envelope_offset"], o["envelope_length"]
    if off < 0 or ln < 0 or off + ln > len(data):
        raise Fail(ep, "past the input")
    try:
        env = parse_envelope(data[off:off + ln])
    except (ValueError, IndexError) as e:
        raise Fail(ep, f"not an envelope: {e}")
    ctx = tx_context(tx["chainID"], tx["groupID"], sender)
    if h(ctx) != env["context_digest"]:
        raise Fail(ep, "made for another transaction")

    dp = f"{part}.dleq"
    key_bytes = hexb(dp, "regulator_key", o["regulator_key"])
    pub = dec(key_bytes)
    if pub is None or len(key_bytes) != 65:
        raise Fail(dp, "the regulator key is not a curve point")
    rid = h(enc(pub))
    mine = [r for r in env["recipients"] if r["rid"] == rid]
    if not mine:
        raise Fail(dp, "the regulator key is not a recipient")
    try:
        x, y, c3, c2 = children(tlv(mine[0]["wrap"])[1])
        c1 = (int.from_bytes(x[1], "big"), int.from_bytes(y[1], "big"))
        c3, c2 = c3[1], c2[1]
    except (ValueError, IndexError) as e:
        raise Fail(dp, f"the regulator's wrap: {e}")
    s_bytes = hexb(dp, "shared_point", o["shared_point"])
    c_bytes, z_bytes = hexb(dp, "dleq_c", o["dleq_c"]), hexb(dp, "dleq_z", o["dleq_z"])
    S = dec(s_bytes) if len(s_bytes) == 65 else None
    if not on_curve(c1) or S is None or len(c_bytes) != 32 or len(z_bytes) != 32:
        raise Fail(dp, "a point or scalar of the proof is malformed")
    c, z = int.from_bytes(c_bytes, "big"), int.from_bytes(z_bytes, "big")
    if c >= N or z >= N:
        raise Fail(dp, "a scalar is not below n")
    a1 = add(mul(z, G), neg(mul(c, pub)))
    a2 = add(mul(z, c1), neg(mul(c, S)))
    if a1 is None or a2 is None:
        raise Fail(dp, "the DLEQ proof does not verify")
    again = int.from_bytes(h(DLEQ_DOMAIN, enc(G), enc(pub), enc(c1), s_bytes, enc(a1), enc(a2)), "big") % N
    if again != c:
        raise Fail(dp, "the DLEQ proof does not verify")
    xy = s_bytes[1:]
    t = b"".join(h(xy, i.to_bytes(4, "big")) for i in range(1, len(c2) // 32 + 2))[:len(c2)]
    m = bytes(a ^ b for a, b in zip(c2, t))
    if h(xy[:32], m, xy[32:]) != c3:
        raise Fail(dp, "the shared point does not open the wrap")

    kp = f"{part}.data_key"
    dk = hexb(kp, "data_key", o["data_key"])
    if dk != m:
        raise Fail(kp, "the wrap opens to another data key")
    if h(KEY_COMMITMENT, dk) != env["key_commitment"]:
        raise Fail(kp, "the envelope commits to another data key")

    pp = f"{part}.plaintext"
    aad = der(0x30, der(0x02, b"\x01") + ctx + der(0x04, env["key_commitment"])
              + der(0x30, b"".join(r["raw"] for r in env["recipients"])))
    try:
        opened = gcm_open(dk, env["nonce"], aad, env["ciphertext"])
    except ValueError as e:
        raise Fail(pp, f"does not decrypt: {e}")
    if opened != hexb(pp, "plaintext", o["plaintext"]):
        raise Fail(pp, "decrypts to another plaintext")


def verify(raw):
    if len(raw) > 64 << 20:
        raise Fail("pack", "too large")
    try:
        pack = json.loads(raw, object_pairs_hook=no_duplicates, parse_float=refuse_float)
    except ValueError as e:
        raise Fail("pack", f"not a JSON pack: {e}")
    if not isinstance(pack, dict) or set(pack) - {"format", "body", "seal"}:
        raise Fail("pack", "not a pack")
    if pack.get("format") != "lookthrough-evidence/1":
        raise Fail("format", "not lookthrough-evidence/1")
    body, seal = pack.get("body"), pack.get("seal")
    if not isinstance(body, dict) or not isinstance(seal, dict):
        raise Fail("body", "missing")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    chains = {}
    for i, c in enumerate(body["chains"]):
        if c["id"] in chains:
            raise Fail(f"chains[{i}]", "twice")
        chains[c["id"]] = (c, verify_chain(f"chains[{i}]", c))
    for j, t in enumerate(body["transactions"]):
        if t["chain"] not in chains:
            raise Fail(f"transactions[{j}]", "unknown chain")
        chain, committees = chains[t["chain"]]
        verify_tx(f"transactions[{j}]", chain, committees, t)
    try:
        datetime.datetime.fromisoformat(body["made_at"].replace("Z", "+00:00"))
    except ValueError:
        raise Fail("made_at", "not an RFC 3339 time")
    subject = body["subject"]
    if not ((subject["kind"] == "transactions" and "alert" not in subject)
            or (subject["kind"] == "alert" and "alert" in subject)):
        raise Fail("subject", "kind and alert disagree")
    made_by = hexb("seal", "made_by", body["made_by"])
    key = dec(made_by) if len(made_by) == 65 else None
    if seal.get("algorithm") != "sm2-sm3" or key is None:
        raise Fail("seal", "algorithm or key")
    if not sm2_verify(key, SEAL_DOMAIN + canonical, hexb("seal", "signature", seal["signature"])):
        raise Fail("seal", "the node's signature does not cover this pack")
    return body


def check_dleq(path):
    """Prints "valid" or "invalid" for each DLEQ vector of docs/evidence.md section 8."""
    with open(path) as f:
        vectors = json.load(f)
    for v in vectors:
        pub, c1, S = (dec(bytes.fromhex(v[k])) for k in ("public_key", "c1", "shared_point"))
        c, z = int(v["c"], 16), int(v["z"], 16)
        ok = None not in (pub, c1, S) and c < N and z < N
        if ok:
            a1 = add(mul(z, G), neg(mul(c, pub)))
            a2 = add(mul(z, c1), neg(mul(c, S)))
            ok = a1 is not None and a2 is not None and int.from_bytes(
                h(DLEQ_DOMAIN, enc(G), enc(pub), enc(c1), enc(S), enc(a1), enc(a2)), "big") % N == c
        print("valid" if ok else "invalid")


def main(paths):
    if paths[:1] == ["--dleq"]:
        check_dleq(paths[1])
        return
    failed = False
    for path in paths:
        with open(path, "rb") as f:
            raw = f.read()
        try:
            verify(raw)
            print("ok")
        except Fail as e:
            failed = True
            print(f"FAIL {e.part}: {e.detail}")
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            failed = True
            print(f"FAIL body: the pack's shape: {e!r}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
