# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Kubernetes double answers as kube-apiserver does: discovery, CRUD, selectors, patches, errors."""

from __future__ import annotations

import kubernetes
import pytest

from tests.unit.fakes.kube.kube_helpers import NS
from tests.unit.fakes.kube.kube_helpers import RESTRICTED_SC

NP_PATH = f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies"


def _np(name: str = "deny", **spec):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"podSelector": {"matchLabels": {"app": "api"}}, **spec},
    }


def test_discovery_documents(cluster):
    version = cluster.http("GET", "/version").body
    assert version["major"] == "1"
    assert version["gitVersion"].startswith("v1.")
    assert cluster.http("GET", "/version/").body == version
    assert cluster.http("GET", "/api").body["versions"] == ["v1"]
    groups = {g["name"] for g in cluster.http("GET", "/apis").body["groups"]}
    assert {"apps", "networking.k8s.io"} <= groups
    core = {r["name"]: r for r in cluster.http("GET", "/api/v1").body["resources"]}
    assert {"namespaces", "pods", "pods/exec", "pods/log", "pods/status", "services", "endpoints"} <= set(core)
    assert core["pods"]["kind"] == "Pod"
    assert core["pods"]["namespaced"] is True
    assert core["namespaces"]["namespaced"] is False
    apps = {r["name"] for r in cluster.http("GET", "/apis/apps/v1").body["resources"]}
    assert {"deployments", "replicasets"} <= apps
    net = cluster.http("GET", "/apis/networking.k8s.io/v1").body
    assert net["groupVersion"] == "networking.k8s.io/v1"
    assert [r["kind"] for r in net["resources"]] == ["NetworkPolicy"]
    assert cluster.http("GET", "/apis/nope.example.com/v1").status == 404


def test_requests_without_the_token_get_401_status(cluster):
    raw = cluster.http("GET", "/api/v1/namespaces", token=False)
    assert raw.status == 401
    assert raw.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


def test_list_carries_kind_api_version_and_resource_version(cluster):
    body = cluster.http("GET", "/api/v1/namespaces").body
    assert body["kind"] == "NamespaceList"
    assert body["apiVersion"] == "v1"
    assert body["metadata"]["resourceVersion"].isdigit()
    names = {n["metadata"]["name"] for n in body["items"]}
    assert {"default", "kube-system"} <= names
    deployments = cluster.http("GET", "/apis/apps/v1/deployments").body
    assert deployments["kind"] == "DeploymentList"
    assert deployments["apiVersion"] == "apps/v1"


def test_namespace_metadata_as_the_api_server_sets_it(cluster):
    created = cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NS, "labels": {"kubernetes.io/metadata.name": "forged"}},
        }
    ).body
    meta = created["metadata"]
    assert meta["labels"]["kubernetes.io/metadata.name"] == NS
    assert meta["uid"]
    assert meta["resourceVersion"].isdigit()
    assert meta["creationTimestamp"].endswith("Z")
    assert created["status"] == {"phase": "Active"}
    # The label cannot be changed or removed: the server puts it back.
    patched = cluster.http(
        "PATCH",
        f"/api/v1/namespaces/{NS}",
        {"metadata": {"labels": {"kubernetes.io/metadata.name": None}}},
        "application/merge-patch+json",
    ).body
    assert patched["metadata"]["labels"]["kubernetes.io/metadata.name"] == NS


def test_object_in_unknown_namespace_is_refused_404(cluster):
    raw = cluster.create(_np() | {"metadata": {"name": "deny", "namespace": "nope"}}, expect=404)
    assert raw.body["message"] == 'namespaces "nope" not found'
    assert raw.body["reason"] == "NotFound"
    assert raw.body["details"] == {"name": "nope", "kind": "namespaces"}


def test_duplicate_is_409_already_exists(cluster):
    cluster.namespace()
    cluster.create(_np())
    raw = cluster.create(_np(), expect=409)
    assert raw.body["reason"] == "AlreadyExists"
    assert raw.body["message"] == 'networkpolicies.networking.k8s.io "deny" already exists'
    assert raw.body["details"] == {"name": "deny", "group": "networking.k8s.io", "kind": "networkpolicies"}


def test_get_missing_is_404_not_found(cluster):
    raw = cluster.http("GET", "/apis/apps/v1/namespaces/default/deployments/ghost")
    assert raw.status == 404
    assert raw.body["message"] == 'deployments.apps "ghost" not found'


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            {"ingress": [{"ports": [{"port": 0}]}]},
            "spec.ingress[0].ports[0].port",
            "spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        ),
        (
            {"ingress": [{"ports": [{"protocol": "HTTP", "port": 80}]}]},
            "spec.ingress[0].ports[0].protocol",
            'spec.ingress[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "TCP", "UDP", "SCTP"',
        ),
        (
            {"policyTypes": ["Ingres"]},
            "spec.policyTypes[0]",
            'spec.policyTypes[0]: Unsupported value: "Ingres": supported values: "Ingress", "Egress"',
        ),
        (
            {"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]},
            "spec.egress[0].to[0].ipBlock.cidr",
            'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "10.0.0.0/33"',
        ),
    ],
)
def test_malformed_network_policy_is_422_invalid(cluster, spec, field, message):
    cluster.namespace()
    raw = cluster.create(_np(**spec), expect=422)
    body = raw.body
    assert body["kind"] == "Status"
    assert body["reason"] == "Invalid"
    assert body["code"] == 422
    assert body["message"].startswith('NetworkPolicy.networking.k8s.io "deny" is invalid: ')
    assert message in body["message"]
    assert body["details"]["kind"] == "NetworkPolicy"
    assert body["details"]["group"] == "networking.k8s.io"
    assert field in [c["field"] for c in body["details"]["causes"]]
    # Nothing was stored.
    assert cluster.http("GET", f"{NP_PATH}/deny").status == 404


def test_several_causes_are_listed_in_brackets(cluster):
    cluster.namespace()
    body = cluster.create(_np(ingress=[{"ports": [{"port": 70000, "protocol": "ICMP"}]}]), expect=422).body
    assert body["message"].startswith('NetworkPolicy.networking.k8s.io "deny" is invalid: [')
    assert len(body["details"]["causes"]) == 2


def test_wrong_type_is_400_and_unknown_field_follows_field_validation(cluster):
    cluster.namespace()
    bad = _np()
    bad["spec"]["podSelector"] = "app=api"
    raw = cluster.create(bad, expect=400)
    assert raw.body["reason"] == "BadRequest"
    assert "cannot be handled as a NetworkPolicy" in raw.body["message"]
    typo = _np()
    typo["spec"]["podSelectr"] = {}
    strict = cluster.http("POST", NP_PATH + "?fieldValidation=Strict", typo)
    assert strict.status == 400
    assert strict.body["message"] == 'strict decoding error: unknown field "spec.podSelectr"'
    warned = cluster.http("POST", NP_PATH, typo)
    assert warned.status == 201
    assert "podSelectr" not in warned.body["spec"]
    assert 'unknown field \\"spec.podSelectr\\"' in warned.headers.get("Warning")


def test_pod_deployment_service_validation(cluster):
    cluster.namespace()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "Bad_Name", "namespace": NS},
        "spec": {"containers": [{"name": "c"}]},
    }
    body = cluster.create(pod, expect=422).body
    assert 'metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain' in body["message"]
    assert "spec.containers[0].image: Required value" in body["message"]
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "other"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    body = cluster.create(deploy, expect=422).body
    assert "spec.template.metadata.labels: Invalid value" in body["message"]
    assert "`selector` does not match template `labels`" in body["message"]
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {"ports": [{"port": 0}]},
    }
    body = cluster.create(svc, expect=422).body
    assert "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive" in body["message"]


def test_label_and_field_selectors(cluster):
    cluster.namespace()
    cluster.pod("a", labels={"app": "api", "tier": "web"})
    cluster.pod("b", labels={"app": "db"})
    cluster.pod("c", labels={})

    def names(selector: str = "", fields: str = "") -> list[str]:
        query = []
        if selector:
            query.append(f"labelSelector={selector}")
        if fields:
            query.append(f"fieldSelector={fields}")
        body = cluster.http("GET", f"/api/v1/namespaces/{NS}/pods?" + "&".join(query)).body
        return [p["metadata"]["name"] for p in body["items"]]

    assert names("app%3Dapi") == ["a"]
    assert names("app%3D%3Dapi") == ["a"]
    assert names("app!%3Dapi") == ["b", "c"]
    assert names("app%20in%20(api,db)") == ["a", "b"]
    assert names("app%20notin%20(api)") == ["b", "c"]
    assert names("tier") == ["a"]
    assert names("!tier") == ["b", "c"]
    assert names("app%3Dapi,tier%3Dweb") == ["a"]
    assert names(fields="metadata.name%3Db") == ["b"]
    assert names(fields="metadata.namespace%3Ddefault") == []
    cluster.ready("a")
    assert "a" in names(fields="status.phase%3DRunning")
    bad = cluster.http("GET", f"/api/v1/namespaces/{NS}/pods?fieldSelector=spec.bogus%3Dx")
    assert bad.status == 400
    assert bad.body["message"] == "field label not supported: spec.bogus"
    bad = cluster.http("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=app%20in%20()")
    assert bad.status == 400


def test_put_replace_with_stale_resource_version_is_409(cluster):
    cluster.namespace()
    first = cluster.create(_np()).body
    fresh = dict(first, spec={"podSelector": {}, "policyTypes": ["Ingress"]})
    replaced = cluster.http("PUT", f"{NP_PATH}/deny", fresh)
    assert replaced.status == 200
    assert replaced.body["metadata"]["generation"] == 2
    stale = cluster.http("PUT", f"{NP_PATH}/deny", first)
    assert stale.status == 409
    assert stale.body["reason"] == "Conflict"
    assert stale.body["message"] == (
        'Operation cannot be fulfilled on networkpolicies.networking.k8s.io "deny": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def test_generation_moves_on_spec_changes_only_and_noop_keeps_resource_version(cluster):
    cluster.namespace()
    created = cluster.create(_np()).body
    assert created["metadata"]["generation"] == 1
    labelled = cluster.http(
        "PATCH", f"{NP_PATH}/deny", {"metadata": {"labels": {"a": "b"}}}, "application/merge-patch+json"
    ).body
    assert labelled["metadata"]["generation"] == 1
    assert labelled["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    again = cluster.http(
        "PATCH", f"{NP_PATH}/deny", {"metadata": {"labels": {"a": "b"}}}, "application/merge-patch+json"
    ).body
    assert again["metadata"]["resourceVersion"] == labelled["metadata"]["resourceVersion"]
    changed = cluster.http(
        "PATCH",
        f"{NP_PATH}/deny",
        {"spec": {"podSelector": {"matchLabels": {"app": "web"}}}},
        "application/merge-patch+json",
    ).body
    assert changed["metadata"]["generation"] == 2


def test_strategic_merge_patch_uses_merge_keys(cluster):
    cluster.namespace()
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.29",
                            "ports": [{"containerPort": 80}],
                            "env": [{"name": "A", "value": "1"}],
                        },
                        {"name": "side", "image": "busybox", "command": ["sleep", "3600"]},
                    ]
                },
            },
        },
    }
    cluster.create(deploy)
    path = f"/apis/apps/v1/namespaces/{NS}/deployments/api"
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "ports": [{"containerPort": 8080}], "env": [{"name": "B", "value": "2"}]},
                        {"name": "side", "$patch": "delete"},
                    ]
                }
            }
        }
    }
    body = cluster.http("PATCH", path, patch, "application/strategic-merge-patch+json").body
    containers = body["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web"]
    assert containers[0]["image"] == "nginx:1.29"
    assert [p["containerPort"] for p in containers[0]["ports"]] == [80, 8080]
    assert [e["name"] for e in containers[0]["env"]] == ["A", "B"]
    assert containers[0]["ports"][1]["protocol"] == "TCP"  # defaulted again after the patch
    missing_key = cluster.http(
        "PATCH",
        path,
        {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
        "application/strategic-merge-patch+json",
    )
    assert missing_key.status == 400
    assert "does not contain declared merge key: name" in missing_key.body["message"]


def test_merge_patch_and_json_patch(cluster):
    cluster.namespace()
    cluster.pod("client", labels={"app": "api", "keep": "yes"})
    path = f"/api/v1/namespaces/{NS}/pods/client"
    body = cluster.http("PATCH", path, {"metadata": {"labels": {"app": None}}}, "application/merge-patch+json").body
    assert body["metadata"]["labels"] == {"keep": "yes"}
    ops = [
        {"op": "add", "path": "/metadata/labels/app", "value": "api"},
        {"op": "remove", "path": "/metadata/labels/keep"},
    ]
    body = cluster.http("PATCH", path, ops, "application/json-patch+json").body
    assert body["metadata"]["labels"] == {"app": "api"}
    failed = cluster.http(
        "PATCH", path, [{"op": "remove", "path": "/metadata/labels/nope"}], "application/json-patch+json"
    )
    assert failed.status == 422
    unsupported = cluster.http("PATCH", path, {}, "application/json")
    assert unsupported.status == 415


def test_server_side_apply(cluster):
    cluster.namespace()
    path = f"{NP_PATH}/deny"
    doc = _np(ingress=[])
    text = __import__("yaml").safe_dump(doc)
    missing = cluster.http("PATCH", path, text, "application/apply-patch+yaml")
    assert missing.status == 400
    assert missing.body["message"] == "fieldManager is required for apply requests"
    created = cluster.http("PATCH", path + "?fieldManager=alice", text, "application/apply-patch+yaml")
    assert created.status == 201
    assert created.body["spec"]["policyTypes"] == ["Ingress"]
    same = cluster.http("PATCH", path + "?fieldManager=alice", text, "application/apply-patch+yaml")
    assert same.status == 200
    assert same.body["metadata"]["resourceVersion"] == created.body["metadata"]["resourceVersion"]
    other = _np(ingress=[])
    other["spec"]["podSelector"] = {"matchLabels": {"app": "web"}}
    conflict = cluster.http(
        "PATCH", path + "?fieldManager=bob", __import__("yaml").safe_dump(other), "application/apply-patch+yaml"
    )
    assert conflict.status == 409
    assert conflict.body["message"].startswith('Apply failed with 1 conflict: conflict with "alice"')
    assert ".spec.podSelector.matchLabels.app" in conflict.body["message"]
    forced = cluster.http(
        "PATCH",
        path + "?fieldManager=bob&force=true",
        __import__("yaml").safe_dump(other),
        "application/apply-patch+yaml",
    )
    assert forced.status == 200
    assert forced.body["spec"]["podSelector"] == {"matchLabels": {"app": "web"}}
    # alice drops a label she applied: it goes away.
    labelled = _np(ingress=[])
    labelled["metadata"]["labels"] = {"owner": "alice"}
    labelled["spec"]["podSelector"] = {"matchLabels": {"app": "web"}}
    body = cluster.http(
        "PATCH", path + "?fieldManager=alice", __import__("yaml").safe_dump(labelled), "application/apply-patch+yaml"
    ).body
    assert body["metadata"]["labels"] == {"owner": "alice"}
    labelled["metadata"].pop("labels")
    body = cluster.http(
        "PATCH", path + "?fieldManager=alice", __import__("yaml").safe_dump(labelled), "application/apply-patch+yaml"
    ).body
    assert "labels" not in body["metadata"] or "owner" not in body["metadata"]["labels"]


def test_namespace_delete_removes_its_objects(cluster):
    cluster.namespace()
    cluster.api_workload()
    cluster.create(_np())
    deleted = cluster.http("DELETE", f"/api/v1/namespaces/{NS}")
    assert deleted.status == 200
    assert deleted.body["status"]["phase"] == "Terminating"
    cluster.wait(lambda: cluster.http("GET", f"/api/v1/namespaces/{NS}").status == 404, "the namespace to go")
    assert cluster.http("GET", "/api/v1/pods").body["items"] == []
    assert cluster.http("GET", "/apis/networking.k8s.io/v1/networkpolicies").body["items"] == []


def test_deployment_becomes_available_through_a_replicaset(cluster):
    cluster.namespace()
    deploy = kubernetes.client.V1Deployment(
        metadata=kubernetes.client.V1ObjectMeta(name="api", labels={"app": "api"}),
        spec=kubernetes.client.V1DeploymentSpec(
            replicas=2,
            selector=kubernetes.client.V1LabelSelector(match_labels={"app": "api"}),
            template=kubernetes.client.V1PodTemplateSpec(
                metadata=kubernetes.client.V1ObjectMeta(labels={"app": "api"}),
                spec=kubernetes.client.V1PodSpec(
                    containers=[kubernetes.client.V1Container(name="web", image="nginx:1.29")]
                ),
            ),
        ),
    )
    cluster.apps.create_namespaced_deployment(NS, deploy)

    def available():
        status = cluster.apps.read_namespaced_deployment("api", NS).status
        return status if status.available_replicas == 2 and status.observed_generation == 1 else None

    status = cluster.wait(available, "the deployment to be available")
    assert status.replicas == status.ready_replicas == status.updated_replicas == 2
    assert {c.type for c in status.conditions} == {"Available", "Progressing"}
    sets = cluster.apps.list_namespaced_replica_set(NS).items
    assert len(sets) == 1
    assert sets[0].metadata.owner_references[0].kind == "Deployment"
    pods = cluster.core.list_namespaced_pod(NS, label_selector="app=api").items
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.pod_ip.startswith("10.244.")
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
        cs = pod.status.container_statuses[0]
        assert cs.ready
        assert cs.started
        assert cs.restart_count == 0
        assert cs.image_id
        assert cs.container_id.startswith("containerd://")
        assert cs.state.running.started_at
    # Deleting the deployment takes its ReplicaSet and pods with it.
    cluster.apps.delete_namespaced_deployment("api", NS)
    assert cluster.core.list_namespaced_pod(NS).items == []


def test_service_gets_cluster_ip_and_endpoints(cluster):
    cluster.namespace()
    cluster.api_workload()
    svc = cluster.core.read_namespaced_service("api", NS)
    assert svc.spec.cluster_ip.startswith("10.0.")
    assert svc.spec.cluster_ip not in ("10.0.0.1", "10.0.0.10")
    pod = cluster.ready("api")

    def endpoints():
        ep = cluster.core.read_namespaced_endpoints("api", NS)
        return ep if ep.subsets and ep.subsets[0].addresses else None

    ep = cluster.wait(endpoints, "endpoints")
    assert ep.subsets[0].addresses[0].ip == pod["status"]["podIP"]
    assert ep.subsets[0].ports[0].port == 80
    taken = cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "dns", "namespace": NS},
            "spec": {"clusterIP": "10.0.0.10", "ports": [{"port": 53}]},
        },
        expect=422,
    )
    assert "provided IP is already allocated" in taken.body["message"]


def test_unknown_image_goes_to_image_pull_back_off(cluster):
    cluster.namespace()
    cluster.pod("broken", image="registry.example.com/nope/missing:1.0")

    def backoff():
        pod = cluster.http("GET", f"/api/v1/namespaces/{NS}/pods/broken").body
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            if cs["state"].get("waiting", {}).get("reason") == "ImagePullBackOff":
                return pod
        return None

    pod = cluster.wait(backoff, "ImagePullBackOff")
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["containerStatuses"][0]["ready"] is False
    ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert ready["Ready"] == "False"
    # The typed client still reads it (schema-complete status).
    assert cluster.core.read_namespaced_pod("broken", NS).status.container_statuses[0].ready is False


def test_pod_security_admission_restricted_rejects_with_the_real_message(cluster):
    cluster.namespace(labels={"pod-security.kubernetes.io/enforce": "restricted"})
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root", "namespace": NS},
        "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]},
    }
    raw = cluster.create(pod, expect=403)
    assert raw.body["reason"] == "Forbidden"
    assert raw.body["message"] == (
        'pods "root" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
        '(container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities '
        '(container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or '
        'container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set '
        'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
    )
    ok = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "fine", "namespace": NS},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {"name": "c", "image": "busybox", "command": ["sleep", "3600"], "securityContext": RESTRICTED_SC}
            ],
        },
    }
    cluster.create(ok)
    cluster.ready("fine")


def test_restricted_deployment_is_admitted_with_a_warning_and_its_pods_fail(cluster):
    cluster.namespace(labels={"pod-security.kubernetes.io/enforce": "restricted"})
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }
    raw = cluster.create(deploy)
    assert 'would violate PodSecurity \\"restricted:latest\\"' in raw.headers.get("Warning")

    def failure():
        status = cluster.http("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/api").body.get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == "ReplicaFailure"), None)

    cond = cluster.wait(failure, "ReplicaFailure")
    assert cond["reason"] == "FailedCreate"
    assert "violates PodSecurity" in cond["message"]
    assert cluster.http("GET", f"/api/v1/namespaces/{NS}/pods").body["items"] == []


def test_root_image_with_run_as_non_root_cannot_start(cluster):
    cluster.namespace()
    sc = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    cluster.pod("official", image="nginx:1.29", securityContext=sc)
    cluster.pod("unprivileged", image="nginxinc/nginx-unprivileged:1.29", securityContext=sc)

    def waiting_reason():
        pod = cluster.http("GET", f"/api/v1/namespaces/{NS}/pods/official").body
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return (
            statuses
            and statuses[0]["state"].get("waiting", {}).get("reason") == "CreateContainerConfigError"
            and statuses[0]
        )

    cs = cluster.wait(waiting_reason, "CreateContainerConfigError")
    assert cs["state"]["waiting"]["message"].startswith("container has runAsNonRoot and image will run as root")
    cluster.ready("unprivileged")


def test_pod_spec_is_immutable_except_images(cluster):
    cluster.namespace()
    cluster.pod("p")
    path = f"/api/v1/namespaces/{NS}/pods/p"
    raw = cluster.http("PATCH", path, {"spec": {"restartPolicy": "Never"}}, "application/merge-patch+json")
    assert raw.status == 422
    assert "pod updates may not change fields other than" in raw.body["message"]


def test_fault_injection_and_request_log(cluster, kube_double):
    kube_double.config(faults=[{"status": 500, "path": "/namespaces/netpol-demo$", "count": 1}])
    cluster.namespace()
    first = cluster.http("GET", f"/api/v1/namespaces/{NS}")
    assert first.status == 500
    assert first.body["reason"] == "InternalError"
    assert cluster.http("GET", f"/api/v1/namespaces/{NS}").status == 200
    log = kube_double.requests()
    assert [r["status"] for r in log if r["path"] == f"/api/v1/namespaces/{NS}" and r["method"] == "GET"] == [500, 200]
    kube_double.reset()
    assert kube_double.requests() == []
    assert cluster.http("GET", f"/api/v1/namespaces/{NS}").status == 404


def test_config_rejects_unknown_switches(kube_double):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as info:
        kube_double.config(enforcement="partial")
    assert info.value.code == 400
    assert kube_double.config()["enforcement"] == "full"


def test_node_ports_are_allocated_and_checked(cluster):
    cluster.namespace()
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "np", "namespace": NS},
        "spec": {"type": "NodePort", "ports": [{"port": 80}]},
    }
    port = cluster.create(svc).body["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    bad = dict(
        svc,
        metadata={"name": "np2", "namespace": NS},
        spec={"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]},
    )
    body = cluster.create(bad, expect=422).body
    assert "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range" in body["message"]
    taken = dict(
        svc,
        metadata={"name": "np3", "namespace": NS},
        spec={"type": "NodePort", "ports": [{"port": 80, "nodePort": port}]},
    )
    assert "provided port is already allocated" in cluster.create(taken, expect=422).body["message"]


def test_shell_image_without_a_long_running_command_crash_loops(cluster):
    cluster.namespace()
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sh", "namespace": NS},
            "spec": {"containers": [{"name": "c", "image": "alpine:3.22"}]},
        }
    )

    def crash_loop():
        pod = cluster.http("GET", f"/api/v1/namespaces/{NS}/pods/sh").body
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return statuses and statuses[0]["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff" and pod

    pod = cluster.wait(crash_loop, "CrashLoopBackOff")
    cs = pod["status"]["containerStatuses"][0]
    assert cs["ready"] is False
    assert cs["lastState"]["terminated"]["reason"] == "Completed"
    assert pod["status"]["phase"] == "Running"


def test_request_log_keeps_write_bodies(cluster, kube_double):
    cluster.namespace()
    logged = [r for r in kube_double.requests() if r["method"] == "POST" and r["path"] == "/api/v1/namespaces"]
    assert logged[0]["body"]["metadata"]["name"] == NS
    assert logged[0]["status"] == 201


def test_create_with_a_resource_version_is_refused_as_the_storage_refuses_it(cluster):
    cluster.namespace()
    doc = _np()
    doc["metadata"]["resourceVersion"] = "12345"
    body = cluster.create(doc, expect=500).body
    assert body["message"] == "resourceVersion should not be set on objects to be created"
    assert "reason" not in body


def test_scale_subresource(cluster):
    cluster.namespace()
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }
    cluster.create(deploy)
    path = f"/apis/apps/v1/namespaces/{NS}/deployments/api/scale"
    scale = cluster.http("GET", path).body
    assert scale["kind"] == "Scale"
    assert scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 1}
    assert scale["status"]["selector"] == "app=api"
    scaled = cluster.http("PATCH", path, {"spec": {"replicas": 3}}, "application/merge-patch+json").body
    assert scaled["spec"]["replicas"] == 3
    assert cluster.apps.read_namespaced_deployment("api", NS).spec.replicas == 3
    cluster.wait(lambda: len(cluster.core.list_namespaced_pod(NS).items) == 3, "three pods")
    bad = cluster.http("PATCH", path, {"spec": {"replicas": -1}}, "application/merge-patch+json")
    assert bad.status == 422
    assert (
        bad.body["message"]
        == 'Scale.autoscaling "api" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'
    )


def test_write_bodies_must_be_json_or_yaml(cluster):
    created = cluster.http(
        "POST",
        "/api/v1/namespaces",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: from-yaml}\n",
        "application/yaml",
    )
    assert created.status == 201
    assert created.body["metadata"]["name"] == "from-yaml"
    refused = cluster.http("POST", "/api/v1/namespaces", "name=x", "application/x-www-form-urlencoded")
    assert refused.status == 415
    assert refused.body["reason"] == "UnsupportedMediaType"
