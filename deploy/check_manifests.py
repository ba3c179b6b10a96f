#!/usr/bin/env python3
"""Static checks of deploy/kubernetes and deploy/grafana, of the metric names that
deploy/prometheus and deploy/grafana use, and of deploy/nats against the code's roles and bus
(deploy/check.sh runs it).

    .venv/bin/python deploy/check_manifests.py

Kubernetes: every file parses; within the manifests, selectors match pod labels, probes and
Services name ports that exist, every ConfigMap, Secret and role they refer to exists, each
Deployment runs the role it is named after, every role has one. NATS: every role
(services/minhu/src/roles.rs) has its user (permissions, inbox prefix, NKey), and every user
of a minhu process may create every stream and bucket of services/contracts/src/bus.rs, since
each role provisions the whole bus at start. Grafana: valid JSON, unique panel ids, every panel
has a query. Metrics: every minhu_* name used is one minhu exports (the list below, the
contract with services/core/src/metrics.rs); names not (yet) in metrics.rs are reported.
"""

import json
import re
import sys
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent

# The metrics minhu exports (issue 7); deploy/ may use these and no others.
METRICS = {
    "minhu_intake_requests_total",
    "minhu_intake_receipt_seconds",
    "minhu_triage_messages_total",
    "minhu_triage_seconds",
    "minhu_submit_to_dispatch_seconds",
    "minhu_consumer_pending_messages",
    "minhu_consumer_ack_pending_messages",
    "minhu_consumer_redelivered_messages",
    "minhu_consumer_oldest_unprocessed_age_seconds",
    "minhu_stream_messages",
    "minhu_stream_bytes",
    "minhu_nats_connected",
    "minhu_classifier_confidence",
    "minhu_triage_queue_cases",
    "minhu_route_fallbacks_total",
    "minhu_dedup_outcomes_total",
    "minhu_unit_open_cases",
    "minhu_unit_unsigned_cases",
    "minhu_unit_overdue_cases",
    "minhu_unit_oldest_unsigned_age_seconds",
    "minhu_deadline_warnings_total",
    "minhu_deadline_escalations_total",
    "minhu_webhook_deliveries_total",
    "minhu_webhook_dead_letters_total",
    "minhu_connector_polls_total",
    "minhu_connector_items_total",
    "minhu_connector_consecutive_failures",
    "minhu_connector_last_success_timestamp_seconds",
}
HISTOGRAMS = {
    "minhu_intake_receipt_seconds",
    "minhu_triage_seconds",
    "minhu_submit_to_dispatch_seconds",
    "minhu_classifier_confidence",
}
ROLES = {"gateway", "triage", "dispatch", "clock", "ops", "connector"}
# Roles without a gRPC server, hence without gRPC health.
NO_GRPC = {"triage", "clock", "connector"}

problems = []
notes = []


def problem(msg):
    problems.append(msg)


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def check_kubernetes():
    kdir = DEPLOY / "kubernetes"
    docs = {}
    for path in sorted(kdir.rglob("*.yaml")):
        try:
            docs[path] = [d for d in yaml.safe_load_all(path.read_text()) if d]
        except yaml.YAMLError as e:
            problem(f"{path.relative_to(ROOT)}: not YAML: {e}")
    kust = yaml.safe_load((kdir / "kustomization.yaml").read_text())
    applied = []
    for name in kust["resources"]:
        if not (kdir / name).exists():
            problem(f"kustomization.yaml: resource {name} does not exist")
        applied += docs.get(kdir / name, [])
    secrets = {d["metadata"]["name"] for d in docs.get(kdir / "secret.example.yaml", [])}
    by_kind = {}
    for d in applied:
        by_kind.setdefault(d["kind"], []).append(d)
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    deployments = by_kind.get("Deployment", [])
    for dep in deployments:
        name = dep["metadata"]["name"]
        spec = dep["spec"]
        tlabels = spec["template"]["metadata"]["labels"]
        if not labels_match(spec["selector"]["matchLabels"], tlabels):
            problem(f"Deployment {name}: selector does not match the pod labels")
        role = tlabels.get("app.kubernetes.io/component")
        if role not in ROLES or name != f"minhu-{role}":
            problem(f"Deployment {name}: component label {role!r} is not its role")
        pod = spec["template"]["spec"]
        for c in pod["containers"]:
            args = c.get("args", [])
            if "--roles" not in args or args[args.index("--roles") + 1] != role:
                problem(f"Deployment {name}: does not run --roles {role}")
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                probe = c.get(kind)
                if not probe:
                    problem(f"Deployment {name}: no {kind}")
                    continue
                for mech in ("grpc", "httpGet", "tcpSocket"):
                    if mech in probe:
                        port = probe[mech]["port"]
                        if port not in ports and port not in ports.values():
                            problem(f"Deployment {name}: {kind} uses port {port}, not declared")
                if "grpc" in probe and role in NO_GRPC:
                    problem(f"Deployment {name}: {role} serves no gRPC health")
            for src in c.get("envFrom", []):
                if "configMapRef" in src and src["configMapRef"]["name"] not in configmaps:
                    problem(f"Deployment {name}: ConfigMap {src['configMapRef']['name']} missing")
                if "secretRef" in src and src["secretRef"]["name"] not in secrets:
                    problem(f"Deployment {name}: Secret {src['secretRef']['name']} not in secret.example.yaml")
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            if env.get("MINHU_NATS__INBOX_PREFIX") != f"_INBOX_{role}":
                problem(f"Deployment {name}: inbox prefix is not _INBOX_{role} (deploy/nats/accounts.conf)")
            if ports.get("metrics") != 9464:
                problem(f"Deployment {name}: no metrics port 9464")
        for v in pod.get("volumes", []):
            if "configMap" in v and v["configMap"]["name"] not in configmaps:
                problem(f"Deployment {name}: volume ConfigMap {v['configMap']['name']} missing")
        ann = spec["template"]["metadata"].get("annotations", {})
        if ann.get("prometheus.io/scrape") != "true":
            problem(f"Deployment {name}: not annotated for scraping")
        if pod.get("terminationGracePeriodSeconds", 30) < 35:
            problem(f"Deployment {name}: grace period shorter than the 30 s ack wait")
    for kind in ("Service", "PodDisruptionBudget"):
        for obj in by_kind.get(kind, []):
            sel = obj["spec"]["selector"]
            sel = sel.get("matchLabels", sel)
            hits = [d for d in deployments if labels_match(sel, d["spec"]["template"]["metadata"]["labels"])]
            if len(hits) != 1:
                problem(f"{kind} {obj['metadata']['name']}: selects {len(hits)} Deployments")
                continue
            if kind == "Service":
                names = {p["name"] for c in hits[0]["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
                for p in obj["spec"]["ports"]:
                    if p["targetPort"] not in names:
                        problem(f"Service {obj['metadata']['name']}: targetPort {p['targetPort']} not a container port")
    roles_with_pdb = {
        d["metadata"]["name"] for d in deployments
        if any(labels_match(p["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"])
               for p in by_kind.get("PodDisruptionBudget", []))
    }
    for d in deployments:
        if d["metadata"]["name"] not in roles_with_pdb:
            problem(f"Deployment {d['metadata']['name']}: no PodDisruptionBudget")
    deployed = {d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") for d in deployments}
    for role in sorted(ROLES - deployed):
        problem(f"role {role}: no Deployment")
    env = configmaps.get("minhu-env", {}).get("data", {})
    if env.get("MINHU_NATS__URL") != "nats://nats:4222" or env.get("MINHU_NATS__REPLICAS") != "3":
        problem("ConfigMap minhu-env: MINHU_NATS__URL/REPLICAS not the cluster's")
    for bad in ("MINHU_CONFIG", "MINHU_LOG_FORMAT"):
        if bad in env:
            problem(f"ConfigMap minhu-env: {bad} is read as a configuration key; use the flag")
    return sum(len(v) for v in docs.values())


def check_nats_users():
    roles = set(re.findall(r'Role::\w+ => "([a-z]+)"', (ROOT / "services/minhu/src/roles.rs").read_text()))
    if roles != ROLES:
        problem(f"check_manifests.py: ROLES {sorted(ROLES)} differ from the code's {sorted(roles)}")
    bus = (ROOT / "services/contracts/src/bus.rs").read_text()
    streams = re.findall(r'pub const \w+_STREAM: &str = "([A-Za-z_]+)";', bus)
    streams += [f"KV_{b}" for b in re.findall(r'pub const \w+_BUCKET: &str = "([a-z_]+)";', bus)]
    nats = DEPLOY / "nats"
    accounts = (nats / "accounts.conf").read_text()
    blocks = dict(re.findall(r"^([A-Z_]+)_PERMISSIONS: \{(.*?)^\}", accounts, re.M | re.S))
    nkeys = (nats / "nkeys.conf").read_text()
    users = {role: (role.upper(), f"_INBOX_{role}") for role in roles}
    users["minhu-all"] = ("MINHU_ALL", "_INBOX_minhu")
    for user, (key, inbox) in sorted(users.items()):
        block = blocks.get(key)
        if block is None:
            problem(f"deploy/nats/accounts.conf: no {key}_PERMISSIONS for {user}")
            continue
        if f"{{ nkey: ${key}_NKEY, permissions: ${key}_PERMISSIONS }}" not in accounts:
            problem(f"deploy/nats/accounts.conf: {user} is not a user of the MINHU account")
        if not re.search(rf"^{key}_NKEY: U[A-Z2-7]{{55}}$", nkeys, re.M):
            problem(f"deploy/nats/nkeys.conf: no {key}_NKEY")
        if f'"{inbox}.>"' not in block:
            problem(f"deploy/nats/accounts.conf: {user} does not subscribe to its inbox {inbox}.>")
        for stream in streams:
            if f'"$JS.API.STREAM.CREATE.{stream}"' not in block:
                problem(f"deploy/nats/accounts.conf: {user} may not create {stream} (every role provisions the bus)")
    return len(users)


def used_metrics(text):
    names = set()
    for m in re.findall(r"\bminhu_[a-z_]+", text):
        for suffix in ("_bucket", "_sum", "_count"):
            if m.endswith(suffix) and m[: -len(suffix)] in HISTOGRAMS:
                m = m[: -len(suffix)]
        names.add(m)
    return names


def check_grafana():
    path = DEPLOY / "grafana" / "minhu-dashboard.json"
    dash = json.loads(path.read_text())
    ids = []
    exprs = []

    def walk(panels):
        for p in panels:
            ids.append(p["id"])
            if p.get("type") != "row":
                targets = p.get("targets", [])
                if not targets:
                    problem(f"grafana: panel {p['title']!r} has no query")
                exprs.extend(t["expr"] for t in targets)
            walk(p.get("panels", []))

    walk(dash["panels"])
    if len(ids) != len(set(ids)):
        problem("grafana: panel ids are not unique")
    return len(ids), "\n".join(exprs)


def check_metric_names(grafana_exprs):
    texts = {
        "deploy/prometheus/minhu-rules.yml": (DEPLOY / "prometheus" / "minhu-rules.yml").read_text(),
        "deploy/grafana/minhu-dashboard.json": grafana_exprs,
        "deploy/kubernetes/scaling/keda-triage.yaml": (DEPLOY / "kubernetes" / "scaling" / "keda-triage.yaml").read_text(),
    }
    used = set()
    for where, text in texts.items():
        names = used_metrics(re.sub(r"(?m)^\s*#.*$", "", text))
        for name in sorted(names - METRICS):
            problem(f"{where}: {name} is not a metric minhu exports")
        used |= names
    unused = METRICS - used
    if unused:
        notes.append(f"metrics no panel or rule uses: {', '.join(sorted(unused))}")
    source = ROOT / "services" / "core" / "src" / "metrics.rs"
    if source.exists():
        declared = set(re.findall(r'"(minhu_[a-z_]+)"', source.read_text()))
        missing = sorted(METRICS - declared)
        if missing:
            notes.append(f"not (yet) declared in services/core/src/metrics.rs: {', '.join(missing)}")


def main():
    n_docs = check_kubernetes()
    n_users = check_nats_users()
    n_panels, exprs = check_grafana()
    check_metric_names(exprs)
    for n in notes:
        print(f"note: {n}")
    for p in problems:
        print(f"FAIL: {p}")
    print(f"manifests: {n_docs} Kubernetes objects, {n_panels} dashboard panels, "
          f"{n_users} NATS users of minhu, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
