# SPDX-License-Identifier: MIT
"""The request bodies vmon parses, checked against Firecracker's OpenAPI document.

Walks the document's definitions of every PUT/PATCH body that src/api/fc_spec.c
(and mmds.c) serve. For each property it builds a body the document calls
valid (values from type, enum, minimum, maximum) and expects vmon to take it,
unless the refusal is one of DEVIATIONS below (mirrored in docs/API.md,
"Deviations"); it expects refusals, naming the field, of unknown properties,
wrong types, numbers out of range, values outside an enum and missing required
properties. The bodies go through build/tests/integration/fc_spec_check, no KVM
needed. So a field the document has and vmon refuses, or the reverse, fails here.
"""

import json
import os
import re
import subprocess

import pytest
import yaml

from conftest import BUILD, ROOT

CHECK = os.path.join(BUILD, "tests", "integration", "fc_spec_check")
# Firecracker's OpenAPI document is not part of vmon's tree: it is the project's shared reference, beside
# the checkout (../shared) on the development machines, or named by VMON_FC_API_YAML. scripts/test.sh sets
# VMON_REQUIRE_FC_API_YAML=1: there a missing document fails the suite instead of skipping this walk.
SPEC_CANDIDATES = [os.environ.get("VMON_FC_API_YAML", ""),
                   os.path.join(ROOT, "..", "shared", "reference", "firecracker-api.yaml"),
                   "/work/shared/reference/firecracker-api.yaml"]
SPEC_YAML = next((p for p in SPEC_CANDIDATES if p and os.path.exists(p)), None)
API_DOC = os.path.join(ROOT, "docs", "API.md")

if SPEC_YAML is None:
    why = f"Firecracker's OpenAPI document is in none of {[p for p in SPEC_CANDIDATES if p]} (set VMON_FC_API_YAML)"
    if os.environ.get("VMON_REQUIRE_FC_API_YAML") == "1":
        raise RuntimeError(why)
    pytest.skip(why, allow_module_level=True)



class Yaml12Loader(yaml.SafeLoader):
    """Booleans as YAML 1.2 and OpenAPI mean them: true/false only (YAML 1.1 also reads Logger.level's Off as false)."""


Yaml12Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))

with open(SPEC_YAML) as f:
    DOC = yaml.load(f, Loader=Yaml12Loader)
DEFS = DOC["definitions"]

# The PUT/PATCH bodies fc_spec_check serves: (method, document path) -> the concrete path.
ENDPOINTS = {
    ("put", "/boot-source"): "/boot-source",
    ("put", "/drives/{drive_id}"): "/drives/d1",
    ("patch", "/drives/{drive_id}"): "/drives/d0",
    ("put", "/machine-config"): "/machine-config",
    ("patch", "/machine-config"): "/machine-config",
    ("put", "/network-interfaces/{iface_id}"): "/network-interfaces/eth1",
    ("patch", "/network-interfaces/{iface_id}"): "/network-interfaces/eth0",
    ("put", "/logger"): "/logger",
    ("put", "/metrics"): "/metrics",
    ("put", "/entropy"): "/entropy",
    ("put", "/serial"): "/serial",
    ("put", "/mmds/config"): "/mmds/config",
    ("put", "/mmds"): "/mmds",
    ("patch", "/mmds"): "/mmds",
    ("put", "/vsock"): "/vsock",
    ("put", "/balloon"): "/balloon",
    ("patch", "/balloon"): "/balloon",
    ("patch", "/balloon/statistics"): "/balloon/statistics",
}

# Bodies of the document that fc_spec does not parse, and who answers them.
ELSEWHERE = {
    ("put", "/actions"): "the controller (InstanceActionInfo)",
    ("patch", "/vm"): "the controller (Vm: Paused/Resumed)",
    ("put", "/snapshot/create"): "snapshots, issue 11: the controller refuses them",
    ("put", "/snapshot/load"): "snapshots, issue 11: the controller refuses them",
    ("patch", "/balloon/hinting/start"): "free page hinting: not implemented, the controller refuses it",
    ("patch", "/balloon/hinting/stop"): "free page hinting: not implemented, the controller refuses it",
    ("put", "/cpu-config"): "custom CPU templates: not supported, the controller refuses them",
    ("put", "/pmem/{id}"): "virtio-pmem: not supported, the controller refuses it",
    ("patch", "/pmem/{id}"): "virtio-pmem: not supported, the controller refuses it",
    ("put", "/hotplug/memory"): "memory hotplug: not supported, the controller refuses it",
    ("patch", "/hotplug/memory"): "memory hotplug: not supported, the controller refuses it",
}

# PATCH /machine-config takes MachineConfiguration with every field optional (Firecracker's MachineConfigUpdate).
ALL_OPTIONAL = {("patch", "/machine-config")}

ANY = object()


# What the document allows and vmon refuses: (definition, property path, values, message, reason).
# Every row is listed in docs/API.md under "Deviations"; test_deviations_are_documented checks it.
DEVIATIONS = [
    ("MachineConfiguration", "smt", [True], "smt: vmon cannot enable SMT",
     "vmon's CPUID shows one thread per core"),
    ("MachineConfiguration", "cpu_template", ["C3", "T2", "T2S", "T2CL", "T2A", "V1N1"],
     "cpu_template: vmon has no CPU templates", "no CPU templates"),
    ("MachineConfiguration", "huge_pages", ["Transparent", "2M"], "huge_pages: vmon backs guest memory with 4 KiB",
     "4 KiB pages only"),
    ("MachineConfiguration", "mem_size_mib", [1], "mem_size_mib: must be between 2 and 1048576",
     "vmon's guest memory is 2 MiB to 1 TiB"),
    ("Drive", "socket", ANY, "socket: vhost-user-block is not supported", "no vhost-user-block"),
    ("Drive", "drive_id", ["abcdefghij0123456789x"], "vmon gives it to the guest as the virtio-blk serial",
     "the id is the 20-byte virtio-blk serial"),
    ("NetworkInterface", "mtu", ANY, "mtu: vmon's virtio-net does not offer VIRTIO_NET_F_MTU", "no MTU feature"),
    ("NetworkInterface", "guest_mac", ["01:00:5e:00:00:01"], "is a multicast address", "a NIC's MAC is unicast"),
    ("SerialDevice", "rate_limiter", [{"size": 1000, "refill_time": 100}],
     "vmon's serial device has no rate limiter", "rate limiters on virtio-blk, virtio-net and virtio-rng only"),
    ("Balloon", "free_page_hinting", [True], "free_page_hinting: vmon does not implement free page hinting",
     "no free page hinting"),
    ("Vsock", "guest_cid", [4294967295], "guest_cid: 4294967295 is VMADDR_CID_ANY",
     "U32_MAX is VMADDR_CID_ANY, no guest's address"),
]

# A PATCH that changes nothing: Firecracker refuses it too ("Please specify at least one property to patch").
EMPTY_PATCH_REFUSED = {"PartialDrive": "body: nothing to change"}

# Required by vmon though optional in the document (present in every valid body below).
VMON_REQUIRED = {"Drive": {"path_on_host": "path_on_host: required (vmon's drives are virtio-block)"}}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fc-spec")
    paths = {}
    for name in ("vmlinux", "initrd", "d0.img", "d1.img"):
        (d / name).write_bytes(b"")
        paths[name] = str(d / name)
    config = {
        "boot-source": {"kernel_image_path": paths["vmlinux"]},
        "drives": [{"drive_id": "d0", "path_on_host": paths["d0.img"], "is_root_device": False}],
        "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0"}],
        # For PATCH /balloon and /balloon/statistics (statistics on: the interval can change, not turn on).
        "balloon": {"amount_mib": 0, "deflate_on_oom": False, "stats_polling_interval_s": 5},
    }
    paths["config"] = str(d / "config.json")
    with open(paths["config"], "w") as f:
        json.dump(config, f)
    paths["mmds"] = str(d / "mmds.json")
    with open(paths["mmds"], "w") as f:
        json.dump({"latest": {"meta-data": {"ami-id": "ami-1"}}}, f)
    return paths


def run_check(files, method, path, body):
    argv = [CHECK, "--config", files["config"], "--mmds", files["mmds"], method.upper(), path]
    text = body if isinstance(body, str) else json.dumps(body)
    r = subprocess.run(argv, input=text.encode(), capture_output=True, timeout=30)
    assert r.returncode in (0, 1), f"{argv}: exit {r.returncode}: {r.stderr.decode()}"
    out = r.stdout.decode().strip()
    return out if r.returncode == 0 else out


def body_definition(method, doc_path):
    for p in DOC["paths"][doc_path][method].get("parameters", []):
        if p.get("in") == "body":
            return p["schema"]["$ref"].split("/")[-1]
    return None


def special_values(name, ctx):
    """Valid values where the type alone does not make one (paths that must open, ids, addresses)."""
    f = ctx["files"]
    return {
        "kernel_image_path": [f["vmlinux"]],
        "initrd_path": [f["initrd"]],
        "path_on_host": [f["d1.img"] if ctx["path"].endswith("d1") else f["d0.img"]],
        "drive_id": [ctx["path"].rsplit("/", 1)[-1]],
        "iface_id": [ctx["path"].rsplit("/", 1)[-1]],
        "host_dev_name": ["tap1", "vmon:user"],
        "guest_mac": ["06:00:ac:10:00:02"],
        "partuuid": ["0eaa91a0-01"],
        "ipv4_address": ["169.254.169.254", "169.254.1.0", "169.254.254.255"],
        "network_interfaces": [["eth0"]],
        "mem_size_mib": [2, 128, 1048576],
        "boot_args": ["console=ttyS0 reboot=k", ""],
    }.get(name)


def resolve(schema):
    if "$ref" in schema:
        return resolve_def(schema["$ref"].split("/")[-1])
    return schema


def resolve_def(name):
    return dict(DEFS[name], _name=name)


def valid_values(name, schema, ctx):
    """Values the document calls valid for one property (its first one goes into minimal bodies)."""
    schema = resolve(schema)
    special = special_values(name, ctx)
    if special is not None:
        return special
    t = schema.get("type")
    if "enum" in schema:
        return list(schema["enum"])
    if t == "boolean":
        return [False, True]
    if t == "integer":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        vals = [v for v in (lo, hi) if v is not None]
        if lo is not None and hi is None:
            vals.append(lo + 1000)
        return vals or [1]
    if t == "string":
        return ["/tmp/vmon-schema-walk" if "path" in name else "x"]
    if t == "array":
        return [[v] for v in valid_values(name + "[]", schema["items"], ctx)]
    if t == "object" and "_name" in schema:
        return [minimal(schema, ctx)]
    if t == "object" and isinstance(schema.get("additionalProperties"), dict):
        return [{}, {"team": "vmon"}]
    raise AssertionError(f"{name}: no valid value for {schema}")


def minimal(defn, ctx):
    body = {}
    required = set(defn.get("required", [])) | set(VMON_REQUIRED.get(defn["_name"], {}))
    for name in required:
        body[name] = valid_values(name, defn["properties"][name], ctx)[0]
    return body


def walk(defn, ctx, prefix=""):
    """(dotted path, property schema, containing definition) for every property, nested ones too."""
    for name, schema in defn.get("properties", {}).items():
        path = prefix + name
        yield path, schema, defn
        sub = resolve(schema)
        if sub.get("type") == "object" and "_name" in sub:
            yield from walk(sub, ctx, path + ".")


def with_value(defn, ctx, path, value):
    """A minimal body with the property at path set (parents created minimal)."""
    body = minimal(defn, ctx)
    node, d = body, defn
    parts = path.split(".")
    for part in parts[:-1]:
        d = resolve(d["properties"][part])
        node = node.setdefault(part, minimal(d, ctx))
    if value is DELETE:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value
    return body


DELETE = object()


def deviation(defn_name, path, value):
    for d_name, d_path, values, msg, _ in DEVIATIONS:
        if d_name != defn_name:
            continue
        if d_path == "" or (d_path == path and (values is ANY or value in values)):
            return msg
    return None


def cases():
    for (method, doc_path), path in ENDPOINTS.items():
        if doc_path != "/mmds":
            yield pytest.param(method, doc_path, path, id=f"{method.upper()} {doc_path}")


CASES = list(cases())


def expect(files, method, path, body, error=None):
    out = run_check(files, method, path, body)
    if error is None:
        assert out == "ok", f"{method.upper()} {path} {json.dumps(body)}: {out}"
    else:
        assert out.startswith("error: ") and error in out, \
            f"{method.upper()} {path} {json.dumps(body)}: got {out!r}, expected an error with {error!r}"


@pytest.mark.parametrize("method,doc_path,path", CASES)
def test_valid_bodies_are_taken(files, method, doc_path, path):
    defn = resolve_def(body_definition(method, doc_path))
    ctx = {"files": files, "path": path}
    whole = deviation(defn["_name"], "", None)
    empty = EMPTY_PATCH_REFUSED.get(defn["_name"])
    expect(files, method, path, minimal(defn, ctx), whole or empty)
    for prop, schema, container in walk(defn, ctx):
        for value in valid_values(prop.rsplit(".", 1)[-1], schema, ctx):
            body = with_value(defn, ctx, prop, value)
            refusal = empty if body == minimal(defn, ctx) else deviation(defn["_name"], prop, value)
            expect(files, method, path, body, whole or refusal)


@pytest.mark.parametrize("method,doc_path,path", CASES)
def test_unknown_properties_are_refused(files, method, doc_path, path):
    defn = resolve_def(body_definition(method, doc_path))
    ctx = {"files": files, "path": path}
    expect(files, method, path, dict(minimal(defn, ctx), vmon_unknown_field=1), 'unknown field "vmon_unknown_field"')
    for prop, schema, _ in walk(defn, ctx):
        sub = resolve(schema)
        if sub.get("type") == "object" and "_name" in sub:
            body = with_value(defn, ctx, prop, dict(minimal(sub, ctx), vmon_unknown_field=1))
            expect(files, method, path, body, f'{prop}: unknown field "vmon_unknown_field"')


WRONG = {"string": 12345, "integer": "12", "boolean": "true", "object": [], "array": {"a": 1}}


@pytest.mark.parametrize("method,doc_path,path", CASES)
def test_wrong_types_are_refused(files, method, doc_path, path):
    defn = resolve_def(body_definition(method, doc_path))
    ctx = {"files": files, "path": path}
    for prop, schema, _ in walk(defn, ctx):
        sub = resolve(schema)
        expect(files, method, path, with_value(defn, ctx, prop, WRONG[sub["type"]]), f"{prop}: expected")
        if sub["type"] == "integer":
            expect(files, method, path, with_value(defn, ctx, prop, 1.5), f"{prop}: expected an integer")
        if sub["type"] == "array":
            expect(files, method, path, with_value(defn, ctx, prop, [7]), f"{prop}[0]: expected a string")


@pytest.mark.parametrize("method,doc_path,path", CASES)
def test_out_of_range_values_are_refused(files, method, doc_path, path):
    defn = resolve_def(body_definition(method, doc_path))
    ctx = {"files": files, "path": path}
    for prop, schema, _ in walk(defn, ctx):
        sub = resolve(schema)
        if "minimum" in sub:
            expect(files, method, path, with_value(defn, ctx, prop, sub["minimum"] - 1), f"{prop}: must be")
        if "maximum" in sub:
            expect(files, method, path, with_value(defn, ctx, prop, sub["maximum"] + 1), f"{prop}: must be")
        if "enum" in sub:
            expect(files, method, path, with_value(defn, ctx, prop, "NotInTheEnum"), f"{prop}: must be one of")


@pytest.mark.parametrize("method,doc_path,path", CASES)
def test_missing_required_properties_are_refused(files, method, doc_path, path):
    defn = resolve_def(body_definition(method, doc_path))
    ctx = {"files": files, "path": path}
    for prop, schema, container in walk(defn, ctx):
        name = prop.rsplit(".", 1)[-1]
        if name not in container.get("required", []):
            continue
        body = with_value(defn, ctx, prop, DELETE)
        if (method, doc_path) in ALL_OPTIONAL and "." not in prop:
            expect(files, method, path, body)
        else:
            expect(files, method, path, body, f"{prop}: required")
    for name, msg in VMON_REQUIRED.get(defn["_name"], {}).items():
        expect(files, method, path, with_value(defn, ctx, name, DELETE), msg)


@pytest.mark.parametrize("method,doc_path,path", CASES)
def test_deviations_are_refused(files, method, doc_path, path):
    defn = resolve_def(body_definition(method, doc_path))
    ctx = {"files": files, "path": path}
    for d_name, d_path, values, msg, _ in DEVIATIONS:
        if d_name != defn["_name"] or d_path == "" or values is ANY:
            continue
        for value in values:
            # An id must match the path's: the request goes to the path it names.
            where = path.rsplit("/", 1)[0] + "/" + value if d_path in ("drive_id", "iface_id") else path
            expect(files, method, where, with_value(defn, dict(ctx, path=where), d_path, value), msg)


def test_mmds_contents_are_any_object(files):
    assert resolve_def(body_definition("put", "/mmds"))["_name"] == "MmdsContentsObject"
    for method in ("put", "patch"):
        expect(files, method, "/mmds", {})
        expect(files, method, "/mmds", {"latest": {"meta-data": {"a": [1, "x", None, True, 2.5]}}})
        expect(files, method, "/mmds", [1], "body: the MMDS data store must be a JSON object")
        expect(files, method, "/mmds", "x", "not valid JSON")


def test_every_body_endpoint_is_covered():
    """A PUT/PATCH body the document adds must be served here or named in ELSEWHERE."""
    for doc_path, methods in DOC["paths"].items():
        for method in ("put", "patch"):
            if method in methods and (method, doc_path) not in ENDPOINTS:
                assert (method, doc_path) in ELSEWHERE, f"{method.upper()} {doc_path}: neither served nor listed"
    for key in ENDPOINTS:
        assert key[1] in DOC["paths"] and key[0] in DOC["paths"][key[1]], f"{key}: not in the document"


def test_deviations_are_documented():
    """docs/API.md's "Deviations" lists every property vmon refuses against the document."""
    with open(API_DOC) as f:
        text = f.read()
    m = re.search(r"^## Deviations\n(.*?)(^## |\Z)", text, re.S | re.M)
    assert m, "docs/API.md has no '## Deviations' section"
    section = m.group(1)
    for d_name, d_path, _, _, _ in DEVIATIONS:
        key = f"{d_name}.{d_path}" if d_path else d_name
        assert f"`{key}`" in section, f"docs/API.md Deviations does not list `{key}`"


def test_config_file_takes_the_get_body_back(files):
    """GET /vm/config's body, given as --config-file, gives the same configuration."""
    def dump(argv, text):
        r = subprocess.run([CHECK, "--dump", *argv], input=text.encode(), capture_output=True, timeout=30)
        assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
        status, body = r.stdout.decode().split("\n", 1)
        assert status == "ok"
        return body.strip()

    first = dump(["--config", files["config"], "PUT", "/entropy"], "{}")
    assert json.loads(first)["drives"][0]["drive_id"] == "d0"
    assert dump(["config-file"], first) == first
