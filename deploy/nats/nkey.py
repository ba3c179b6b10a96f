#!/usr/bin/env python3
"""Makes a NATS user NKey pair, like `nk -gen user -pubout`:

    .venv/bin/python deploy/nats/nkey.py        (the nkeys package: deploy/local/setup.sh)

prints the seed (secret: give it to the client only, e.g. MINHU_NATS__NKEY_SEED) and then the
public key (for deploy/nats/nkeys.conf).
"""

import os

import nkeys

seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
print(seed.decode())
print(nkeys.from_seed(bytearray(seed)).public_key.decode())
