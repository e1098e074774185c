#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""kubelet's part, for the containerd CRI test: CRI v1 RuntimeService calls over a runtime's
socket, with Debian's gRPC and protobuf for Python (python3-grpcio, python3-protobuf) and the
message classes compiled at run time by protoc from tests/tools/cri/runtime_v1.proto.

  cri_client.py --socket SOCK version | status | wait-ready [--seconds N]
  cri_client.py --socket SOCK run-pod --name N [--namespace NS] [--uid U] --log-dir D
        [--port PROTO:HOST_PORT:CONTAINER_PORT[:HOST_IP]]... [--image IMG --command ARGV_JSON]
  cri_client.py --socket SOCK pod-status|stop-pod|remove-pod POD_ID
  cri_client.py --socket SOCK list-pods

run-pod does what kubelet does to start a pod: RunPodSandbox (the pod's port mappings go to the
CNI plugins as runtimeConfig.portMappings), PodSandboxStatus, and with --image the ImageStatus,
CreateContainer and StartContainer of one container. Every command prints one JSON object.
A call the runtime refuses prints {"error": ..., "code": ..., "call": ...} and exits 2.
Runs with /usr/bin/python3 (Debian's interpreter, where python3-grpcio is installed).
"""
import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "cri", "runtime_v1.proto")


def load_messages():
    out = tempfile.mkdtemp(prefix="nftpm-cri-")
    atexit.register(shutil.rmtree, out, True)
    subprocess.run(["protoc", "-I", os.path.dirname(PROTO), "--python_out", out, PROTO], check=True)
    sys.path.insert(0, out)
    import runtime_v1_pb2  # noqa: E402  (generated just above)
    return runtime_v1_pb2


class CallFailed(Exception):
    def __init__(self, call, err):
        super().__init__(f"{call}: {err.code().name}: {err.details()}")
        self.call, self.code, self.details = call, err.code().name, err.details()


class Runtime:
    """One channel to the runtime's unix socket; each call is a unary RPC named as in the proto."""

    def __init__(self, socket, timeout):
        import grpc
        self.grpc, self.pb, self.timeout = grpc, load_messages(), timeout
        self.channel = grpc.insecure_channel("unix://" + socket)

    def call(self, service, method, request, response_type):
        rpc = self.channel.unary_unary(f"/runtime.v1.{service}/{method}",
                                       request_serializer=request.SerializeToString,
                                       response_deserializer=response_type.FromString)
        try:
            return rpc(request, timeout=self.timeout)
        except self.grpc.RpcError as err:
            raise CallFailed(method, err) from None

    def runtime(self, method, request):
        return self.call("RuntimeService", method, request, getattr(self.pb, method + "Response"))

    def image(self, method, request):
        return self.call("ImageService", method, request, getattr(self.pb, method + "Response"))


def port_mapping(pb, spec):
    parts = spec.split(":", 3)
    if len(parts) < 3:
        raise SystemExit(f"--port {spec!r}: want PROTO:HOST_PORT:CONTAINER_PORT[:HOST_IP]")
    proto = {"tcp": pb.TCP, "udp": pb.UDP, "sctp": pb.SCTP}[parts[0].lower()]
    return pb.PortMapping(protocol=proto, host_port=int(parts[1]), container_port=int(parts[2]),
                          host_ip=parts[3] if len(parts) > 3 else "")


def sandbox_config(pb, args):
    uid = args.uid or f"uid-{args.name}"
    meta = pb.PodSandboxMetadata(name=args.name, uid=uid, namespace=args.namespace, attempt=0)
    labels = {"io.kubernetes.pod.name": args.name, "io.kubernetes.pod.namespace": args.namespace,
              "io.kubernetes.pod.uid": uid}
    ns_options = pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD)
    linux = pb.LinuxPodSandboxConfig(
        security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns_options))
    log_dir = os.path.join(args.log_dir, f"{args.namespace}_{args.name}_{uid}")
    os.makedirs(log_dir, exist_ok=True)
    return pb.PodSandboxConfig(metadata=meta, hostname=args.name, log_directory=log_dir,
                               dns_config=pb.DNSConfig(), labels=labels,
                               port_mappings=[port_mapping(pb, p) for p in args.port], linux=linux)


def sandbox_state(rt, pod_id):
    status = rt.runtime("PodSandboxStatus", rt.pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id)).status
    ips = [status.network.ip] if status.network.ip else []
    ips += [extra.ip for extra in status.network.additional_ips]
    return {"id": status.id, "name": status.metadata.name,
            "state": rt.pb.PodSandboxState.Name(status.state), "ips": ips}


def run_pod(rt, args):
    pb = rt.pb
    config = sandbox_config(pb, args)
    if args.image:  # kubelet makes sure the image is there before it starts anything
        found = rt.image("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=args.image)))
        if not found.image.id:
            raise SystemExit(f"image {args.image} is not in the runtime (import it first)")
    pod_id = rt.runtime("RunPodSandbox", pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    result = {"pod": pod_id, **{k: v for k, v in sandbox_state(rt, pod_id).items() if k != "id"}}
    if args.image:
        container = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name="main", attempt=0),
            image=pb.ImageSpec(image=args.image), command=json.loads(args.command),
            log_path="main/0.log",
            labels={"io.kubernetes.container.name": "main", "io.kubernetes.pod.name": args.name})
        cid = rt.runtime("CreateContainer", pb.CreateContainerRequest(
            pod_sandbox_id=pod_id, config=container, sandbox_config=config)).container_id
        rt.runtime("StartContainer", pb.StartContainerRequest(container_id=cid))
        status = rt.runtime("ContainerStatus", pb.ContainerStatusRequest(container_id=cid)).status
        result.update(container=cid, container_state=pb.ContainerState.Name(status.state))
    return result


def runtime_status(rt):
    status = rt.runtime("Status", rt.pb.StatusRequest()).status
    return {c.type: {"status": c.status, "reason": c.reason, "message": c.message}
            for c in status.conditions}


def wait_ready(rt, seconds):
    deadline, last = time.monotonic() + seconds, {}
    while time.monotonic() < deadline:
        try:
            last = runtime_status(rt)
            if all(last.get(k, {}).get("status") for k in ("RuntimeReady", "NetworkReady")):
                return {"ready": True, "conditions": last}
        except CallFailed as err:
            last = {"error": str(err)}
        time.sleep(0.1)
    return {"ready": False, "conditions": last}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("version")
    sub.add_parser("status")
    sub.add_parser("list-pods")
    ready = sub.add_parser("wait-ready")
    ready.add_argument("--seconds", type=float, default=30)
    run = sub.add_parser("run-pod")
    run.add_argument("--name", required=True)
    run.add_argument("--namespace", default="default")
    run.add_argument("--uid", default="")
    run.add_argument("--log-dir", required=True)
    run.add_argument("--port", action="append", default=[])
    run.add_argument("--image", default="")
    run.add_argument("--command", default="[]", help="the container's argv as a JSON list")
    for name in ("pod-status", "stop-pod", "remove-pod"):
        sub.add_parser(name).add_argument("pod_id")
    args = ap.parse_args()

    rt = Runtime(args.socket, args.timeout)
    pb = rt.pb
    try:
        if args.cmd == "version":
            v = rt.runtime("Version", pb.VersionRequest(version="v1"))
            out = {"runtime_name": v.runtime_name, "runtime_version": v.runtime_version,
                   "runtime_api_version": v.runtime_api_version}
        elif args.cmd == "status":
            out = runtime_status(rt)
        elif args.cmd == "wait-ready":
            out = wait_ready(rt, args.seconds)
        elif args.cmd == "run-pod":
            out = run_pod(rt, args)
        elif args.cmd == "pod-status":
            out = sandbox_state(rt, args.pod_id)
        elif args.cmd == "stop-pod":
            rt.runtime("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=args.pod_id))
            out = {"stopped": args.pod_id}
        elif args.cmd == "remove-pod":
            rt.runtime("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=args.pod_id))
            out = {"removed": args.pod_id}
        else:  # list-pods
            items = rt.runtime("ListPodSandbox", pb.ListPodSandboxRequest()).items
            out = {"pods": [{"id": p.id, "name": p.metadata.name,
                             "state": pb.PodSandboxState.Name(p.state)} for p in items]}
    except CallFailed as err:
        print(json.dumps({"error": err.details, "code": err.code, "call": err.call}))
        return 2
    print(json.dumps(out))
    return 0 if args.cmd != "wait-ready" or out["ready"] else 1


if __name__ == "__main__":
    sys.exit(main())
