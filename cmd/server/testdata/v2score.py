"""Scores rows of the built-in contract on a running mlservice server over
the Open Inference Protocol's gRPC service, with Debian's python3-grpcio
and stubs that python3 -m grpc_tools.protoc generated into GEN_DIR.

    v2score.py ADDRESS GEN_DIR MODEL

It prints one JSON object with what it saw; TestPythonClientServer
(python_test.go) checks it against /predict. The script asserts nothing.
"""

import json
import struct
import sys

import grpc

sys.path.insert(0, sys.argv[2])
from internal.oip.pb import metadata_pb2, request_pb2, service_pb2_grpc, status_pb2  # noqa: E402
from v2grpc import TIMEOUT, call  # noqa: E402

FEATURES = ["age", "income", "account_balance", "transactions_last_30d", "is_premium"]
ROWS = [(42, 52000, 1800.5, 12, 1), (37, 31000, -20.25, 3, 0)]


def request(model, raw, rows):
    n = len(rows)
    req = request_pb2.ModelInferRequest(model_name=model, id="py")
    for j, name in enumerate(FEATURES):
        t = request_pb2.ModelInferRequest.InferInputTensor(name=name, datatype="FP64", shape=[n])
        if not raw:
            t.contents.fp64_contents.extend(float(r[j]) for r in rows)
        req.inputs.append(t)
        if raw:
            req.raw_input_contents.append(struct.pack("<%dd" % n, *[float(r[j]) for r in rows]))
    return req


def probabilities(resp):
    for i, o in enumerate(resp.outputs):
        if o.name == "probability":
            if resp.raw_output_contents:
                raw = resp.raw_output_contents[i]
                return list(struct.unpack("<%dd" % (len(raw) // 8), raw))
            return list(o.contents.fp64_contents)
    return None


def main():
    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(sys.argv[1]))
    model = sys.argv[3]
    seen = {"ready": stub.ServerReady(status_pb2.ServerReadyRequest(), timeout=TIMEOUT).ready}
    mm = stub.ModelMetadata(metadata_pb2.ModelMetadataRequest(name=model), timeout=TIMEOUT)
    seen["inputs"] = [i.name for i in mm.inputs]
    for key, raw in (("contents", False), ("raw", True)):
        resp = stub.ModelInfer(request(model, raw, ROWS), timeout=TIMEOUT)
        seen[key] = {"model_version": resp.model_version, "probability": probabilities(resp)}
    seen["unknown_model"] = call(stub.ModelInfer, request("nope", False, ROWS))[1]
    seen["invalid"] = call(stub.ModelInfer, request(model, False, [(-1, 52000, 1800.5, 12, 1)]))[1]
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
