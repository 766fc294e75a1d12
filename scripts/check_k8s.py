"""Validates pgsage's Kubernetes manifests offline: `python scripts/check_k8s.py [deploy/k8s]`.

No cluster and no kustomize binary are needed:
- every YAML file under the folder (kustomizations aside) is validated, resource by
  resource, against the Kubernetes OpenAPI schemas bundled in `kubernetes-validate` (pinned
  in pyproject.toml's dev list), strictly (an unknown field is an error), for each version
  in VERSIONS;
- every kustomization is rendered by a small renderer for the subset pgsage uses
  (`resources` files and folders, `namespace`, `labels`, `images`, strategic-merge `patches`
  by file; anything else is reported as unsupported) and the result validated the same way;
- in a rendered kustomization, what the pods refer to exists: each ConfigMap and Secret they
  name is a resource or is shown in secrets.example.yaml (what the operator creates, never
  committed), and each Service's selector matches a Deployment's pods.
Each problem is one line on stderr; the exit code is 1 if there is any.
"""

from __future__ import annotations

import copy
import pathlib
import sys
from collections.abc import Iterator

import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The oldest Kubernetes pgsage's manifests support, and the newest the schemas know.
VERSIONS = ("1.29.0", "1.37.0")
KUSTOMIZATION = "kustomization.yaml"
SUPPORTED = frozenset(
    {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
)
CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding"})


def _documents(path: pathlib.Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _merge(base: object, patch: object) -> object:
    """Strategic merge for the shapes pgsage uses: maps merge key by key, lists of maps
    with a `name` merge item by name, anything else is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    named = (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in [*base, *patch])
    )
    if named:
        assert isinstance(base, list) and isinstance(patch, list)
        items = {item["name"]: item for item in base}
        patches = {item["name"]: item for item in patch}
        out = [_merge(item, patches.get(item["name"], {})) for item in base]
        return out + [copy.deepcopy(p) for p in patch if p["name"] not in items]
    return copy.deepcopy(patch)


def _containers(resource: dict) -> Iterator[dict]:
    spec = resource.get("spec", {}).get("template", {}).get("spec", {})
    yield from spec.get("containers", [])
    yield from spec.get("initContainers", [])


def _image(reference: str, rules: list[dict]) -> str:
    name, _, tag = reference.partition(":")
    for rule in rules:
        if rule.get("name") == name:
            return f"{rule.get('newName', name)}:{rule.get('newTag', tag or 'latest')}"
    return reference


def render(folder: pathlib.Path, found: list[str]) -> list[dict]:
    """The resources of the kustomization in `folder` (problems appended to `found`)."""
    kustomization = yaml.safe_load((folder / KUSTOMIZATION).read_text())
    for key in sorted(set(kustomization) - SUPPORTED):
        found.append(f"{folder / KUSTOMIZATION}: {key} is not supported by this renderer")
    resources: list[dict] = []
    for entry in kustomization.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir() and (path / KUSTOMIZATION).is_file():
            resources += render(path, found)
        elif path.is_file():
            resources += _documents(path)
        else:
            found.append(f"{folder / KUSTOMIZATION}: resource {entry} does not exist")
    for patch_entry in kustomization.get("patches", []):
        path = folder / patch_entry.get("path", "")
        if set(patch_entry) != {"path"} or not path.is_file():
            found.append(f"{folder / KUSTOMIZATION}: patch {patch_entry} is not a file patch")
            continue
        for patch in _documents(path):
            key = (patch.get("kind"), patch.get("metadata", {}).get("name"))
            index = next(
                (i for i, r in enumerate(resources) if (r["kind"], r["metadata"]["name"]) == key),
                None,
            )
            if index is None:
                found.append(f"{path}: patches {key[0]}/{key[1]}, which is not a resource")
            else:
                resources[index] = _merge(resources[index], patch)  # type: ignore[assignment]
    for group in kustomization.get("labels", []):
        for resource in resources:
            labels = resource.setdefault("metadata", {}).setdefault("labels", {})
            labels.update(group.get("pairs", {}))
    for resource in resources:
        if "namespace" in kustomization and resource["kind"] not in CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = kustomization["namespace"]
        for container in _containers(resource):
            container["image"] = _image(container["image"], kustomization.get("images", []))
    return resources


def _validate(where: str, resource: dict) -> list[str]:
    name = f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"
    found = []
    for version in VERSIONS:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(map(str, exc.absolute_path)) or "(top)"
            found.append(f"{where}: {name} (Kubernetes {version}): {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            found.append(f"{where}: {name}: no schema for {resource.get('apiVersion')}")
    return found


def _references(where: str, resources: list[dict], examples: set[tuple[str, str]]) -> list[str]:
    names = {(r["kind"], r["metadata"]["name"]) for r in resources}
    found = []
    pod_labels = [
        r["spec"]["template"]["metadata"].get("labels", {})
        for r in resources
        if r["kind"] == "Deployment"
    ]
    for resource in resources:
        if resource["kind"] == "Service":
            selector = resource["spec"].get("selector", {})
            if not any(selector.items() <= labels.items() for labels in pod_labels):
                found.append(f"{where}: Service/{resource['metadata']['name']} selects no pods")
        for kind, name in _referenced(resource):
            if (kind, name) in names or (kind, name) in examples:
                continue
            found.append(
                f"{where}: {resource['kind']}/{resource['metadata']['name']} refers to "
                f"{kind}/{name}, which is neither a resource nor in secrets.example.yaml"
            )
    return found


def _referenced(resource: dict) -> Iterator[tuple[str, str]]:
    spec = resource.get("spec", {}).get("template", {}).get("spec", {})
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            yield "Secret", volume["secret"]["secretName"]
        if "configMap" in volume:
            yield "ConfigMap", volume["configMap"]["name"]
    for container in _containers(resource):
        for env in container.get("env", []):
            source = env.get("valueFrom", {})
            if "secretKeyRef" in source:
                yield "Secret", source["secretKeyRef"]["name"]
            if "configMapKeyRef" in source:
                yield "ConfigMap", source["configMapKeyRef"]["name"]


def problems(folder: pathlib.Path) -> tuple[list[str], int]:
    """Every problem found under `folder`, and how many resources were validated."""
    found: list[str] = []
    count = 0
    examples: set[tuple[str, str]] = set()
    for path in sorted(folder.rglob("*.yaml")):
        if path.name == KUSTOMIZATION:
            continue
        try:
            documents = _documents(path)
        except yaml.YAMLError as exc:
            found.append(f"{path}: not YAML: {exc}")
            continue
        for resource in documents:
            found += _validate(str(path), resource)
            count += 1
            if path.name == "secrets.example.yaml":
                examples.add((resource["kind"], resource["metadata"]["name"]))
    for kustomization in sorted(folder.rglob(KUSTOMIZATION)):
        where = f"{kustomization.parent} (rendered)"
        resources = render(kustomization.parent, found)
        for resource in resources:
            found += _validate(where, resource)
            count += 1
        found += _references(where, resources, examples)
    return found, count


def main(argv: list[str]) -> int:
    folder = pathlib.Path(argv[0]) if argv else ROOT / "deploy/k8s"
    found, count = problems(folder)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        return 1
    print(f"{folder}: valid ({count} resources, files and rendered kustomizations)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
