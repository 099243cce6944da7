"""An Open Inference Protocol v2 gRPC client written against the .proto
files alone, with Debian's python3-grpcio and stubs that
python3 -m grpc_tools.protoc generated into GEN_DIR at test time.

    v2client.py ADDRESS GEN_DIR

It calls every RPC of inference.GRPCInferenceService and grpc.health.v1's
Check on the server at ADDRESS and prints one JSON object with what it
saw; TestPythonClient (python_test.go) starts the Go server with a fake
model and checks that object. The script asserts nothing itself.
"""

import json
import struct
import sys

import grpc

sys.path.insert(0, sys.argv[2])
from internal.oip.pb import metadata_pb2, request_pb2, service_pb2_grpc, status_pb2, tensor_pb2  # noqa: E402
from v2grpc import TIMEOUT, call  # noqa: E402

ROWS = [(42.0, 52000.5, True, "pro"), (37.0, 0.1, False, "basic"), (70.0, 12.25, True, "plus")]


def tensor(name, datatype, shape, **contents):
    t = request_pb2.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=shape)
    if contents:
        t.contents.CopyFrom(tensor_pb2.InferTensorContents(**contents))
    return t


def contents_request():
    n = len(ROWS)
    req = request_pb2.ModelInferRequest(model_name="churn", id="py-1")
    req.parameters["content_type"].string_param = "pd"
    req.inputs.extend([
        tensor("age", "FP64", [n], fp64_contents=[r[0] for r in ROWS]),
        tensor("income", "FP64", [n], fp64_contents=[r[1] for r in ROWS]),
        tensor("premium", "BOOL", [n], bool_contents=[r[2] for r in ROWS]),
        tensor("plan", "BYTES", [n], bytes_contents=[r[3].encode() for r in ROWS]),
    ])
    return req


def raw_request():
    n = len(ROWS)
    req = request_pb2.ModelInferRequest(model_name="churn", model_version="v1", id="py-raw")
    req.inputs.extend([
        tensor("age", "FP64", [n]), tensor("income", "FP64", [n, 1]),
        tensor("premium", "BOOL", [n]), tensor("plan", "BYTES", [n]),
    ])
    plan = b"".join(struct.pack("<I", len(r[3].encode())) + r[3].encode() for r in ROWS)
    req.raw_input_contents.extend([
        struct.pack("<%dd" % n, *[r[0] for r in ROWS]),
        struct.pack("<%dd" % n, *[r[1] for r in ROWS]),
        struct.pack("<%d?" % n, *[r[2] for r in ROWS]),
        plan,
    ])
    return req


def outputs(resp):
    out = {"model_name": resp.model_name, "model_version": resp.model_version, "id": resp.id}
    for i, o in enumerate(resp.outputs):
        if resp.raw_output_contents:
            raw = resp.raw_output_contents[i]
            fmt = "<%dd" if o.datatype == "FP64" else "<%dq"
            values = list(struct.unpack(fmt % (len(raw) // 8), raw))
        elif o.datatype == "FP64":
            values = list(o.contents.fp64_contents)
        else:
            values = list(o.contents.int64_contents)
        out[o.name] = {"datatype": o.datatype, "shape": list(o.shape), "values": values}
    return out


def main():
    channel = grpc.insecure_channel(sys.argv[1], options=[("grpc.max_send_message_length", 64 << 20)])
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    seen = {}

    seen["live"] = stub.ServerLive(status_pb2.ServerLiveRequest(), timeout=TIMEOUT).live
    seen["ready"] = stub.ServerReady(status_pb2.ServerReadyRequest(), timeout=TIMEOUT).ready
    seen["model_ready"] = stub.ModelReady(status_pb2.ModelReadyRequest(name="churn"), timeout=TIMEOUT).ready
    seen["model_ready_unknown"] = call(stub.ModelReady, status_pb2.ModelReadyRequest(name="nope"))[1]

    sm = stub.ServerMetadata(metadata_pb2.ServerMetadataRequest(), timeout=TIMEOUT)
    seen["server_metadata"] = {"name": sm.name, "version": sm.version}
    mm = stub.ModelMetadata(metadata_pb2.ModelMetadataRequest(name="churn"), timeout=TIMEOUT)
    seen["model_metadata"] = {
        "name": mm.name, "versions": list(mm.versions),
        "inputs": [[t.name, t.datatype, list(t.shape)] for t in mm.inputs],
        "outputs": [[t.name, t.datatype, list(t.shape)] for t in mm.outputs],
    }

    seen["infer_contents"] = outputs(stub.ModelInfer(contents_request(), timeout=TIMEOUT))
    seen["infer_raw"] = outputs(stub.ModelInfer(raw_request(), timeout=TIMEOUT))

    matrix = request_pb2.ModelInferRequest(model_name="numeric")
    matrix.inputs.append(tensor("input-0", "FP64", [2, 3], fp64_contents=[1, 2, 3, 4, 5, 6]))
    matrix.outputs.add(name="probability")
    seen["infer_matrix"] = outputs(stub.ModelInfer(matrix, timeout=TIMEOUT))

    errors = {}
    bad = contents_request()
    bad.inputs[3].datatype = "FP64"
    errors["wrong_datatype"] = call(stub.ModelInfer, bad)[1]
    bad = contents_request()
    bad.model_name = "nope"
    errors["unknown_model"] = call(stub.ModelInfer, bad)[1]
    bad = contents_request()
    del bad.inputs[1]
    errors["missing_input"] = call(stub.ModelInfer, bad)[1]
    bad = contents_request()
    bad.inputs[3].contents.bytes_contents[0] = b"\xff\xfe"
    errors["not_utf8"] = call(stub.ModelInfer, bad)[1]
    bad = contents_request()
    bad.inputs[3].contents.bytes_contents[0] = b"x" * (5 << 20)
    errors["too_large"] = call(stub.ModelInfer, bad)[1]
    seen["errors"] = errors

    # grpc.health.v1 without generated stubs: an empty HealthCheckRequest
    # is zero bytes, and the response's field 1 is the status enum.
    check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                request_serializer=lambda b: b, response_deserializer=lambda b: b)
    seen["health"] = list(check(b"", timeout=TIMEOUT))

    json.dump(seen, sys.stdout)
    channel.close()


if __name__ == "__main__":
    main()
